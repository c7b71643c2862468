//! An experiment as units of work: each unit is a pure function of the config and of the
//! output of the one unit it needs, so units run in any order that respects those needs —
//! one after another (the GPU, the page's worker), on several threads, or split over the
//! shards of a cluster job — and give the same numbers bit for bit.
//!
//! - `stable b` (wsd and constant): the warmup–stable run from the previous budget's branch
//!   point to budget b's (constant: from the previous budget to budget b); needs `stable b−1`.
//! - `pretrain b`: the pre-trained model of budget b and its held-out perplexity: the whole
//!   cosine run (independent), the decay branch from `stable b` (wsd), or `stable b`'s state
//!   itself (constant).
//! - `perturb b`: every γ × draw of the perturbed model's perplexity; needs `pretrain b`.
//! - `finetune b λ lr seed`: one fine-tuning run and its two perplexities; needs `pretrain b`.
//!
//! A sweep of one lever runs every value's units in the one plan: each unit is a [`Job`] of
//! one variant (the config with the lever at that value; variant 0 without a sweep), so
//! threads, the page's workers and shards spread the values' units over their workers too.

use super::config::{ExperimentConfig, Protocol};
use crate::transformer::params::Layout;
use crate::transformer::schedule::decay_steps;
use serde::{Deserialize, Serialize};

/// Evaluation costs about a third of a training step per batch (forward only).
pub const EVAL_COST: f64 = 1.0 / 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Unit {
    Stable {
        budget: usize,
    },
    Pretrain {
        budget: usize,
    },
    Perturb {
        budget: usize,
    },
    /// Indices into `finetune.l2`, `finetune.lrs` and the seeds.
    Finetune {
        budget: usize,
        l2: usize,
        lr: usize,
        seed: usize,
    },
}

/// The work of one training step in training-step equivalents: a SAM step (ρ > 0) runs the
/// forward and backward passes twice.
pub fn step_work(sam_rho: f64) -> f64 {
    if sam_rho > 0.0 {
        2.0
    } else {
        1.0
    }
}

/// The floating-point operations of one training step of `cfg`'s model: 6 per parameter
/// per token (forward and backward) plus attention's 12·n_layer·ctx·d_model per token.
pub fn step_flops(cfg: &ExperimentConfig) -> f64 {
    let m = &cfg.model;
    let per_token =
        6.0 * Layout::new(m).total as f64 + 12.0 * (m.n_layer * m.ctx * m.d_model) as f64;
    per_token * cfg.tokens_per_step() as f64
}

/// A unit of one variant of the config (one value of a sweep; 0 without one). It crosses
/// to the page's workers and into shard files as `{"variant": 0, "kind": "pretrain",
/// "budget": 1}` (variant 0 may be omitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "JobFields")]
pub struct Job {
    pub variant: usize,
    #[serde(flatten)]
    pub unit: Unit,
}

/// A [`Job`] as it is read: its variant and every kind's fields (see
/// [`crate::json::required`]); fields of another kind are ignored, as before.
#[derive(Deserialize)]
struct JobFields {
    #[serde(default)]
    variant: usize,
    kind: UnitKind,
    budget: usize,
    l2: Option<usize>,
    lr: Option<usize>,
    seed: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum UnitKind {
    Stable,
    Pretrain,
    Perturb,
    Finetune,
}

impl TryFrom<JobFields> for Job {
    type Error = String;
    fn try_from(f: JobFields) -> Result<Job, String> {
        use crate::json::required;
        let budget = f.budget;
        let unit = match f.kind {
            UnitKind::Stable => Unit::Stable { budget },
            UnitKind::Pretrain => Unit::Pretrain { budget },
            UnitKind::Perturb => Unit::Perturb { budget },
            UnitKind::Finetune => Unit::Finetune {
                budget,
                l2: required("finetune", "l2", f.l2)?,
                lr: required("finetune", "lr", f.lr)?,
                seed: required("finetune", "seed", f.seed)?,
            },
        };
        Ok(Job {
            variant: f.variant,
            unit,
        })
    }
}

impl Job {
    /// The job this one starts from, if any (in the same variant).
    pub fn needs(&self, variants: &[ExperimentConfig]) -> Option<Job> {
        self.unit.needs(&variants[self.variant]).map(|unit| Job {
            variant: self.variant,
            unit,
        })
    }

    /// Its work in training-step equivalents of the first variant: a step of a larger
    /// model (a sweep of `model.d_model`) or batch counts for more, so that the estimate,
    /// the ETA and the shards' balance follow the time it takes.
    pub fn work(&self, variants: &[ExperimentConfig]) -> f64 {
        self.unit.work(&variants[self.variant]) * self.weight(variants)
    }

    pub fn level(&self, variants: &[ExperimentConfig]) -> f64 {
        self.unit.level(&variants[self.variant]) * self.weight(variants)
    }

    /// What one of its variant's steps costs, in steps of the first variant's.
    pub fn weight(&self, variants: &[ExperimentConfig]) -> f64 {
        if self.variant == 0 {
            return 1.0;
        }
        step_flops(&variants[self.variant]) / step_flops(&variants[0])
    }

    pub fn budget(&self) -> usize {
        self.unit.budget()
    }

    /// `pretrain/2`, or with a sweep `v1/pretrain/2` (value 1's).
    pub fn id(&self, variants: &[ExperimentConfig]) -> String {
        if variants.len() > 1 {
            format!("v{}/{}", self.variant, self.unit.id())
        } else {
            self.unit.id()
        }
    }
}

/// The jobs of every variant, variant after variant, each in the order of [`plan`].
pub fn jobs(variants: &[ExperimentConfig]) -> Vec<Job> {
    variants
        .iter()
        .enumerate()
        .flat_map(|(variant, cfg)| plan(cfg).into_iter().map(move |unit| Job { variant, unit }))
        .collect()
}

/// wsd: budget b's branch point, the step where its decay starts; constant: budget b's
/// steps (no decay, the checkpoint is the run's state there).
pub fn branch_at(cfg: &ExperimentConfig, b: usize) -> usize {
    let s = cfg.budget_steps()[b];
    match cfg.pretrain.protocol {
        Protocol::Constant => s,
        _ => s - decay_steps(s, cfg.pretrain.decay_fraction),
    }
}

impl Unit {
    pub fn budget(&self) -> usize {
        match *self {
            Unit::Stable { budget }
            | Unit::Pretrain { budget }
            | Unit::Perturb { budget }
            | Unit::Finetune { budget, .. } => budget,
        }
    }

    /// The unit whose output this one starts from, if any.
    pub fn needs(&self, cfg: &ExperimentConfig) -> Option<Unit> {
        match *self {
            Unit::Stable { budget: 0 } => None,
            Unit::Stable { budget } => Some(Unit::Stable { budget: budget - 1 }),
            Unit::Pretrain { budget } => match cfg.pretrain.protocol {
                Protocol::Independent => None,
                Protocol::Wsd | Protocol::Constant => Some(Unit::Stable { budget }),
            },
            Unit::Perturb { budget } | Unit::Finetune { budget, .. } => {
                Some(Unit::Pretrain { budget })
            }
        }
    }

    /// Its work in training-step equivalents (for the ETA and to balance shards).
    pub fn work(&self, cfg: &ExperimentConfig) -> f64 {
        let evals = cfg.eval_batches as f64 * EVAL_COST;
        match *self {
            Unit::Stable { budget } => {
                let from = if budget == 0 {
                    0
                } else {
                    branch_at(cfg, budget - 1)
                };
                branch_at(cfg, budget).saturating_sub(from) as f64 * step_work(cfg.pretrain.sam_rho)
            }
            Unit::Pretrain { budget } => {
                let s = cfg.budget_steps()[budget];
                let steps = match cfg.pretrain.protocol {
                    Protocol::Independent => s,
                    Protocol::Wsd => decay_steps(s, cfg.pretrain.decay_fraction),
                    Protocol::Constant => 0,
                };
                steps as f64 * step_work(cfg.pretrain.sam_rho) + evals
            }
            Unit::Perturb { .. } => {
                // Each draw an evaluation; each sharpness iteration two gradients.
                let sharpness =
                    2.0 * cfg.perturb.sharpness_iterations as f64 * cfg.eval_batches as f64;
                cfg.perturb.gammas.len() as f64 * cfg.perturb.draws as f64 * evals + sharpness
            }
            Unit::Finetune { .. } => cfg.finetune.steps as f64 + 2.0 * evals,
        }
    }

    /// The work from this unit's start to the end of the longest chain of units that need
    /// it, in training-step equivalents (its "bottom level"): wsd's stable phase b leads to
    /// the next stable phase and to budget b's decay, a pre-trained model to its
    /// perturbation and fine-tuning runs.
    pub fn level(&self, cfg: &ExperimentConfig) -> f64 {
        let work = self.work(cfg);
        match *self {
            Unit::Stable { budget } => {
                let decay = Unit::Pretrain { budget }.level(cfg);
                // The stable phases after this one, each with its own decay after it.
                let (mut chain, mut before) = (0.0f64, 0.0);
                for next in budget + 1..cfg.pretrain.budgets.len() {
                    before += Unit::Stable { budget: next }.work(cfg);
                    let decay = Unit::Pretrain { budget: next }.work(cfg) + after_pretrain(cfg);
                    chain = chain.max(before + decay);
                }
                work + decay.max(chain)
            }
            Unit::Pretrain { .. } => work + after_pretrain(cfg),
            Unit::Perturb { .. } | Unit::Finetune { .. } => work,
        }
    }

    /// A short name: `pretrain/2`, `finetune/2/l2-0/lr-1/seed-2`.
    pub fn id(&self) -> String {
        match *self {
            Unit::Stable { budget } => format!("stable/{budget}"),
            Unit::Pretrain { budget } => format!("pretrain/{budget}"),
            Unit::Perturb { budget } => format!("perturb/{budget}"),
            Unit::Finetune {
                budget,
                l2,
                lr,
                seed,
            } => format!("finetune/{budget}/l2-{l2}/lr-{lr}/seed-{seed}"),
        }
    }

    /// The progress phase it belongs to.
    pub fn phase(&self) -> &'static str {
        match self {
            Unit::Stable { .. } | Unit::Pretrain { .. } => "pretrain",
            Unit::Perturb { .. } => "perturb",
            Unit::Finetune { .. } => "finetune",
        }
    }
}

/// Every unit of an experiment in the order one worker runs them: budget by budget (its
/// stable phase, pre-training, perturbation, then fine-tuning by λ, learning rate, seed).
pub fn plan(cfg: &ExperimentConfig) -> Vec<Unit> {
    let f = &cfg.finetune;
    let mut units = Vec::new();
    for budget in 0..cfg.pretrain.budgets.len() {
        if cfg.pretrain.protocol.one_run() {
            units.push(Unit::Stable { budget });
        }
        units.push(Unit::Pretrain { budget });
        units.push(Unit::Perturb { budget });
        for l2 in 0..f.l2.len() {
            for lr in 0..f.lrs.len() {
                for seed in 0..f.seeds {
                    units.push(Unit::Finetune {
                        budget,
                        l2,
                        lr,
                        seed,
                    });
                }
            }
        }
    }
    units
}

/// Total work of an experiment, in training-step equivalents.
pub fn work_total(cfg: &ExperimentConfig) -> f64 {
    let variants = cfg.variants().unwrap_or_else(|_| vec![cfg.clone()]);
    jobs(&variants).iter().map(|j| j.work(&variants)).sum()
}

/// The longest unit that starts from a pre-trained model.
fn after_pretrain(cfg: &ExperimentConfig) -> f64 {
    let f = &cfg.finetune;
    let perturb = Unit::Perturb { budget: 0 }.work(cfg);
    let finetunes = f.l2.len() * f.lrs.len() * f.seeds;
    let finetune = if finetunes > 0 {
        Unit::Finetune {
            budget: 0,
            l2: 0,
            lr: 0,
            seed: 0,
        }
        .work(cfg)
    } else {
        0.0
    };
    perturb.max(finetune)
}

/// Which of the `ready` jobs (in plan order) an idle worker of `workers` takes: the one
/// with the longest chain of work ahead ([`Unit::level`]) when that chain is long enough to
/// end the run last (its level × `workers` ≥ 0.9 × `remaining`, the work of every job not
/// handed out yet) — so the largest pre-training runs and wsd's chain of stable phases start
/// early and the workers finish together — else the first in plan order, so budgets finish,
/// and partial results come, in order and early. One worker takes them in plan order.
pub fn choose(
    variants: &[ExperimentConfig],
    ready: &[Job],
    remaining: f64,
    workers: usize,
) -> usize {
    if workers <= 1 {
        return 0;
    }
    let (mut best, mut level) = (0, f64::NEG_INFINITY);
    for (i, j) in ready.iter().enumerate() {
        let l = j.level(variants);
        if l > level {
            (best, level) = (i, l);
        }
    }
    if level * workers as f64 >= 0.9 * remaining {
        best
    } else {
        0
    }
}

/// The jobs a run still has to do when the first `skip[v]` budgets of each variant v are
/// finished (a resumed run): not those budgets' units, except wsd's stable phases (the
/// chain goes through them).
pub fn jobs_after(variants: &[ExperimentConfig], skip: &[usize]) -> Vec<Job> {
    jobs(variants)
        .into_iter()
        .filter(|j| {
            j.budget() >= skip.get(j.variant).copied().unwrap_or(0)
                || matches!(j.unit, Unit::Stable { .. })
        })
        .collect()
}

/// The cores each running unit's steps get beside its own when `running` units share
/// `cores`: the idle ones, evenly (natively: every unit's helper threads,
/// [`crate::cpu::par::Helpers`]).
pub fn idle_share(cores: usize, running: usize) -> usize {
    let running = running.max(1);
    (cores - running.min(cores)) / running
}

/// Which running unit the page's next idle worker helps with its micro-batches
/// (www/experiment-run.js), given each running unit's helpers now: the one with the fewest,
/// the first of them on a tie — so the idle workers are shared evenly, as [`idle_share`]
/// shares idle threads — while it has fewer than one per micro-batch beyond its own; `None`
/// when every unit has all the helpers it can use.
pub fn lend_to(helpers: &[usize], micro_batches: usize) -> Option<usize> {
    let most = micro_batches.saturating_sub(1);
    (0..helpers.len())
        .filter(|&i| helpers[i] < most)
        .min_by_key(|&i| (helpers[i], i))
}

/// Above this many jobs, [`makespan`] bounds the time instead of simulating it.
const SIMULATED_UNITS: usize = 5000;

/// How much faster one unit's steps run on `cores` cores than on one, its batch in
/// `micro_batches` parts (natively, where idle threads join the running units' steps:
/// crate::cpu::par, crate::transformer::micro). Amdahl's law with the parallel share of a
/// step measured on the default `train` model on 2 cores (README): split layer by layer
/// (one micro-batch) 1.57×, a share of 0.73 (the rest: normalisation sums, the optimizer,
/// data, evaluation bookkeeping); in micro-batches, one per core, 1.85×, a share of 0.92.
/// Cores beyond the micro-batches split each one's layers.
pub fn helped_speedup(cores: usize, micro_batches: usize) -> f64 {
    const LAYERS: f64 = 0.73;
    const MICRO: f64 = 0.92;
    let amdahl = |share: f64, n: usize| 1.0 / ((1.0 - share) + share / n.max(1) as f64);
    let tasks = cores.min(micro_batches).max(1);
    if tasks == 1 {
        return amdahl(LAYERS, cores);
    }
    amdahl(MICRO, tasks) * amdahl(LAYERS, cores / tasks)
}

/// The time of a run of `cfg` (every variant of a sweep) on `workers` workers, in
/// training-step equivalents of one worker: the jobs handed out by [`choose`] as they become
/// ready, each taking its work (a list-scheduling simulation, overheads not counted); the
/// page's estimate for its worker pool. `skip`: finished budgets of every variant.
pub fn makespan(cfg: &ExperimentConfig, workers: usize, skip: usize) -> f64 {
    simulate(cfg, workers, skip, |_| 1.0)
}

/// [`makespan`] where the workers without a unit join the running units' steps, shared
/// among them as the native executor shares them, each unit then running
/// [`helped_speedup`] times faster: the command line's estimate on `--threads`.
pub fn makespan_helped(cfg: &ExperimentConfig, workers: usize, skip: usize) -> f64 {
    simulate(cfg, workers, skip, |cores| {
        helped_speedup(cores, cfg.micro_batches)
    })
}

fn simulate(
    cfg: &ExperimentConfig,
    workers: usize,
    skip: usize,
    speedup: impl Fn(usize) -> f64,
) -> f64 {
    let variants = cfg.variants().unwrap_or_else(|_| vec![cfg.clone()]);
    let mut waiting = jobs_after(&variants, &vec![skip; variants.len()]);
    let mut remaining: f64 = waiting.iter().map(|j| j.work(&variants)).sum();
    if workers <= 1 {
        return remaining;
    }
    if waiting.len() > SIMULATED_UNITS {
        // The longest chain, or an even split of the work.
        let chain = waiting
            .iter()
            .filter(|j| j.needs(&variants).is_none())
            .map(|j| j.level(&variants))
            .fold(0.0, f64::max);
        return chain.max(remaining / workers as f64);
    }
    let mut done = std::collections::HashSet::new();
    // Each running job with the work it has left.
    let mut running: Vec<(f64, Job)> = Vec::new();
    let mut t = 0.0;
    loop {
        while running.len() < workers {
            let ready: Vec<usize> = (0..waiting.len())
                .filter(|&i| {
                    waiting[i]
                        .needs(&variants)
                        .is_none_or(|n| done.contains(&n))
                })
                .collect();
            if ready.is_empty() {
                break;
            }
            let jobs: Vec<Job> = ready.iter().map(|&i| waiting[i]).collect();
            let j = waiting.remove(ready[choose(&variants, &jobs, remaining, workers)]);
            remaining -= j.work(&variants);
            running.push((j.work(&variants), j));
        }
        // Every running job at the rate of its cores: its own and its share of the idle.
        let Some(n) = std::num::NonZeroUsize::new(running.len()) else {
            break;
        };
        let rate = speedup(1 + idle_share(workers, n.get()));
        // The job that ends first (the first handed out among equals).
        let next = (0..running.len())
            .min_by(|&a, &b| running[a].0.total_cmp(&running[b].0))
            .expect("one running");
        let (left, j) = running.remove(next);
        t += left / rate;
        for r in &mut running {
            r.0 -= left;
        }
        done.insert(j);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_workers_are_shared_evenly_up_to_one_per_micro_batch() {
        assert_eq!(lend_to(&[], 4), None, "no unit runs");
        assert_eq!(lend_to(&[0], 1), None, "one micro-batch: nothing to share");
        assert_eq!(lend_to(&[0, 0], 4), Some(0), "the first on a tie");
        assert_eq!(lend_to(&[1, 0, 1], 4), Some(1), "the fewest helpers");
        assert_eq!(lend_to(&[3, 2], 4), Some(1));
        assert_eq!(
            lend_to(&[3, 3], 4),
            None,
            "one per micro-batch beyond its own"
        );
        // Lending one idle worker at a time shares them as the native threads are shared.
        for (cores, running) in [(4, 1), (8, 3), (8, 2), (3, 3), (16, 5)] {
            let mut helpers = vec![0; running];
            for _ in running..cores {
                let i = lend_to(&helpers, 64).unwrap();
                helpers[i] += 1;
            }
            let share = idle_share(cores, running);
            assert!(
                helpers.iter().all(|&h| h == share || h == share + 1),
                "{cores} cores, {running} units: {helpers:?} against {share} each"
            );
        }
        assert_eq!(idle_share(2, 0), 1);
        assert_eq!(idle_share(2, 5), 0);
    }

    fn with(mut c: ExperimentConfig, protocol: Protocol) -> ExperimentConfig {
        c.pretrain.protocol = protocol;
        c
    }

    fn wsd(c: ExperimentConfig) -> ExperimentConfig {
        with(c, Protocol::Wsd)
    }

    #[test]
    fn makespan_lies_between_an_even_split_and_one_worker() {
        for name in crate::experiment::config::PRESETS {
            let c = ExperimentConfig::preset(name).unwrap();
            for c in [c.clone(), wsd(c.clone()), with(c, Protocol::Constant)] {
                let work = work_total(&c);
                assert_eq!(makespan(&c, 1, 0), work);
                for n in 2..=4 {
                    let t = makespan(&c, n, 0);
                    assert!(
                        t >= work / n as f64 - 1e-6 && t <= work,
                        "{name} on {n}: {t} of {work}"
                    );
                }
                // A resumed run has less left to do (on 2 workers the longest chain may
                // still set the time).
                assert!(makespan(&c, 1, 1) < makespan(&c, 1, 0));
                assert!(makespan(&c, 2, 1) <= makespan(&c, 2, 0) * (1.0 + 1e-12));
                // Idle workers joining the running units: never slower, and no faster than
                // every worker on the work at once.
                for n in [2, 4, 8] {
                    let helped = makespan_helped(&c, n, 0);
                    assert!(
                        helped <= makespan(&c, n, 0) * (1.0 + 1e-12),
                        "{name} on {n}"
                    );
                    assert!(helped >= work / n as f64 - 1e-6, "{name} on {n}: {helped}");
                }
            }
        }
        // Quick on 2 workers: the largest pre-training run starts early enough to end with
        // the rest.
        let q = ExperimentConfig::preset("quick").unwrap();
        let ratio = makespan(&q, 2, 0) / work_total(&q);
        assert!(ratio < 0.52, "quick on 2 workers: {ratio}");
        // On 8 workers its largest pre-training run bounds the page's pool; natively the
        // idle threads shorten it.
        let (page, native) = (makespan(&q, 8, 0), makespan_helped(&q, 8, 0));
        assert!(
            native < 0.6 * page,
            "quick on 8: {native} helped, {page} not"
        );
        // In micro-batches the helpers do more, up to one core per micro-batch.
        let q4 = ExperimentConfig {
            micro_batches: 4,
            ..q.clone()
        };
        assert!(makespan_helped(&q4, 8, 0) < native);
        // The measured 2-core speed-ups the two shares are fitted to.
        assert!((helped_speedup(2, 1) - 1.57).abs() < 0.01);
        assert!((helped_speedup(2, 4) - 1.85).abs() < 0.01);
        assert!(
            helped_speedup(8, 4) > helped_speedup(4, 4)
                && helped_speedup(4, 4) > helped_speedup(2, 4)
        );
        assert_eq!(helped_speedup(1, 4), 1.0);
    }

    #[test]
    fn level_is_the_longest_chain_ahead() {
        let q = ExperimentConfig::preset("quick").unwrap();
        let ft = Unit::Finetune {
            budget: 0,
            l2: 0,
            lr: 0,
            seed: 0,
        }
        .work(&q);
        let last = q.pretrain.budgets.len() - 1;
        let pre = Unit::Pretrain { budget: last };
        assert_eq!(pre.level(&q), pre.work(&q) + ft);
        let perturb = Unit::Perturb { budget: last };
        assert_eq!(perturb.level(&q), perturb.work(&q));
        let w = wsd(q);
        let stables: f64 = (0..=last)
            .map(|b| Unit::Stable { budget: b }.work(&w))
            .sum();
        let decay = Unit::Pretrain { budget: last }.work(&w);
        assert_eq!(Unit::Stable { budget: 0 }.level(&w), stables + decay + ft);
    }

    #[test]
    fn constant_runs_one_stable_phase_per_budget_and_no_decay() {
        let c = with(
            ExperimentConfig::preset("quick").unwrap(),
            Protocol::Constant,
        );
        let steps = c.budget_steps();
        for (b, &s) in steps.iter().enumerate() {
            assert_eq!(
                branch_at(&c, b),
                s,
                "the checkpoint is the run at the budget"
            );
            let from = if b == 0 { 0 } else { steps[b - 1] };
            assert_eq!(Unit::Stable { budget: b }.work(&c), (s - from) as f64);
            // Its pre-training unit only evaluates the stable run's state.
            let pre = Unit::Pretrain { budget: b };
            assert_eq!(pre.work(&c), c.eval_batches as f64 * EVAL_COST);
            assert_eq!(pre.needs(&c), Some(Unit::Stable { budget: b }));
        }
        let stables = plan(&c)
            .iter()
            .filter(|u| matches!(u, Unit::Stable { .. }))
            .count();
        assert_eq!(stables, steps.len());
        // The one run reaches the largest budget's steps, no more.
        let run: f64 = (0..steps.len())
            .map(|b| Unit::Stable { budget: b }.work(&c))
            .sum();
        assert_eq!(run, *steps.last().unwrap() as f64);
    }

    #[test]
    fn a_sam_step_is_two_steps_of_work() {
        let q = ExperimentConfig::preset("quick").unwrap();
        let mut sam = q.clone();
        sam.pretrain.sam_rho = 0.05;
        let evals = q.eval_batches as f64 * EVAL_COST;
        for b in 0..q.pretrain.budgets.len() {
            let pre = Unit::Pretrain { budget: b };
            let (twice, plain) = (pre.work(&sam) - evals, pre.work(&q) - evals);
            assert!(
                (twice - 2.0 * plain).abs() < 1e-9 * plain,
                "{twice} vs 2 × {plain}"
            );
        }
        let ft = Unit::Finetune {
            budget: 0,
            l2: 0,
            lr: 0,
            seed: 0,
        };
        assert_eq!(ft.work(&sam), ft.work(&q), "fine-tuning is plain AdamW");
    }

    #[test]
    fn choose_takes_plan_order_unless_the_longest_chain_would_end_last() {
        let q = [ExperimentConfig::preset("quick").unwrap()];
        let ready: Vec<Job> = (0..3)
            .map(|budget| Job {
                variant: 0,
                unit: Unit::Pretrain { budget },
            })
            .collect();
        let longest = ready[2].level(&q);
        assert_eq!(
            choose(&q, &ready, 10.0 * longest, 1),
            0,
            "one worker: plan order"
        );
        assert_eq!(
            choose(&q, &ready, longest, 2),
            2,
            "2 × level ≥ 0.9 × remaining"
        );
        assert_eq!(
            choose(&q, &ready, 10.0 * longest, 2),
            0,
            "2 × level < 0.9 × remaining"
        );
    }
}
