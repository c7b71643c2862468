//! An experiment over several processes — a Slurm job array — and back: the units of work
//! (see [`super::plan`]) are assigned to N shards balanced by their estimated cost; each
//! shard runs its own and writes a part file of their raw outputs; [`merge`] checks that
//! the parts are of one config and cover every unit exactly once, and gives the results an
//! unsharded run gives, number for number.
//!
//! A unit whose input is produced on another shard (fine-tuning and perturbation need their
//! budget's pre-trained weights; a wsd branch needs the stable run) gets it from the
//! checkpoint directory when one is given and holds it (`--checkpoints DIR` on a shared
//! filesystem: each shard writes the checkpoints it computes there, as safetensors), and
//! otherwise recomputes it — deterministically, so the numbers do not change, at the cost
//! of that pre-training run once more. The assignment keeps a budget's units with its
//! pre-training where the balance allows, so little is recomputed either way.

use super::config::ExperimentConfig;
use super::plan::{self, Job, Unit};
use super::results::ExperimentResults;
#[cfg(not(target_arch = "wasm32"))]
use super::scheduler::Host;
use super::scheduler::Scheduler;
use super::units::Output;
use crate::error::Error;
#[cfg(not(target_arch = "wasm32"))]
use crate::transformer::checkpoint;
#[cfg(not(target_arch = "wasm32"))]
use crate::transformer::engine::TrainState;
#[cfg(not(target_arch = "wasm32"))]
use crate::transformer::params::Layout;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Shard `k` of `n` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// "K/N" with 0 ≤ K < N.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "--shard must be K/N with 0 ≤ K < N (or slurm), got '{}'",
                crate::error::quote(s)
            )
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if n == 0 || k >= n || n > 100_000 {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// The shard of a Slurm array task: K from `SLURM_ARRAY_TASK_ID` (minus
    /// `SLURM_ARRAY_TASK_MIN`, if set), N from `SLURM_ARRAY_TASK_COUNT`.
    pub fn from_slurm(env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let var = |name: &str| -> Result<usize, String> {
            let v = env(name).ok_or_else(|| {
                format!("--shard slurm: {name} is not set (run it as a Slurm array task)")
            })?;
            v.trim().parse().map_err(|_| {
                format!(
                    "--shard slurm: {name} is '{}', not a number",
                    crate::error::quote(&v)
                )
            })
        };
        let id = var("SLURM_ARRAY_TASK_ID")?;
        let min = env("SLURM_ARRAY_TASK_MIN").map_or(Ok(0), |_| var("SLURM_ARRAY_TASK_MIN"))?;
        let n = var("SLURM_ARRAY_TASK_COUNT")?;
        format!("{}/{n}", id.saturating_sub(min)).parse()
    }
}

/// The jobs a job needs that are not its own: its chain of inputs, nearest first.
fn chain(variants: &[ExperimentConfig], job: Job) -> Vec<Job> {
    let mut out = Vec::new();
    let mut j = job;
    while let Some(need) = j.needs(variants) {
        out.push(need);
        j = need;
    }
    out
}

/// The variants of a config (one without a sweep; the config is valid).
fn variants_of(cfg: &ExperimentConfig) -> Vec<ExperimentConfig> {
    cfg.variants().unwrap_or_else(|_| vec![cfg.clone()])
}

/// Which shard runs each job: greedily, the costliest job first, each to the shard
/// where it ends earliest — counting the work of inputs that shard would have to
/// recompute — so shards balance and a budget's units stay with its pre-training.
pub fn assign(cfg: &ExperimentConfig, n: usize) -> BTreeMap<Job, usize> {
    let variants = variants_of(cfg);
    let v = &variants;
    let jobs = plan::jobs(v);
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    // A total order (ties broken by index), so an unstable sort gives the same order.
    order.sort_unstable_by(|&a, &b| jobs[b].work(v).total_cmp(&jobs[a].work(v)).then(a.cmp(&b)));
    let mut load = vec![0.0f64; n];
    // Jobs each shard runs or recomputes.
    let mut has: Vec<BTreeSet<Job>> = vec![BTreeSet::new(); n];
    let mut assigned = BTreeMap::new();
    for i in order {
        let unit = jobs[i];
        let extra = |s: usize| -> f64 {
            chain(v, unit)
                .iter()
                .filter(|u| !has[s].contains(u))
                .map(|u| u.work(v))
                .sum()
        };
        let best = (0..n)
            .min_by(|&a, &b| {
                (load[a] + extra(a))
                    .total_cmp(&(load[b] + extra(b)))
                    .then(a.cmp(&b))
            })
            .expect("n ≥ 1");
        load[best] += unit.work(v) + extra(best);
        has[best].insert(unit);
        has[best].extend(chain(v, unit));
        assigned.insert(unit, best);
    }
    assigned
}

/// One line of `--plan`: what a job is and what it costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanLine {
    pub id: String,
    pub unit: Job,
    pub budget_tokens: u64,
    pub lr: Option<f64>,
    pub l2: Option<f64>,
    pub seed: Option<usize>,
    /// Estimated floating-point operations.
    pub flops: f64,
    /// Its shard, when the plan is for N shards.
    pub shard: Option<usize>,
}

/// Every unit with its cost (and shard, for `n` shards), in plan order.
pub fn plan_lines(cfg: &ExperimentConfig, n: Option<usize>) -> Vec<PlanLine> {
    let (_, flops) = super::scheduler::cost(cfg);
    let total = plan::work_total(cfg);
    let per_work = if total > 0.0 { flops / total } else { 0.0 };
    let shards = n.map(|n| assign(cfg, n));
    let variants = variants_of(cfg);
    plan::jobs(&variants)
        .into_iter()
        .map(|job| {
            let v = &variants[job.variant];
            let f = &v.finetune;
            let (lr, l2, seed) = match job.unit {
                Unit::Finetune { l2, lr, seed, .. } => {
                    (Some(f.lrs[lr]), Some(f.l2[l2]), Some(seed))
                }
                _ => (None, None, None),
            };
            PlanLine {
                id: job.id(&variants),
                unit: job,
                budget_tokens: v.pretrain.budgets[job.budget()],
                lr,
                l2,
                seed,
                flops: job.work(&variants) * per_work,
                shard: shards.as_ref().map(|s| s[&job]),
            }
        })
        .collect()
}

/// A shard's part file: the raw outputs of its units (pre-trained weights and optimizer
/// states left out: the merge does not need them, the checkpoint directory keeps them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// "overtrain experiment part".
    pub kind: String,
    pub schema_version: u32,
    pub config: ExperimentConfig,
    pub shard: Shard,
    pub units: Vec<PartUnit>,
    pub backend: String,
    pub elapsed_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartUnit {
    pub unit: Job,
    pub output: Output,
}

pub const PART_KIND: &str = "overtrain experiment part";

/// An output without its bulk (weights, optimizer state), as a part file keeps it.
#[cfg(not(target_arch = "wasm32"))]
fn slim(output: &Output) -> Output {
    match output {
        Output::Pretrained {
            base,
            losses,
            diverged,
            ..
        } => Output::Pretrained {
            params: Vec::new(),
            base: *base,
            losses: losses.clone(),
            diverged: *diverged,
        },
        Output::Stable {
            losses, diverged, ..
        } => Output::Stable {
            state: TrainState::fresh(Vec::new()),
            losses: losses.clone(),
            diverged: *diverged,
        },
        other => other.clone(),
    }
}

/// A short, stable name for a config (FNV-1a of its JSON), so that one checkpoint
/// directory can serve several experiments without mixing them.
pub fn config_key(cfg: &ExperimentConfig) -> String {
    let text = serde_json::to_string(cfg).expect("plain data");
    let hash = text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("{hash:016x}")
}

/// Where a shard keeps and finds checkpoints (pre-trained weights as safetensors with
/// their measurements beside them as JSON; wsd's stable states as JSON).
#[cfg(not(target_arch = "wasm32"))]
pub struct Checkpoints {
    dir: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl Checkpoints {
    pub fn new(root: &std::path::Path, cfg: &ExperimentConfig) -> Result<Checkpoints, Error> {
        let dir = root.join(config_key(cfg));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Io(format!("cannot create '{}': {e}", dir.display())))?;
        Ok(Checkpoints { dir })
    }

    fn path(&self, job: &Job, ext: &str) -> std::path::PathBuf {
        let name = format!("v{}-{}", job.variant, job.unit.id().replace('/', "-"));
        self.dir.join(format!("{name}.{ext}"))
    }

    /// Writes through a temporary file and a rename, so a reader never sees half a file.
    fn write(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Error::Io(format!("cannot write '{}': {e}", path.display())))
    }

    /// Keeps a pre-trained or stable output of `variant`'s job for other shards (once).
    pub fn save(
        &self,
        variant: &ExperimentConfig,
        unit: &Job,
        output: &Output,
    ) -> Result<(), Error> {
        let cfg = variant;
        match output {
            Output::Pretrained { params, .. } => {
                let meta = self.path(unit, "json");
                if meta.exists() {
                    return Ok(());
                }
                let layout = Layout::new(&cfg.model);
                Checkpoints::write(
                    &self.path(unit, "safetensors"),
                    &checkpoint::to_safetensors(&cfg.model, &layout, params),
                )?;
                // The measurements last: their file marks the checkpoint complete.
                let slim = serde_json::to_vec(&slim(output)).expect("plain data");
                Checkpoints::write(&meta, &slim)
            }
            Output::Stable { .. } => {
                let path = self.path(unit, "json");
                if path.exists() {
                    return Ok(());
                }
                Checkpoints::write(&path, &serde_json::to_vec(output).expect("plain data"))
            }
            _ => Ok(()),
        }
    }

    /// A checkpoint of `variant`'s job another shard wrote, if it is there (and whole).
    pub fn load(&self, variant: &ExperimentConfig, unit: &Job) -> Result<Option<Output>, Error> {
        let cfg = variant;
        let meta = self.path(unit, "json");
        let text = match std::fs::read(&meta) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io(format!("cannot read '{}': {e}", meta.display()))),
        };
        let bad = |m: String| Error::data(format!("checkpoint {}", meta.display()), m);
        let text = String::from_utf8(text).map_err(|e| bad(e.to_string()))?;
        let output: Output = crate::json::read_json(&text).map_err(|e| bad(e.inner.to_string()))?;
        match output {
            Output::Pretrained {
                base,
                losses,
                diverged,
                ..
            } => {
                let path = self.path(unit, "safetensors");
                let bytes = std::fs::read(&path)
                    .map_err(|e| Error::Io(format!("cannot read '{}': {e}", path.display())))?;
                let (model, params) = checkpoint::from_safetensors(&bytes).map_err(bad)?;
                if model != cfg.model {
                    return Err(bad("a checkpoint of another model".into()));
                }
                Ok(Some(Output::Pretrained {
                    params,
                    base,
                    losses,
                    diverged,
                }))
            }
            stable @ Output::Stable { .. } => Ok(Some(stable)),
            _ => Err(bad("not a checkpoint".into())),
        }
    }
}

impl Part {
    /// An empty part of shard `shard` of `cfg`: a run that starts afresh.
    pub fn empty(cfg: &ExperimentConfig, shard: Shard) -> Part {
        Part {
            kind: PART_KIND.into(),
            schema_version: super::config::SCHEMA_VERSION,
            config: cfg.clone(),
            shard,
            units: Vec::new(),
            backend: "CPU".into(),
            elapsed_s: 0.0,
        }
    }

    /// This part as the start of a resumed run of shard `shard` of `cfg` (`--resume`); a
    /// data error on `resume` names what does not fit: another config, another shard, a
    /// unit that is not this shard's or is there twice.
    pub fn resume_for(self, cfg: &ExperimentConfig, shard: Shard) -> Result<Part, Error> {
        let bad = |message: String| Err(Error::data("resume", message));
        if self.kind != PART_KIND {
            return bad("not an overtrain experiment part".into());
        }
        if &self.config != cfg {
            return bad("the part belongs to another config than this run's".into());
        }
        if self.shard != shard {
            return bad(format!(
                "the part is shard {}/{}'s, not {}/{}'s",
                self.shard.k, self.shard.n, shard.k, shard.n
            ));
        }
        let assigned = assign(cfg, shard.n);
        let mut seen = BTreeSet::new();
        for u in &self.units {
            if assigned.get(&u.unit) != Some(&shard.k) {
                return bad(format!(
                    "a unit of the part is not shard {}/{}'s",
                    shard.k, shard.n
                ));
            }
            if !seen.insert(u.unit) {
                return bad("a unit is in the part twice".into());
            }
        }
        Ok(self)
    }
}

/// A shard's host as its schedule sees it: each of the shard's own units, as it finishes,
/// goes into the part, which `save` then writes (the CLI: atomically, to the part file), so
/// that a stopped shard keeps every unit it finished; a save that fails stops the run at its
/// next report.
#[cfg(not(target_arch = "wasm32"))]
struct Saving<'a, H: Host> {
    host: &'a mut H,
    save: &'a mut dyn FnMut(&Part) -> Result<(), Error>,
    /// Where every unit's output also goes (pre-trained weights for other shards).
    checkpoints: Option<&'a Checkpoints>,
    variants: &'a [ExperimentConfig],
    /// The shard's own units that this run computes (not those it only recomputes).
    todo: &'a [Job],
    part: Part,
    /// Seconds of the earlier runs that the part resumes, and when this one started.
    earlier_s: f64,
    start_ms: f64,
    failed: Option<Error>,
}

#[cfg(not(target_arch = "wasm32"))]
impl<H: Host> Host for Saving<'_, H> {
    async fn progress(&mut self, p: &super::Progress) -> Result<(), Error> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.host.progress(p).await
    }

    fn unit_done(&mut self, job: Job, output: &Output) {
        if let Some(c) = self.checkpoints {
            if let Err(e) = c.save(&self.variants[job.variant], &job, output) {
                self.failed.get_or_insert(e);
            }
        }
        if !self.todo.contains(&job) {
            return;
        }
        self.part.units.push(PartUnit {
            unit: job,
            output: slim(output),
        });
        self.part.units.sort_by_key(|u| u.unit);
        self.part.elapsed_s = self.earlier_s + (self.host.now_ms() - self.start_ms) / 1e3;
        if let Err(e) = (self.save)(&self.part) {
            self.failed.get_or_insert(e);
        }
    }

    fn now_ms(&self) -> f64 {
        self.host.now_ms()
    }
}

/// Runs shard `shard` of the experiment on the CPU (`threads` threads): its units, after
/// getting the inputs they need from other shards' units from `checkpoints` or by running
/// those units here. `resume`: the part of an earlier, stopped run of this shard (checked
/// by [`Part::resume_for`]), whose units are kept and not run again (the inputs that the
/// rest need from them come from `checkpoints` or are recomputed: a part keeps no weights).
/// `save` hears the part after each of its units. Returns the part.
#[cfg(not(target_arch = "wasm32"))]
pub async fn run_shard<H: Host>(
    cfg: &ExperimentConfig,
    shard: Shard,
    threads: usize,
    checkpoints: Option<&Checkpoints>,
    resume: Option<Part>,
    save: &mut dyn FnMut(&Part) -> Result<(), Error>,
    host: &mut H,
) -> Result<Part, Error> {
    let start_ms = host.now_ms();
    let part = match resume {
        Some(part) => part.resume_for(cfg, shard)?,
        None => Part::empty(cfg, shard),
    };
    let assigned = assign(cfg, shard.n);
    let variants = variants_of(cfg);
    let finished: BTreeSet<Job> = part.units.iter().map(|u| u.unit).collect();
    let todo: Vec<Job> = plan::jobs(&variants)
        .into_iter()
        .filter(|u| assigned[u] == shard.k && !finished.contains(u))
        .collect();
    // The inputs from elsewhere (another shard's units, or this shard's finished ones,
    // whose weights a part does not keep): from a checkpoint when one holds it, else
    // recomputed here (with whatever it needs in turn).
    let mut given: Vec<(Job, Output)> = Vec::new();
    let mut recompute: Vec<Job> = Vec::new();
    for u in &todo {
        for need in chain(&variants, *u) {
            if todo.contains(&need) || given.iter().any(|(g, _)| *g == need) {
                break;
            }
            if recompute.contains(&need) {
                continue;
            }
            match checkpoints
                .map(|c| c.load(&variants[need.variant], &need))
                .transpose()?
                .flatten()
            {
                Some(output) => {
                    given.push((need, output));
                    break;
                }
                None => recompute.push(need),
            }
        }
    }
    let units: Vec<Job> = todo.iter().chain(&recompute).copied().collect();
    let mut schedule = Scheduler::for_jobs(cfg, &units, given, "CPU", host.now_ms())?;
    schedule.workers = threads;
    let mut saving = Saving {
        host,
        save,
        checkpoints,
        variants: &variants,
        todo: &todo,
        earlier_s: part.elapsed_s,
        part,
        start_ms,
        failed: None,
    };
    super::executors::drive_threads(&mut schedule, threads, &mut saving).await?;
    if let Some(e) = saving.failed.take() {
        return Err(e);
    }
    let mut part = saving.part;
    part.elapsed_s = saving.earlier_s + (saving.host.now_ms() - start_ms) / 1e3;
    Ok(part)
}

/// The results of an experiment from its shards' parts: they must be of one config and
/// cover every unit exactly once (the error names what is missing or repeated, and where).
/// The numbers are those of an unsharded run; `elapsed_s` is the parts' total.
pub fn merge(parts: &[(String, Part)]) -> Result<ExperimentResults, Error> {
    let Some((first_name, first)) = parts.first() else {
        return Err(Error::data("parts", "no part files given"));
    };
    let cfg = &first.config;
    let variants = variants_of(cfg);
    let mut seen: BTreeMap<Job, (&str, &Output)> = BTreeMap::new();
    for (name, part) in parts {
        if part.kind != PART_KIND {
            return Err(Error::data(
                name.clone(),
                "not an overtrain experiment part",
            ));
        }
        if part.config != *cfg {
            return Err(Error::data(
                name.clone(),
                format!("belongs to another config than {first_name}"),
            ));
        }
        for u in &part.units {
            if let Some((other, _)) = seen.insert(u.unit, (name, &u.output)) {
                return Err(Error::data(
                    name.clone(),
                    format!("unit {} is also in {other}", u.unit.id(&variants)),
                ));
            }
        }
    }
    let all = plan::jobs(&variants);
    let missing: Vec<String> = all
        .iter()
        .filter(|u| !seen.contains_key(u))
        .map(|j| j.id(&variants))
        .collect();
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if missing.len() > 8 {
            format!(" and {} more", missing.len() - 8)
        } else {
            String::new()
        };
        return Err(Error::data(
            "parts",
            format!("{} units are in no part: {shown}{more}", missing.len()),
        ));
    }
    if let Some(extra) = seen.keys().find(|u| !all.contains(u)) {
        return Err(Error::data(
            seen[extra].0.to_string(),
            format!("unit {} is not of this config", extra.id(&variants)),
        ));
    }
    let backends: BTreeSet<&str> = parts.iter().map(|(_, p)| p.backend.as_str()).collect();
    let backend = backends.into_iter().collect::<Vec<_>>().join(" + ");
    let mut schedule = Scheduler::new(cfg, None, &backend, 0.0)?;
    for unit in all {
        schedule.done(unit, seen[&unit].1.clone(), 0.0);
    }
    let mut results = schedule.results(0.0);
    results.elapsed_s = parts.iter().map(|(_, p)| p.elapsed_s).sum();
    Ok(results)
}
