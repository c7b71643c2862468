//! Running an experiment: its units (see [`super::plan`]) executed on an engine, the one
//! [`Scheduler`] that hands them out and turns their outputs into results budget by budget,
//! and the executors — one engine ([`run`]), threads ([`run_threads`]), one unit at a time
//! for the page's workers ([`run_unit`]).

use super::config::{self, ExperimentConfig, Protocol};
use super::plan::{self, Unit};
use super::results::*;
use crate::cpu::gaussian;
use crate::data::tasks::{task_source, UserText};
use crate::data::{batch, ByteSource, Split};
use crate::error::Error;
use crate::transformer::engine::{Engine, Hyper, Observer, Stretch, TrainState};
use crate::transformer::params::Layout;
use crate::transformer::schedule::{Lr, Schedule};
use crate::transformer::train::{Corpus, TrainConfig};
use serde::Serialize;

/// Where the experiment is, for progress bars and live loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// "pretrain", "perturb", "finetune", or "done" (once, at the end).
    pub phase: &'static str,
    pub budget_index: usize,
    pub budgets: usize,
    /// What runs now, in words: "budget 2/6: fine-tuning lr 0.003 seed 1".
    pub label: String,
    /// Steps of the current run done and in all (evaluations count as 0/1).
    pub step: usize,
    pub steps: usize,
    /// The latest training loss (nats per byte).
    pub loss: Option<f64>,
    /// Work done and in all, in training-step equivalents (for the ETA).
    pub work_done: f64,
    pub work_total: f64,
}

/// What runs the experiment: the CLI (progress on stderr) or the page's worker.
#[allow(async_fn_in_trait)]
pub trait Host {
    /// Called at every loss read-back. Err (e.g. [`Error::Cancelled`]) stops the
    /// experiment; the host may also wait here (pause).
    async fn progress(&mut self, p: &Progress) -> Result<(), Error>;
    /// The results so far, after each budget (and at the end).
    fn budget_done(&mut self, _partial: &ExperimentResults) {}
    /// The pre-trained weights of budget `budget_index`, for export.
    fn checkpoint(&mut self, _budget_index: usize, _params: &[f32]) {}
    /// Milliseconds on some clock.
    fn now_ms(&self) -> f64;
}

/// Training tokens of an experiment (pre-training and fine-tuning) and its approximate
/// floating-point operations: 6 per parameter per trained token (forward and backward),
/// plus attention's 12·n_layer·ctx·d_model, and a third of that per evaluated token.
pub fn cost(cfg: &ExperimentConfig) -> (f64, f64) {
    let params = Layout::new(&cfg.model).total as f64;
    let m = &cfg.model;
    let per_token = 6.0 * params + 12.0 * (m.n_layer * m.ctx * m.d_model) as f64;
    let work = plan::work_total(cfg);
    let tokens_per_step = cfg.tokens_per_step() as f64;
    (work * tokens_per_step, work * tokens_per_step * per_token)
}

/// At most this many points of each training-loss curve are kept in the results.
const LOSS_POINTS: usize = 200;

fn downsample(xs: &[f64]) -> Vec<f64> {
    if xs.len() <= LOSS_POINTS {
        return xs.to_vec();
    }
    (0..LOSS_POINTS)
        .map(|i| xs[i * (xs.len() - 1) / (LOSS_POINTS - 1)])
        .collect()
}

impl Raw {
    fn results(
        &self,
        cfg: &ExperimentConfig,
        parameters: usize,
        backend: &str,
        elapsed_s: f64,
    ) -> ExperimentResults {
        let n = self.base.len();
        let budgets: Vec<u64> = cfg.pretrain.budgets[..n].to_vec();
        let mut perturb = Vec::new();
        for (g, &gamma) in cfg.perturb.gammas.iter().enumerate() {
            let stats: Vec<(f64, f64)> = (0..n).map(|b| mean_std(&self.perturb[b][g])).collect();
            let draws = cfg.perturb.draws as f64;
            let mean: Vec<Option<f64>> = stats.iter().map(|s| Some(s.0)).collect();
            let se: Vec<Option<f64>> = stats.iter().map(|s| Some(s.1 / draws.sqrt())).collect();
            perturb.push(PerturbCurve {
                gamma,
                pretrain_ppl_mean: stats.iter().map(|s| s.0).collect(),
                pretrain_ppl_std: stats.iter().map(|s| s.1).collect(),
                change_mean: stats.iter().zip(&self.base).map(|(s, b)| s.0 - b).collect(),
                inflection_budget: inflection(&budgets, &mean, &se),
            });
        }
        let f = &cfg.finetune;
        let mut finetune = Vec::new();
        let mut tuned = Vec::new();
        for (li, &l2) in f.l2.iter().enumerate() {
            let mut curves = Vec::new();
            for (ri, &lr) in f.lrs.iter().enumerate() {
                let mut c = FinetuneCurve {
                    task: f.task.clone(),
                    lr,
                    l2,
                    pretrain_ppl: vec![],
                    pretrain_ppl_std: vec![],
                    pretrain_change: vec![],
                    id_ppl: vec![],
                    id_ppl_std: vec![],
                    diverged: vec![],
                    inflection_budget: None,
                };
                let mut se = Vec::new();
                for b in 0..n {
                    let runs = &self.finetune[b][li][ri];
                    let ok: Vec<(f64, f64)> = runs.iter().flatten().copied().collect();
                    c.diverged.push(runs.len() - ok.len());
                    if ok.is_empty() {
                        for v in [
                            &mut c.pretrain_ppl,
                            &mut c.pretrain_ppl_std,
                            &mut c.pretrain_change,
                            &mut c.id_ppl,
                            &mut c.id_ppl_std,
                        ] {
                            v.push(None);
                        }
                        se.push(None);
                        continue;
                    }
                    let (pm, ps) = mean_std(&ok.iter().map(|r| r.0).collect::<Vec<_>>());
                    let (im, is) = mean_std(&ok.iter().map(|r| r.1).collect::<Vec<_>>());
                    c.pretrain_ppl.push(Some(pm));
                    c.pretrain_ppl_std.push(Some(ps));
                    c.pretrain_change.push(Some(pm - self.base[b]));
                    c.id_ppl.push(Some(im));
                    c.id_ppl_std.push(Some(is));
                    se.push(Some(ps / (ok.len() as f64).sqrt()));
                }
                c.inflection_budget = inflection(&budgets, &c.pretrain_ppl, &se);
                curves.push((c, se));
            }
            // Tuned: per budget, the learning rate with the best mean ID perplexity.
            let mut t = TunedCurve {
                l2,
                lr: vec![],
                pretrain_ppl: vec![],
                id_ppl: vec![],
                inflection_budget: None,
            };
            let mut se = Vec::new();
            for b in 0..n {
                let best = curves
                    .iter()
                    .filter_map(|(c, s)| c.id_ppl[b].map(|id| (c.lr, id, c.pretrain_ppl[b], s[b])))
                    .min_by(|x, y| x.1.total_cmp(&y.1));
                t.lr.push(best.map(|x| x.0));
                t.id_ppl.push(best.map(|x| x.1));
                t.pretrain_ppl.push(best.and_then(|x| x.2));
                se.push(best.and_then(|x| x.3));
            }
            t.inflection_budget = inflection(&budgets, &t.pretrain_ppl, &se);
            tuned.push(t);
            finetune.extend(curves.into_iter().map(|(c, _)| c));
        }
        ExperimentResults {
            schema_version: config::SCHEMA_VERSION,
            config: cfg.clone(),
            budgets,
            parameters,
            base: Base {
                pretrain_ppl: self.base.clone(),
                train_loss: self.train_loss.iter().map(|l| downsample(l)).collect(),
                diverged_at: self.diverged.clone(),
            },
            perturb,
            finetune,
            tuned,
            backend: backend.to_string(),
            elapsed_s,
            raw: self.clone(),
        }
    }
}

/// A fine-tuning task's train stream (repeat `stream`) or its held-out stream.
pub(crate) fn task_stream(
    cfg: &ExperimentConfig,
    split: Split,
    stream: u64,
) -> Box<dyn ByteSource> {
    let f = &cfg.finetune;
    match (&f.user_text, f.task.as_str()) {
        (Some(text), "user") => {
            let user = UserText::new(text).expect("validated user text");
            let mut source: Box<dyn ByteSource> = Box::new(user.source(split));
            // Repeats start at different places of the user's text.
            let mut skip = vec![0u8; (stream as usize * 997) % text.len().max(1)];
            source.fill(&mut skip);
            source
        }
        (_, task) => task_source(task, cfg.seed, split, stream).expect("validated task"),
    }
}

/// σ per parameter for the perturbation: its tensor's init std; constant-initialized
/// tensors (norm gains, biases) get none unless `perturb_constant` (then σ = 0.02).
pub fn noise_scale(layout: &Layout, perturb_constant: bool) -> Vec<f32> {
    layout
        .tensors
        .iter()
        .flat_map(|t| {
            let s = if t.init_std > 0.0 {
                t.init_std
            } else if perturb_constant {
                0.02
            } else {
                0.0
            };
            std::iter::repeat_n(s, t.len())
        })
        .collect()
}

/// Draw `draw` of θ + γ·σ ⊙ z, z standard normal from the experiment seed's Philox stream
/// (the same z for every budget: common random numbers make the curves comparable).
pub fn perturbed(params: &[f32], sigma: &[f32], gamma: f64, seed: u64, draw: usize) -> Vec<f32> {
    let n = params.len();
    let z = gaussian(seed ^ 0x7065_7274, (draw * n) as u64, 1.0, n);
    params
        .iter()
        .zip(sigma)
        .zip(&z)
        .map(|((w, s), z)| w + gamma as f32 * s * z)
        .collect()
}

/// What the units of one experiment share: its config and everything derived from it
/// once (held-out batches, the initial weights, the perturbation scales).
pub(crate) struct Context {
    cfg: ExperimentConfig,
    layout: Layout,
    /// The pre-training language's held-out batches, behind every pre-training perplexity.
    heldout: Vec<Vec<u8>>,
    /// The fine-tuning task's held-out batches.
    task_heldout: Vec<Vec<u8>>,
    init: Vec<f32>,
    sigma: Vec<f32>,
    /// wsd: the linear warmup, over `warmup_fraction` of the first budget.
    wsd_warmup: usize,
}

impl Context {
    fn new(cfg: &ExperimentConfig) -> Context {
        let layout = Layout::new(&cfg.model);
        let task_heldout = {
            let mut s = task_stream(cfg, Split::Heldout, 0);
            (0..cfg.eval_batches)
                .map(|_| batch(s.as_mut(), cfg.batch, cfg.model.ctx))
                .collect()
        };
        let steps = cfg.budget_steps();
        Context {
            heldout: Context::corpus(cfg).eval,
            task_heldout,
            init: layout.init(cfg.seed),
            sigma: noise_scale(&layout, cfg.perturb.perturb_constant),
            wsd_warmup: ((cfg.pretrain.warmup_fraction * steps[0] as f64).ceil() as usize).max(1),
            layout,
            cfg: cfg.clone(),
        }
    }

    /// The pre-training language's corpus: its training stream from the start, and the
    /// held-out batches.
    pub(crate) fn corpus(cfg: &ExperimentConfig) -> Corpus {
        Corpus::new(&TrainConfig {
            seed: cfg.seed,
            model: cfg.model.clone(),
            batch: cfg.batch,
            eval_batches: cfg.eval_batches,
            ..TrainConfig::default()
        })
    }

    /// The training stream with its first `skip` batches drawn.
    fn train_stream_from(&self, skip: usize) -> Corpus {
        let mut corpus = Context::corpus(&self.cfg);
        for _ in 0..skip {
            batch(corpus.train_source(), self.cfg.batch, self.cfg.model.ctx);
        }
        corpus
    }

    /// wsd: budget b's schedule. Its steps before the branch point are the stable run's,
    /// those after are its decay branch.
    fn wsd(&self, b: usize) -> Lr {
        Lr {
            schedule: Schedule::Wsd {
                decay_fraction: self.cfg.pretrain.decay_fraction,
            },
            peak: self.cfg.pretrain.lr,
            warmup: self.wsd_warmup,
            total: self.cfg.budget_steps()[b],
        }
    }

    fn pre_hyper(&self) -> Hyper {
        Hyper {
            weight_decay: self.cfg.pretrain.weight_decay,
            grad_clip: self.cfg.pretrain.grad_clip,
            l2: 0.0,
        }
    }
}

/// What a unit hands on (see [`plan::Unit`]); it crosses between the page's workers and
/// into shard files as JSON (f32 and f64 values round-trip exactly).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Output {
    /// wsd's stable run at budget b's branch point: its whole state, every loss so far.
    Stable {
        state: TrainState,
        losses: Vec<f64>,
        diverged: Option<usize>,
    },
    /// Budget b's pre-trained weights and measurements.
    Pretrained {
        params: Vec<f32>,
        base: f64,
        losses: Vec<f64>,
        diverged: Option<usize>,
    },
    /// Perplexity per γ and draw.
    Perturbed { ppl: Vec<Vec<f64>> },
    /// (pre-training, task) perplexity; None when the run diverged.
    Finetuned { run: FinetuneRun },
}

/// Where a running unit is (what crosses from a worker to the [`Scheduler`]).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct UnitProgress {
    pub label: String,
    pub step: usize,
    pub steps: usize,
    pub loss: Option<f64>,
    /// Work of the unit done so far (training-step equivalents).
    pub work: f64,
}

/// Hears a running unit's progress (at every loss read-back and evaluation); an error
/// (a cancel) stops the unit, and it may wait (a pause in the page).
#[allow(async_fn_in_trait)]
pub trait Watch {
    async fn unit_progress(&mut self, p: &UnitProgress) -> Result<(), Error>;
}

/// Passes a stretch of training's losses on as unit progress.
struct Stretching<'w, W: Watch> {
    watch: &'w mut W,
    progress: UnitProgress,
    losses: &'w mut Vec<f64>,
}

impl<W: Watch> Observer for Stretching<'_, W> {
    async fn losses(&mut self, done: usize, losses: &[f64]) -> Result<(), Error> {
        self.losses.extend(losses);
        self.progress.work += losses.len() as f64;
        self.progress.step = done;
        self.progress.loss = self.losses.last().copied();
        self.watch.unit_progress(&self.progress).await
    }
}

/// Trains steps `steps` of the schedule `lr` on `source`, appending their losses to
/// `losses`; returns the diverged step (counting from 1) if one did.
#[allow(clippy::too_many_arguments)]
async fn stretch<W: Watch>(
    engine: &mut Engine<'_>,
    watch: &mut W,
    progress: &mut UnitProgress,
    source: &mut dyn ByteSource,
    lr: &Lr,
    steps: std::ops::Range<usize>,
    hyper: Hyper,
    losses: &mut Vec<f64>,
) -> Result<Option<usize>, Error> {
    progress.steps = steps.len();
    progress.step = 0;
    let mut observer = Stretching {
        watch,
        progress: progress.clone(),
        losses,
    };
    let run = Stretch {
        source,
        lr,
        steps,
        hyper,
        eval: None,
    };
    let trained = engine.train(run, &mut observer).await?;
    *progress = observer.progress;
    Ok(trained.diverged_at)
}

/// Perplexity of `engine`'s weights on held-out batches.
async fn perplexity(engine: &mut Engine<'_>, batches: &[Vec<u8>]) -> Result<f64, Error> {
    Ok(engine.evaluate(batches).await?.exp())
}

/// Runs one unit on `engine` from `input`, the output of the unit it needs.
async fn execute<W: Watch>(
    ctx: &Context,
    unit: Unit,
    input: Option<&Output>,
    engine: &mut Engine<'_>,
    watch: &mut W,
) -> Result<Output, Error> {
    let cfg = &ctx.cfg;
    let n = cfg.pretrain.budgets.len();
    let b = unit.budget();
    let steps = cfg.budget_steps();
    let mut progress = UnitProgress {
        label: String::new(),
        step: 0,
        steps: 0,
        loss: None,
        work: 0.0,
    };
    let pretrained = || match input {
        Some(Output::Pretrained { params, .. }) => Ok(params),
        _ => Err(Error::data(
            unit.id(),
            "needs its budget's pre-trained weights",
        )),
    };
    match unit {
        Unit::Stable { budget } => {
            progress.label = format!("budget {}/{n}: stable phase", b + 1);
            let (state, mut losses, diverged) = match input {
                Some(Output::Stable {
                    state,
                    losses,
                    diverged,
                }) => (state.clone(), losses.clone(), *diverged),
                None => (TrainState::fresh(ctx.init.clone()), Vec::new(), None),
                Some(_) => return Err(Error::data(unit.id(), "needs the stable run")),
            };
            let from = if budget == 0 {
                0
            } else {
                plan::branch_at(cfg, budget - 1)
            };
            let to = plan::branch_at(cfg, budget);
            if diverged.is_some() || to <= from {
                return Ok(Output::Stable {
                    state,
                    losses,
                    diverged,
                });
            }
            engine.load(&state)?;
            let mut corpus = ctx.train_stream_from(from);
            let lr = ctx.wsd(budget);
            let diverged = stretch(
                engine,
                watch,
                &mut progress,
                corpus.train_source(),
                &lr,
                from..to,
                ctx.pre_hyper(),
                &mut losses,
            )
            .await?;
            Ok(Output::Stable {
                state: engine.state().await?,
                losses,
                diverged,
            })
        }
        Unit::Pretrain { budget } => {
            progress.label = format!("budget {}/{n}: pre-training", b + 1);
            let mut losses = Vec::new();
            let diverged = match cfg.pretrain.protocol {
                Protocol::Independent => {
                    let mut corpus = Context::corpus(cfg);
                    let lr = Lr::new(
                        Schedule::Cosine,
                        cfg.pretrain.lr,
                        cfg.pretrain.warmup_fraction,
                        steps[budget],
                    );
                    engine.load(&TrainState::fresh(ctx.init.clone()))?;
                    stretch(
                        engine,
                        watch,
                        &mut progress,
                        corpus.train_source(),
                        &lr,
                        0..steps[budget],
                        ctx.pre_hyper(),
                        &mut losses,
                    )
                    .await?
                }
                Protocol::Wsd => {
                    let Some(Output::Stable {
                        state,
                        losses: stable,
                        diverged,
                    }) = input
                    else {
                        return Err(Error::data(unit.id(), "needs the stable run"));
                    };
                    engine.load(state)?;
                    losses.extend(stable);
                    if diverged.is_some() {
                        *diverged
                    } else {
                        // The decay branch: the same data stream from the branch point.
                        let branch_at = plan::branch_at(cfg, budget);
                        let mut corpus = ctx.train_stream_from(branch_at);
                        stretch(
                            engine,
                            watch,
                            &mut progress,
                            corpus.train_source(),
                            &ctx.wsd(budget),
                            branch_at..steps[budget],
                            ctx.pre_hyper(),
                            &mut losses,
                        )
                        .await?
                    }
                }
            };
            let params = engine.params().await?;
            let base = perplexity(engine, &ctx.heldout).await?;
            Ok(Output::Pretrained {
                params,
                base,
                losses,
                diverged,
            })
        }
        Unit::Perturb { .. } => {
            let params = pretrained()?;
            let per_eval = ctx.heldout.len() as f64 * plan::EVAL_COST;
            let mut per_gamma = Vec::new();
            for &gamma in &cfg.perturb.gammas {
                progress.label = format!("budget {}/{n}: perturbation γ = {gamma}", b + 1);
                let mut draws = Vec::new();
                for m in 0..cfg.perturb.draws {
                    let noisy = perturbed(params, &ctx.sigma, gamma, cfg.seed, m);
                    engine.load(&TrainState::fresh(noisy))?;
                    draws.push(perplexity(engine, &ctx.heldout).await?);
                    progress.step = m + 1;
                    progress.steps = cfg.perturb.draws;
                    progress.work += per_eval;
                    watch.unit_progress(&progress).await?;
                }
                per_gamma.push(draws);
            }
            Ok(Output::Perturbed { ppl: per_gamma })
        }
        Unit::Finetune { l2, lr, seed, .. } => {
            let params = pretrained()?;
            let f = &cfg.finetune;
            let (l2, lr) = (f.l2[l2], f.lrs[lr]);
            progress.label = format!(
                "budget {}/{n}: fine-tuning lr {lr} λ {l2} seed {seed}",
                b + 1
            );
            let schedule = Lr::new(Schedule::Cosine, lr, f.warmup_fraction, f.steps);
            let hyper = Hyper {
                weight_decay: f.weight_decay,
                grad_clip: f.grad_clip,
                l2,
            };
            engine.load(&TrainState::fresh(params.clone()))?;
            engine.set_anchor(params)?;
            let mut source = task_stream(cfg, Split::Train, seed as u64);
            let diverged = stretch(
                engine,
                watch,
                &mut progress,
                source.as_mut(),
                &schedule,
                0..f.steps,
                hyper,
                &mut Vec::new(),
            )
            .await?;
            Ok(Output::Finetuned {
                run: match diverged {
                    Some(_) => None,
                    None => Some((
                        perplexity(engine, &ctx.heldout).await?,
                        perplexity(engine, &ctx.task_heldout).await?,
                    )),
                },
            })
        }
    }
}

/// What the units' outputs add up to, as they arrive: a pre-trained checkpoint, or the
/// results so far once a budget's last unit is done (budgets complete in order).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Checkpoint(usize, Vec<f32>),
    BudgetDone(Box<ExperimentResults>),
}

/// Tells the host of what happened.
fn deliver<H: Host>(host: &mut H, events: Vec<Event>) {
    for e in events {
        match e {
            Event::Checkpoint(b, params) => host.checkpoint(b, &params),
            Event::BudgetDone(partial) => host.budget_done(&partial),
        }
    }
}

/// The one schedule of an experiment's units, whoever runs them: hands out the units in
/// the order of [`plan::plan`] as their inputs become ready, keeps the outputs later units
/// need, and turns the outputs into measurements budget by budget, in order. The serial
/// run, the threads and the page's Web Workers all go through it.
pub struct Scheduler {
    ctx: std::sync::Arc<Context>,
    /// Units not handed out yet, in plan order.
    waiting: Vec<Unit>,
    /// Units handed out and not done, with their work done so far.
    running: std::collections::HashMap<Unit, f64>,
    outputs: std::collections::HashMap<Unit, Output>,
    data: Raw,
    backend: String,
    start_ms: f64,
    /// Work of the finished units.
    work_done: f64,
    work_total: f64,
    /// Per budget, its units (besides the stable phase) still to finish.
    remaining: Vec<usize>,
    /// How many workers run the units: more than one, and a ready unit whose chain of work
    /// would end the run last goes first ([`plan::choose`]); one, and units go in plan order.
    pub workers: usize,
    /// Work of the units not handed out yet.
    work_waiting: f64,
    /// A shard's schedule (see [`Scheduler::for_units`]): every output is kept, in the
    /// order done, and no budget is assembled (its other units run elsewhere).
    kept: Option<Vec<(Unit, Output)>>,
}

impl Scheduler {
    /// The schedule of `cfg`; `resume`: the raw measurements of an earlier, unfinished run of
    /// it, whose finished budgets are kept (wsd still re-runs their stable phases).
    pub fn new(
        cfg: &ExperimentConfig,
        resume: Option<Raw>,
        backend: &str,
        now_ms: f64,
    ) -> Result<Scheduler, Error> {
        let ctx = std::sync::Arc::new(Context::new(cfg));
        let data = resume.unwrap_or_default();
        data.check(cfg)?;
        let skip = data.base.len();
        let wanted = |u: &Unit| u.budget() >= skip || matches!(u, Unit::Stable { .. });
        let all = plan::plan(cfg);
        let mut remaining = vec![0; cfg.pretrain.budgets.len()];
        for u in all
            .iter()
            .filter(|u| wanted(u) && !matches!(u, Unit::Stable { .. }))
        {
            remaining[u.budget()] += 1;
        }
        let waiting: Vec<Unit> = all.iter().copied().filter(wanted).collect();
        Ok(Scheduler {
            work_waiting: waiting.iter().map(|u| u.work(cfg)).sum(),
            // The finished budgets' work counts as done.
            work_done: all.iter().filter(|u| !wanted(u)).map(|u| u.work(cfg)).sum(),
            work_total: plan::work_total(cfg),
            waiting,
            running: Default::default(),
            outputs: Default::default(),
            data,
            backend: backend.to_string(),
            start_ms: now_ms,
            remaining,
            workers: 1,
            kept: None,
            ctx,
        })
    }

    /// The schedule of some of the units of `cfg` (a shard's), with `given` the outputs of
    /// the units they need that run elsewhere. Every output is kept ([`Scheduler::kept`]).
    pub fn for_units(
        cfg: &ExperimentConfig,
        units: &[Unit],
        given: Vec<(Unit, Output)>,
        backend: &str,
        now_ms: f64,
    ) -> Result<Scheduler, Error> {
        let mut s = Scheduler::new(cfg, None, backend, now_ms)?;
        s.waiting.retain(|u| units.contains(u));
        s.work_done = 0.0;
        s.work_total = s.waiting.iter().map(|u| u.work(cfg)).sum();
        s.work_waiting = s.work_total;
        s.outputs.extend(given);
        s.kept = Some(Vec::new());
        Ok(s)
    }

    /// A shard's outputs, in the order its units finished.
    pub fn kept(self) -> Vec<(Unit, Output)> {
        self.kept.unwrap_or_default()
    }

    /// The next unit whose input is ready, with that input; None when none is ready now
    /// (all handed out, or waiting for a running unit).
    pub fn take_ready(&mut self) -> Option<(Unit, Option<Output>)> {
        let cfg = &self.ctx.cfg;
        let ready: Vec<usize> = (0..self.waiting.len())
            .filter(|&i| {
                let need = self.waiting[i].needs(cfg);
                need.is_none_or(|need| self.outputs.contains_key(&need))
            })
            .collect();
        if ready.is_empty() {
            return None;
        }
        let units: Vec<Unit> = ready.iter().map(|&i| self.waiting[i]).collect();
        let pick = plan::choose(cfg, &units, self.work_waiting, self.workers);
        let unit = self.waiting.remove(ready[pick]);
        self.work_waiting -= unit.work(cfg);
        self.running.insert(unit, 0.0);
        let input = unit.needs(cfg).and_then(|u| self.outputs.get(&u).cloned());
        Some((unit, input))
    }

    /// Whether every unit is done.
    pub fn finished(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Units handed out and not done.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// With nothing running: an error when units are left that wait for an input no unit
    /// of this schedule produces (a shard given too little).
    fn stuck(&self) -> Result<(), Error> {
        match self.waiting.first() {
            None => Ok(()),
            Some(u) => Err(Error::data(
                u.id(),
                format!(
                    "waits for {:?}, which nothing here produces",
                    u.needs(&self.ctx.cfg)
                ),
            )),
        }
    }

    /// The experiment's progress after a running unit's report.
    pub fn progress(&mut self, unit: &Unit, p: &UnitProgress) -> Progress {
        if let Some(work) = self.running.get_mut(unit) {
            *work = p.work;
        }
        Progress {
            phase: unit.phase(),
            budget_index: unit.budget(),
            budgets: self.ctx.cfg.pretrain.budgets.len(),
            label: p.label.clone(),
            step: p.step,
            steps: p.steps,
            loss: p.loss,
            work_done: self.work_done + self.running.values().sum::<f64>(),
            work_total: self.work_total,
        }
    }

    /// Takes a unit's output; returns the checkpoint it makes and the budgets it completes.
    pub fn done(&mut self, unit: Unit, output: Output, now_ms: f64) -> Vec<Event> {
        let cfg = &self.ctx.cfg;
        let f = &cfg.finetune;
        self.running.remove(&unit);
        self.work_done += unit.work(cfg);
        let mut events = Vec::new();
        if let (Unit::Pretrain { budget }, Output::Pretrained { params, .. }) = (&unit, &output) {
            events.push(Event::Checkpoint(*budget, params.clone()));
        }
        if let Some(kept) = &mut self.kept {
            kept.push((unit, output.clone()));
            // Later units of the shard may need it; no budget is assembled here.
            self.outputs.insert(unit, output);
            return events;
        }
        self.outputs.insert(unit, output);
        if !matches!(unit, Unit::Stable { .. }) {
            self.remaining[unit.budget()] -= 1;
        }
        while self.data.base.len() < cfg.pretrain.budgets.len() {
            let b = self.data.base.len();
            if self.remaining[b] > 0 {
                break;
            }
            let Some(Output::Pretrained {
                base,
                losses,
                diverged,
                ..
            }) = self.outputs.get(&Unit::Pretrain { budget: b })
            else {
                break;
            };
            let Some(Output::Perturbed { ppl: per_gamma }) =
                self.outputs.get(&Unit::Perturb { budget: b })
            else {
                break;
            };
            self.data.base.push(*base);
            self.data.train_loss.push(losses.clone());
            self.data.diverged.push(*diverged);
            self.data.perturb.push(per_gamma.clone());
            let run = |l2, lr, seed| match self.outputs.get(&Unit::Finetune {
                budget: b,
                l2,
                lr,
                seed,
            }) {
                Some(Output::Finetuned { run }) => *run,
                _ => None,
            };
            let per_l2 = (0..f.l2.len())
                .map(|l2| {
                    (0..f.lrs.len())
                        .map(|lr| (0..f.seeds).map(|seed| run(l2, lr, seed)).collect())
                        .collect()
                })
                .collect();
            self.data.finetune.push(per_l2);
            // What later units need stays (the stable run); this budget's are done with.
            self.outputs
                .retain(|u, _| u.budget() != b || matches!(u, Unit::Stable { .. }));
            events.push(Event::BudgetDone(Box::new(self.results(now_ms))));
        }
        events
    }

    /// The results so far (every finished budget).
    pub fn results(&self, now_ms: f64) -> ExperimentResults {
        let elapsed = (now_ms - self.start_ms) / 1e3;
        self.data
            .results(&self.ctx.cfg, self.ctx.layout.total, &self.backend, elapsed)
    }

    /// The last progress report: everything done.
    pub fn finished_progress(&self) -> Progress {
        let n = self.ctx.cfg.pretrain.budgets.len();
        Progress {
            phase: "done",
            budget_index: n.saturating_sub(1),
            budgets: n,
            label: "finished".into(),
            step: 1,
            steps: 1,
            loss: None,
            work_done: self.work_done,
            work_total: self.work_total,
        }
    }
}

/// The serial executor's view of a running unit: progress straight to the host.
struct Serial<'s, H: Host> {
    schedule: &'s mut Scheduler,
    host: &'s mut H,
    unit: Unit,
}

impl<H: Host> Watch for Serial<'_, H> {
    async fn unit_progress(&mut self, p: &UnitProgress) -> Result<(), Error> {
        let progress = self.schedule.progress(&self.unit, p);
        self.host.progress(&progress).await
    }
}

/// Runs the whole experiment on `engine` (sized for `cfg.batch` and `cfg.eval_batches`),
/// its units one after another in the order of [`plan::plan`]. `resume`: the raw
/// measurements of an earlier, unfinished run of the same config (its results' `raw`,
/// checked with [`Raw::check`]): its finished budgets are kept and not run again (wsd
/// re-runs only the stable phase up to the next branch point).
pub async fn run<H: Host>(
    cfg: &ExperimentConfig,
    engine: &mut Engine<'_>,
    host: &mut H,
    resume: Option<Raw>,
) -> Result<ExperimentResults, Error> {
    let mut schedule = Scheduler::new(cfg, resume, &engine.describe(), host.now_ms())?;
    drive(&mut schedule, engine, host).await?;
    host.progress(&schedule.finished_progress()).await?;
    Ok(schedule.results(host.now_ms()))
}

/// Runs every unit `schedule` hands out on `engine`, one after another.
pub async fn drive<H: Host>(
    schedule: &mut Scheduler,
    engine: &mut Engine<'_>,
    host: &mut H,
) -> Result<(), Error> {
    let ctx = schedule.ctx.clone();
    while let Some((unit, input)) = schedule.take_ready() {
        let mut watch = Serial {
            schedule: &mut *schedule,
            host: &mut *host,
            unit,
        };
        let output = execute(&ctx, unit, input.as_ref(), engine, &mut watch).await?;
        let events = schedule.done(unit, output, host.now_ms());
        deliver(host, events);
    }
    schedule.stuck()
}

/// Runs one unit on `engine`, as each of the page's Web Workers does (their schedule is a
/// [`Scheduler`] on the page): `watch` hears its progress.
pub async fn run_unit<W: Watch>(
    cfg: &ExperimentConfig,
    unit: Unit,
    input: Option<&Output>,
    engine: &mut Engine<'_>,
    watch: &mut W,
) -> Result<Output, Error> {
    let ctx = Context::new(cfg);
    execute(&ctx, unit, input, engine, watch).await
}

/// Runs the experiment on the CPU with its units spread over `threads` threads (each with
/// its own engine), handed out by the one [`Scheduler`]. Every unit is a pure function of
/// its input, so the results are bit for bit those of [`run`] on one thread; the host hears
/// progress and each finished budget, in budget order, from this thread, and an error from
/// its `progress` (a cancel) stops every thread.
#[cfg(not(target_arch = "wasm32"))]
pub async fn run_threads<H: Host>(
    cfg: &ExperimentConfig,
    threads: usize,
    host: &mut H,
    resume: Option<Raw>,
) -> Result<ExperimentResults, Error> {
    if threads <= 1 {
        let mut engine = Engine::cpu(&cfg.model, cfg.batch);
        return run(cfg, &mut engine, host, resume).await;
    }
    let mut schedule = Scheduler::new(cfg, resume, "CPU", host.now_ms())?;
    schedule.workers = threads;
    drive_threads(&mut schedule, threads, host).await?;
    host.progress(&schedule.finished_progress()).await?;
    Ok(schedule.results(host.now_ms()))
}

/// Runs every unit `schedule` hands out on `threads` CPU threads, each with its own
/// engine; progress and the schedule's events reach the host from this thread.
#[cfg(not(target_arch = "wasm32"))]
pub async fn drive_threads<H: Host>(
    schedule: &mut Scheduler,
    threads: usize,
    host: &mut H,
) -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    if threads <= 1 {
        let mut engine = Engine::cpu(&schedule.ctx.cfg.model, schedule.ctx.cfg.batch);
        return drive(schedule, &mut engine, host).await;
    }
    enum Message {
        Progress(Unit, UnitProgress),
        Done(Unit, Result<Output, Error>),
    }
    /// A worker thread's view of its unit: progress to the main thread; stops once
    /// cancelled.
    struct Relay {
        unit: Unit,
        messages: mpsc::Sender<Message>,
        cancel: Arc<AtomicBool>,
    }
    impl Watch for Relay {
        async fn unit_progress(&mut self, p: &UnitProgress) -> Result<(), Error> {
            if self.cancel.load(Ordering::SeqCst) {
                return Err(Error::Cancelled);
            }
            let _ = self.messages.send(Message::Progress(self.unit, p.clone()));
            Ok(())
        }
    }

    let ctx = schedule.ctx.clone();
    let (job_tx, job_rx) = mpsc::channel::<(Unit, Option<Output>)>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (message_tx, message_rx) = mpsc::channel::<Message>();
    let cancel = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (ctx, jobs, messages, cancel) = (
                ctx.clone(),
                job_rx.clone(),
                message_tx.clone(),
                cancel.clone(),
            );
            std::thread::spawn(move || {
                let mut engine = Engine::cpu(&ctx.cfg.model, ctx.cfg.batch);
                loop {
                    let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((unit, input)) = job else { break };
                    let mut relay = Relay {
                        unit,
                        messages: messages.clone(),
                        cancel: cancel.clone(),
                    };
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        crate::transformer::engine::run_ready(execute(
                            &ctx,
                            unit,
                            input.as_ref(),
                            &mut engine,
                            &mut relay,
                        ))
                    }))
                    .unwrap_or_else(|_| Err(Error::Io(format!("{} failed (a bug)", unit.id()))));
                    if messages.send(Message::Done(unit, result)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(message_tx);

    let outcome = loop {
        while schedule.running() < threads {
            let Some(job) = schedule.take_ready() else {
                break;
            };
            if job_tx.send(job).is_err() {
                break;
            }
        }
        if schedule.finished() {
            break Ok(());
        }
        if schedule.running() == 0 {
            break schedule.stuck();
        }
        match message_rx.recv() {
            Ok(Message::Progress(unit, p)) => {
                let progress = schedule.progress(&unit, &p);
                if let Err(e) = host.progress(&progress).await {
                    break Err(e);
                }
            }
            Ok(Message::Done(unit, Ok(output))) => {
                let events = schedule.done(unit, output, host.now_ms());
                deliver(host, events);
            }
            Ok(Message::Done(_, Err(e))) => break Err(e),
            Err(_) => break Err(Error::Io("the worker threads stopped".into())),
        }
    };
    // Stop the threads: no more jobs; the running units stop at their next read-back.
    cancel.store(outcome.is_err(), Ordering::SeqCst);
    drop(job_tx);
    for w in workers {
        let _ = w.join();
    }
    outcome
}
