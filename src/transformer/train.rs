//! `overtrain train` (science.md §3 "Training"): a training config, the pre-training
//! corpus with its held-out batches, and one training run on an [`Engine`] (AdamW, global-
//! norm clipping, the learning-rate [`Schedule`]) with periodic held-out evaluation.
//! Deterministic from the seed, including the data stream.

use super::config::ModelConfig;
pub use super::engine::TrainState;
use super::engine::{run_ready, Engine, Eval, Hyper, Observer, Stretch};
use super::schedule::Lr;
pub use super::schedule::Schedule;
use crate::data::language::{Language, LanguageSpec};
use crate::data::{batch, inputs_and_targets, ByteSource, Split};
use crate::error::{check_int, check_range, ConfigError, Error};
use crate::gpu::Gpu;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub seed: u64,
    pub model: ModelConfig,
    /// Sequences per step (each `model.ctx` bytes).
    pub batch: usize,
    /// The CPU path splits each step's batch into this many micro-batches (capped at
    /// `batch`) whose gradients it sums in one order, so that its threads share a step with
    /// the same bits on any number of them (`super::micro`). The GPU takes the batch whole.
    pub micro_batches: usize,
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub warmup_fraction: f64,
    pub schedule: Schedule,
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = none).
    pub grad_clip: f64,
    pub eval_every: usize,
    pub eval_batches: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 0,
            model: ModelConfig::default(),
            batch: 32,
            micro_batches: super::micro::DEFAULT_COUNT,
            steps: 1000,
            lr: 3e-3,
            warmup_fraction: 0.05,
            schedule: Schedule::Cosine,
            weight_decay: 0.1,
            grad_clip: 1.0,
            eval_every: 100,
            eval_batches: 8,
        }
    }
}

impl TrainConfig {
    /// Parses a JSON document (omitted fields take defaults) and validates it.
    pub fn from_json(text: &str) -> Result<TrainConfig, ConfigError> {
        let config: TrainConfig = crate::error::parse_json(text, &[])?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.model.validate()?;
        check_int("batch", self.batch, 1, 4096)?;
        check_int(
            "micro_batches",
            self.micro_batches,
            1,
            super::micro::MAX_COUNT,
        )?;
        check_int("steps", self.steps, 1, 10_000_000)?;
        check_range("lr", self.lr, 0.0, true, 1.0)?;
        check_range("warmup_fraction", self.warmup_fraction, 0.0, false, 1.0)?;
        if let Schedule::Wsd { decay_fraction } = self.schedule {
            check_range("schedule.decay_fraction", decay_fraction, 0.0, true, 1.0)?;
        }
        check_range("weight_decay", self.weight_decay, 0.0, false, 10.0)?;
        check_range("grad_clip", self.grad_clip, 0.0, false, 1e6)?;
        check_int("eval_every", self.eval_every, 1, self.steps.max(1))?;
        check_int("eval_batches", self.eval_batches, 1, 1000)?;
        Ok(())
    }

    /// The learning-rate schedule of the run.
    pub fn lr(&self) -> Lr {
        Lr::new(
            self.schedule.clone(),
            self.lr,
            self.warmup_fraction,
            self.steps,
        )
    }

    /// The learning rate of step `step` (0-based) of `steps`.
    pub fn lr_at(&self, step: usize) -> f64 {
        self.lr().at(step)
    }
}

/// Losses in nats per byte.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    pub steps: Vec<usize>,
    pub tokens: Vec<usize>,
    pub train_loss: Vec<f64>,
    pub eval_steps: Vec<usize>,
    pub eval_loss: Vec<f64>,
    /// The step (counting from 1) whose loss or gradient was not finite; training stopped
    /// before its update.
    pub diverged_at: Option<usize>,
    /// `running` in the log written when training starts (a log left so belongs to a run
    /// that was killed), then `done`, or `interrupted` (stopped by the user: the weights are
    /// those after the last step taken).
    #[serde(default)]
    pub status: RunStatus,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    #[default]
    Running,
    Done,
    Interrupted,
}

/// The pre-training language of a seed, and its fixed held-out evaluation batches.
pub struct Corpus {
    train: Box<dyn ByteSource>,
    pub eval: Vec<Vec<u8>>,
}

impl Corpus {
    pub fn new(cfg: &TrainConfig) -> Corpus {
        let lang = Arc::new(Language::new(LanguageSpec::pretraining(), cfg.seed));
        let mut held = lang.clone().stream(cfg.seed, Split::Heldout);
        let eval = (0..cfg.eval_batches)
            .map(|_| batch(&mut held, cfg.batch, cfg.model.ctx))
            .collect();
        Corpus {
            train: Box::new(lang.stream(cfg.seed, Split::Train)),
            eval,
        }
    }
}

impl Corpus {
    /// The training stream itself.
    pub fn train_source(&mut self) -> &mut dyn ByteSource {
        self.train.as_mut()
    }

    /// The next training batch: B·T input bytes and their next-byte targets.
    pub fn next_batch(&mut self, b: usize, t: usize) -> (Vec<u8>, Vec<u8>) {
        let rows = batch(self.train.as_mut(), b, t);
        inputs_and_targets(&rows, b, t)
    }
}

impl TrainConfig {
    /// The optimizer settings of this config (no L2 pull: pre-training; plain AdamW).
    pub fn hyper(&self) -> Hyper {
        Hyper {
            weight_decay: self.weight_decay,
            grad_clip: self.grad_clip,
            ..Hyper::default()
        }
    }
}

/// An interrupted run to continue (`overtrain train --resume`): the engine's whole state
/// after the last step taken (weights, AdamW's moments and step) and the log up to there.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub state: TrainState,
    pub log: TrainLog,
}

impl Resume {
    /// Checks that the state and the log are of one run of `cfg` that can go on: as many
    /// steps in the log as the state has taken (each step read one batch, so this is also
    /// the data position), no more than the config's, none diverged.
    fn check(&self, cfg: &TrainConfig, parameters: usize) -> Result<(), Error> {
        let bad = |message: String| Err(Error::data("resume", message));
        let (s, logged) = (&self.state, self.log.steps.len());
        if [s.params.len(), s.m.len(), s.v.len()] != [parameters; 3] {
            return bad(format!(
                "the state holds {} weights and {} and {} moments, the model has {parameters} parameters",
                s.params.len(),
                s.m.len(),
                s.v.len()
            ));
        }
        if s.step != logged {
            return bad(format!(
                "the state is after step {} but the log has {logged} steps",
                s.step
            ));
        }
        if logged > cfg.steps {
            return bad(format!(
                "{logged} steps taken, the config has {}",
                cfg.steps
            ));
        }
        if let Some(step) = self.log.diverged_at {
            return bad(format!(
                "the run diverged at step {step}: nothing to continue"
            ));
        }
        Ok(())
    }
}

/// The training log as a run goes: every step's loss (reported to `progress`) and every
/// evaluation.
struct Logger<'a> {
    log: TrainLog,
    tokens_per_step: usize,
    progress: &'a mut dyn FnMut(usize, f64) -> Result<(), Error>,
}

impl Observer for Logger<'_> {
    async fn losses(&mut self, _done: usize, losses: &[f64]) -> Result<(), Error> {
        // Every loss read back is logged before a stop is passed on: the engine has taken
        // those steps, and a resumed run goes on after them.
        let mut reported = Ok(());
        for &loss in losses {
            let s = self.log.steps.len() + 1;
            self.log.steps.push(s);
            self.log.tokens.push(s * self.tokens_per_step);
            self.log.train_loss.push(loss);
            if reported.is_ok() {
                reported = (self.progress)(s, loss);
            }
        }
        reported
    }

    async fn evaluated(&mut self, step: usize, loss: f64) -> Result<(), Error> {
        self.log.eval_steps.push(step);
        self.log.eval_loss.push(loss);
        Ok(())
    }
}

/// Trains on `engine` from a fresh init, or from `resume` (an interrupted run of the same
/// config, continued to the same weights and log bit for bit): the config's data, schedule
/// and AdamW, held-out evaluation every `eval_every` steps. `progress(step, train_loss)` is
/// called for every step (on the GPU in bursts, at each loss read-back); [`Error::Cancelled`]
/// from it stops training there (status `interrupted`). A non-finite loss or gradient stops
/// training before that step's update (`diverged_at` = that step, counting from 1), so the
/// parameters stay the last finite ones. Returns the engine's whole state after the last
/// step taken and the log.
pub async fn train(
    engine: &mut Engine<'_>,
    cfg: &TrainConfig,
    resume: Option<Resume>,
    progress: &mut dyn FnMut(usize, f64) -> Result<(), Error>,
) -> Result<(TrainState, TrainLog), Error> {
    let mut corpus = Corpus::new(cfg);
    let (state, log) = match resume {
        None => (
            TrainState::fresh(engine.layout().init(cfg.seed)),
            TrainLog::default(),
        ),
        Some(r) => {
            r.check(cfg, engine.layout().total)?;
            // The data position: the batches that the steps taken have read.
            for _ in 0..r.state.step {
                batch(corpus.train.as_mut(), cfg.batch, cfg.model.ctx);
            }
            (r.state, r.log)
        }
    };
    engine.load(&state)?;
    let lr = cfg.lr();
    let mut logger = Logger {
        log: TrainLog {
            status: RunStatus::Running,
            ..log
        },
        tokens_per_step: cfg.batch * cfg.model.ctx,
        progress,
    };
    let run = Stretch {
        source: corpus.train.as_mut(),
        lr: &lr,
        steps: state.step..cfg.steps,
        hyper: cfg.hyper(),
        eval: Some(Eval {
            every: cfg.eval_every,
            batches: &corpus.eval,
        }),
    };
    match engine.train(run, &mut logger).await {
        Ok(trained) => {
            logger.log.diverged_at = trained.diverged_at;
            logger.log.status = RunStatus::Done;
        }
        Err(Error::Cancelled) => {
            // The stop came at a read-back, before the evaluation due after that step, if
            // one was: it is taken now, so that a resumed run's log is an uninterrupted one's.
            let step = logger.log.steps.len();
            let due = step.is_multiple_of(cfg.eval_every) || step == cfg.steps;
            if step > 0 && due && logger.log.eval_steps.last() != Some(&step) {
                let loss = engine.evaluate(&corpus.eval).await?;
                logger.log.eval_steps.push(step);
                logger.log.eval_loss.push(loss);
            }
            logger.log.status = RunStatus::Interrupted;
        }
        Err(e) => return Err(e),
    }
    Ok((engine.state().await?, logger.log))
}

/// [`train`] on the CPU reference, from a fresh init or from `resume`: the engine's state
/// after the last step taken (weights, AdamW's moments and step) and the log.
pub fn train_cpu(
    cfg: &TrainConfig,
    resume: Option<Resume>,
    progress: &mut dyn FnMut(usize, f64) -> Result<(), Error>,
) -> Result<(TrainState, TrainLog), Error> {
    cfg.validate()?;
    let mut engine = Engine::cpu(&cfg.model, cfg.batch, cfg.micro_batches);
    run_ready(train(&mut engine, cfg, resume, progress))
}

/// [`train`] on a GPU (the config must be valid), from a fresh init or from `resume`.
pub async fn train_gpu(
    gpu: &Gpu,
    cfg: &TrainConfig,
    resume: Option<Resume>,
    progress: &mut dyn FnMut(usize, f64) -> Result<(), Error>,
) -> Result<(TrainState, TrainLog), Error> {
    let mut engine = Engine::gpu(gpu, &cfg.model, cfg.batch, cfg.eval_batches)?;
    train(&mut engine, cfg, resume, progress).await
}
