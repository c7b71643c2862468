//! One unit of an experiment (see [`super::plan`]) run on an engine: what the units of an
//! experiment share ([`Context`]), what a unit hands on ([`Output`]), and one function per
//! kind of unit — the stable phase of wsd and constant, a budget's pre-training (an
//! independent run, a wsd decay branch, or the constant run's state), its perturbation, one
//! fine-tuning run.

use super::config::{ExperimentConfig, Protocol};
use super::plan::{self, Unit};
use super::results::FinetuneRun;
use crate::cpu::gaussian;
use crate::data::language::{Language, LanguageSpec};
use crate::data::tasks::{task_source, UserText};
use crate::data::{batch, replay_rows, ByteSource, Split, WithReplay};
use crate::error::Error;
use crate::transformer::engine::{Engine, Hyper, Observer, Stretch, TrainState};
use crate::transformer::params::Layout;
use crate::transformer::schedule::{Lr, Schedule};
use crate::transformer::sharpness::sharpness;
use crate::transformer::train::{Corpus, TrainConfig};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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

/// The pre-training language's text that fine-tuning seed `stream` replays: its training
/// split sampled with a seed of its own, so it is fresh text — neither the pre-training
/// run's stream (sampled with `cfg.seed`) nor the held-out batches (the other split).
pub fn replay_stream(cfg: &ExperimentConfig, stream: u64) -> Box<dyn ByteSource> {
    let lang = Arc::new(Language::new(LanguageSpec::pretraining(), cfg.seed));
    let sampling =
        (cfg.seed ^ REPLAY_SEED).wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    Box::new(lang.stream(sampling, Split::Train))
}

/// Sets the replay streams' seeds apart from the pre-training run's and the tasks'.
const REPLAY_SEED: u64 = 0x5245_504C_4159_0000; // "REPLAY"

/// Fine-tuning seed `stream`'s training batches: the task's training stream, with the first
/// round(`finetune.replay` × batch) rows of every batch from [`replay_stream`] instead.
pub fn finetune_stream(cfg: &ExperimentConfig, stream: u64) -> Box<dyn ByteSource> {
    let task = task_stream(cfg, Split::Train, stream);
    match replay_rows(cfg.finetune.replay, cfg.batch) {
        0 => task,
        rows => Box::new(WithReplay::new(
            task,
            replay_stream(cfg, stream),
            cfg.batch,
            rows,
            cfg.model.ctx + 1,
        )),
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

/// The Philox stream of the sharpness's start vector (the seed's own, apart from the
/// perturbation noise's).
const SHARPNESS_STREAM: u64 = 0x7368_6172_7000;

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
    pub(super) cfg: ExperimentConfig,
    pub(super) layout: Layout,
    /// The pre-training language's held-out batches, behind every pre-training perplexity.
    heldout: Vec<Vec<u8>>,
    /// The fine-tuning task's held-out batches.
    task_heldout: Vec<Vec<u8>>,
    init: Vec<f32>,
    sigma: Vec<f32>,
    /// The one run of wsd and constant: its linear warmup, over `warmup_fraction` of the
    /// first budget.
    wsd_warmup: usize,
}

impl Context {
    pub(super) fn new(cfg: &ExperimentConfig) -> Context {
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
            micro_batches: cfg.micro_batches,
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

    /// The one run's schedule up to budget b: wsd's (its stable phase, before the branch
    /// point), or constant's — the same warmup, then the peak to the end.
    fn stable_lr(&self, b: usize) -> Lr {
        match self.cfg.pretrain.protocol {
            Protocol::Constant => Lr {
                schedule: Schedule::Constant,
                peak: self.cfg.pretrain.lr,
                warmup: self.wsd_warmup,
                total: self.cfg.budget_steps()[b],
            },
            _ => self.wsd(b),
        }
    }

    fn pre_hyper(&self) -> Hyper {
        Hyper {
            weight_decay: self.cfg.pretrain.weight_decay,
            grad_clip: self.cfg.pretrain.grad_clip,
            l2: 0.0,
            sam_rho: self.cfg.pretrain.sam_rho,
        }
    }
}

/// What a unit hands on (see [`plan::Unit`]); it crosses between the page's workers and
/// into shard files as JSON (f32 and f64 values round-trip exactly).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", try_from = "OutputFields")]
pub enum Output {
    /// The stable run (wsd, constant) at budget b's branch point: its whole state, every
    /// loss so far.
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
    /// Perplexity per γ and draw, and the sharpness when it is measured.
    Perturbed {
        ppl: Vec<Vec<f64>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        sharpness: Option<f64>,
    },
    /// (pre-training, task) perplexity; None when the run diverged.
    Finetuned { run: FinetuneRun },
}

/// An [`Output`] as it is read: every kind's fields (see [`crate::json::required`]); fields
/// of another kind are ignored.
#[derive(serde::Deserialize)]
struct OutputFields {
    kind: OutputKind,
    state: Option<TrainState>,
    losses: Option<Vec<f64>>,
    diverged: Option<usize>,
    params: Option<Vec<f32>>,
    base: Option<f64>,
    ppl: Option<Vec<Vec<f64>>>,
    sharpness: Option<f64>,
    /// `null` (or left out) for a run that diverged.
    run: FinetuneRun,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum OutputKind {
    Stable,
    Pretrained,
    Perturbed,
    Finetuned,
}

impl TryFrom<OutputFields> for Output {
    type Error = String;
    fn try_from(f: OutputFields) -> Result<Output, String> {
        use crate::json::required;
        Ok(match f.kind {
            OutputKind::Stable => Output::Stable {
                state: required("stable", "state", f.state)?,
                losses: required("stable", "losses", f.losses)?,
                diverged: f.diverged,
            },
            OutputKind::Pretrained => Output::Pretrained {
                params: required("pretrained", "params", f.params)?,
                base: required("pretrained", "base", f.base)?,
                losses: required("pretrained", "losses", f.losses)?,
                diverged: f.diverged,
            },
            OutputKind::Perturbed => Output::Perturbed {
                ppl: required("perturbed", "ppl", f.ppl)?,
                sharpness: f.sharpness,
            },
            OutputKind::Finetuned => Output::Finetuned { run: f.run },
        })
    }
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

/// A [`Watch`] behind a pointer, its progress boxed: the units' code below is compiled once,
/// not once for each kind of watch (the page has two, the whole experiment's and a
/// worker's unit's: README, "Size"); a box per loss read-back costs nothing measurable.
trait WatchBoxed {
    fn unit_progress_boxed<'a>(
        &'a mut self,
        p: &'a UnitProgress,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + 'a>>;
}

impl<W: Watch> WatchBoxed for W {
    fn unit_progress_boxed<'a>(
        &'a mut self,
        p: &'a UnitProgress,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + 'a>> {
        Box::pin(self.unit_progress(p))
    }
}

/// Passes a stretch of training's losses on as unit progress.
struct Stretching<'w> {
    watch: &'w mut dyn WatchBoxed,
    progress: UnitProgress,
    losses: &'w mut Vec<f64>,
    /// Each step's work ([`plan::step_work`]).
    step_work: f64,
}

impl Observer for Stretching<'_> {
    async fn losses(&mut self, done: usize, losses: &[f64]) -> Result<(), Error> {
        self.losses.extend(losses);
        self.progress.work += losses.len() as f64 * self.step_work;
        self.progress.step = done;
        self.progress.loss = self.losses.last().copied();
        self.watch.unit_progress_boxed(&self.progress).await
    }
}

/// Trains steps `steps` of the schedule `lr` on `source`, appending their losses to
/// `losses`; returns the diverged step (counting from 1) if one did.
#[allow(clippy::too_many_arguments)]
async fn stretch(
    engine: &mut Engine<'_>,
    watch: &mut dyn WatchBoxed,
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
        step_work: plan::step_work(hyper.sam_rho),
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
    Ok(libm::exp(engine.evaluate(batches).await?))
}

/// Runs one unit on `engine` from `input`, the output of the unit it needs.
pub(super) async fn execute(
    ctx: &Context,
    unit: Unit,
    input: Option<&Output>,
    engine: &mut Engine<'_>,
    watch: &mut impl Watch,
) -> Result<Output, Error> {
    execute_unit(ctx, unit, input, engine, watch).await
}

/// [`execute`], one copy for every kind of watch.
async fn execute_unit(
    ctx: &Context,
    unit: Unit,
    input: Option<&Output>,
    engine: &mut Engine<'_>,
    watch: &mut dyn WatchBoxed,
) -> Result<Output, Error> {
    let n = ctx.cfg.pretrain.budgets.len();
    let mut progress = UnitProgress {
        label: String::new(),
        step: 0,
        steps: 0,
        loss: None,
        work: 0.0,
    };
    let mut run = UnitRun {
        ctx,
        unit,
        engine,
        watch,
        progress: &mut progress,
    };
    let b = unit.budget() + 1;
    match unit {
        Unit::Stable { budget } => {
            run.progress.label = format!("budget {b}/{n}: stable phase");
            stable_phase(&mut run, budget, input).await
        }
        Unit::Pretrain { budget } => {
            run.progress.label = format!("budget {b}/{n}: pre-training");
            match ctx.cfg.pretrain.protocol {
                Protocol::Independent => pretrain_independent(&mut run, budget).await,
                Protocol::Wsd => pretrain_wsd_branch(&mut run, budget, input).await,
                Protocol::Constant => pretrain_constant(&mut run, input).await,
            }
        }
        Unit::Perturb { .. } => perturb(&mut run, pretrained(unit, input)?).await,
        Unit::Finetune { l2, lr, seed, .. } => {
            let f = &ctx.cfg.finetune;
            let (l2, lr) = (f.l2[l2], f.lrs[lr]);
            run.progress.label = format!("budget {b}/{n}: fine-tuning lr {lr} λ {l2} seed {seed}");
            finetune(&mut run, pretrained(unit, input)?, l2, lr, seed).await
        }
    }
}

/// One unit being run: what every kind of unit needs.
struct UnitRun<'r, 'e> {
    ctx: &'r Context,
    unit: Unit,
    engine: &'r mut Engine<'e>,
    watch: &'r mut dyn WatchBoxed,
    progress: &'r mut UnitProgress,
}

impl UnitRun<'_, '_> {
    /// Trains steps `steps` of `lr` on `source` (see [`stretch`]).
    async fn train(
        &mut self,
        source: &mut dyn ByteSource,
        lr: &Lr,
        steps: std::ops::Range<usize>,
        hyper: Hyper,
        losses: &mut Vec<f64>,
    ) -> Result<Option<usize>, Error> {
        stretch(
            self.engine,
            self.watch,
            self.progress,
            source,
            lr,
            steps,
            hyper,
            losses,
        )
        .await
    }
}

/// The budget's pre-trained weights, the input of its perturbation and fine-tuning units.
fn pretrained(unit: Unit, input: Option<&Output>) -> Result<&Vec<f32>, Error> {
    match input {
        Some(Output::Pretrained { params, .. }) => Ok(params),
        _ => Err(Error::data(
            unit.id(),
            "needs its budget's pre-trained weights",
        )),
    }
}

/// wsd and constant: the stable run from the previous budget's branch point (or the start)
/// to this budget's.
async fn stable_phase(
    run: &mut UnitRun<'_, '_>,
    budget: usize,
    input: Option<&Output>,
) -> Result<Output, Error> {
    let cfg = &run.ctx.cfg;
    let (state, mut losses, diverged) = match input {
        Some(Output::Stable {
            state,
            losses,
            diverged,
        }) => (state.clone(), losses.clone(), *diverged),
        None => (TrainState::fresh(run.ctx.init.clone()), Vec::new(), None),
        Some(_) => return Err(Error::data(run.unit.id(), "needs the stable run")),
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
    run.engine.load(&state)?;
    let mut corpus = run.ctx.train_stream_from(from);
    let lr = run.ctx.stable_lr(budget);
    let hyper = run.ctx.pre_hyper();
    let diverged = run
        .train(corpus.train_source(), &lr, from..to, hyper, &mut losses)
        .await?;
    Ok(Output::Stable {
        state: run.engine.state().await?,
        losses,
        diverged,
    })
}

/// independent: budget b's own run from the initial weights, warmup then cosine to zero.
async fn pretrain_independent(run: &mut UnitRun<'_, '_>, budget: usize) -> Result<Output, Error> {
    let cfg = &run.ctx.cfg;
    let steps = cfg.budget_steps()[budget];
    let mut corpus = Context::corpus(cfg);
    let lr = Lr::new(
        Schedule::Cosine,
        cfg.pretrain.lr,
        cfg.pretrain.warmup_fraction,
        steps,
    );
    run.engine.load(&TrainState::fresh(run.ctx.init.clone()))?;
    let mut losses = Vec::new();
    let hyper = run.ctx.pre_hyper();
    let diverged = run
        .train(corpus.train_source(), &lr, 0..steps, hyper, &mut losses)
        .await?;
    pretrained_output(run, losses, diverged).await
}

/// wsd: budget b's decay branch from the stable run's state at its branch point, on the
/// same data stream from there.
async fn pretrain_wsd_branch(
    run: &mut UnitRun<'_, '_>,
    budget: usize,
    input: Option<&Output>,
) -> Result<Output, Error> {
    let Some(Output::Stable {
        state,
        losses: stable,
        diverged,
    }) = input
    else {
        return Err(Error::data(run.unit.id(), "needs the stable run"));
    };
    run.engine.load(state)?;
    let mut losses = stable.clone();
    let diverged = match diverged {
        Some(step) => Some(*step),
        None => {
            let cfg = &run.ctx.cfg;
            let branch_at = plan::branch_at(cfg, budget);
            let mut corpus = run.ctx.train_stream_from(branch_at);
            let (lr, hyper) = (run.ctx.wsd(budget), run.ctx.pre_hyper());
            let steps = branch_at..cfg.budget_steps()[budget];
            run.train(corpus.train_source(), &lr, steps, hyper, &mut losses)
                .await?
        }
    };
    pretrained_output(run, losses, diverged).await
}

/// constant: budget b's checkpoint is the one run's state at b's steps, as `stable b` left
/// it (no decay).
async fn pretrain_constant(
    run: &mut UnitRun<'_, '_>,
    input: Option<&Output>,
) -> Result<Output, Error> {
    let Some(Output::Stable {
        state,
        losses,
        diverged,
    }) = input
    else {
        return Err(Error::data(run.unit.id(), "needs the stable run"));
    };
    run.engine.load(state)?;
    pretrained_output(run, losses.clone(), *diverged).await
}

/// The pre-trained weights now on the engine, with their held-out perplexity.
async fn pretrained_output(
    run: &mut UnitRun<'_, '_>,
    losses: Vec<f64>,
    diverged: Option<usize>,
) -> Result<Output, Error> {
    let params = run.engine.params().await?;
    let base = perplexity(run.engine, &run.ctx.heldout).await?;
    Ok(Output::Pretrained {
        params,
        base,
        losses,
        diverged,
    })
}

/// Perplexity of `draws` noisy copies of the weights for each γ.
async fn perturb(run: &mut UnitRun<'_, '_>, params: &[f32]) -> Result<Output, Error> {
    let (ctx, n) = (run.ctx, run.ctx.cfg.pretrain.budgets.len());
    let cfg = &ctx.cfg;
    let per_eval = ctx.heldout.len() as f64 * plan::EVAL_COST;
    let mut per_gamma = Vec::new();
    for &gamma in &cfg.perturb.gammas {
        run.progress.label = format!(
            "budget {}/{n}: perturbation γ = {gamma}",
            run.unit.budget() + 1
        );
        let mut draws = Vec::new();
        for m in 0..cfg.perturb.draws {
            let noisy = perturbed(params, &ctx.sigma, gamma, cfg.seed, m);
            run.engine.load(&TrainState::fresh(noisy))?;
            draws.push(perplexity(run.engine, &ctx.heldout).await?);
            run.progress.step = m + 1;
            run.progress.steps = cfg.perturb.draws;
            run.progress.work += per_eval;
            run.watch.unit_progress_boxed(run.progress).await?;
        }
        per_gamma.push(draws);
    }
    let iterations = cfg.perturb.sharpness_iterations;
    let sharpness = if iterations == 0 {
        None
    } else {
        run.progress.label = format!(
            "budget {}/{n}: sharpness ({iterations} power iterations)",
            run.unit.budget() + 1
        );
        let value = sharpness(
            run.engine,
            params,
            &ctx.heldout,
            iterations,
            cfg.seed ^ SHARPNESS_STREAM,
        )
        .await?;
        run.progress.work += 2.0 * iterations as f64 * ctx.heldout.len() as f64;
        run.watch.unit_progress_boxed(run.progress).await?;
        Some(value)
    };
    Ok(Output::Perturbed {
        ppl: per_gamma,
        sharpness,
    })
}

/// One fine-tuning run from the pre-trained weights (fresh AdamW state, pulled toward
/// them with λ = `l2`) at peak rate `lr` on the task's stream `seed` (with its replay rows,
/// [`finetune_stream`]).
async fn finetune(
    run: &mut UnitRun<'_, '_>,
    params: &[f32],
    l2: f64,
    lr: f64,
    seed: usize,
) -> Result<Output, Error> {
    let f = &run.ctx.cfg.finetune;
    let schedule = Lr::new(Schedule::Cosine, lr, f.warmup_fraction, f.steps);
    // Fine-tuning is plain AdamW: SAM is a pre-training lever.
    let hyper = Hyper {
        weight_decay: f.weight_decay,
        grad_clip: f.grad_clip,
        l2,
        sam_rho: 0.0,
    };
    run.engine.load(&TrainState::fresh(params.to_vec()))?;
    run.engine.set_anchor(params)?;
    let mut source = finetune_stream(&run.ctx.cfg, seed as u64);
    let diverged = run
        .train(
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
                perplexity(run.engine, &run.ctx.heldout).await?,
                perplexity(run.engine, &run.ctx.task_heldout).await?,
            )),
        },
    })
}
