//! `overtrain train` (science.md §3 "Training"): a training config, the pre-training
//! corpus with its held-out batches, and one training run on an [`Engine`] (AdamW, global-
//! norm clipping, the learning-rate [`Schedule`]) with periodic held-out evaluation.
//! Deterministic from the seed, including the data stream.

use super::config::ModelConfig;
use super::engine::{run_ready, Engine, Eval, Hyper, Observer, Stretch, TrainState};
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

/// The training log as a run goes: every step's loss (reported to `progress`) and every
/// evaluation.
struct Logger<'a> {
    log: TrainLog,
    tokens_per_step: usize,
    progress: &'a mut dyn FnMut(usize, f64) -> Result<(), Error>,
}

impl Observer for Logger<'_> {
    async fn losses(&mut self, _done: usize, losses: &[f64]) -> Result<(), Error> {
        for &loss in losses {
            let s = self.log.steps.len() + 1;
            self.log.steps.push(s);
            self.log.tokens.push(s * self.tokens_per_step);
            self.log.train_loss.push(loss);
            (self.progress)(s, loss)?;
        }
        Ok(())
    }

    async fn evaluated(&mut self, done: usize, loss: f64) -> Result<(), Error> {
        self.log.eval_steps.push(done);
        self.log.eval_loss.push(loss);
        Ok(())
    }
}

/// Trains from a fresh init on `engine`: the config's data, schedule and AdamW, held-out
/// evaluation every `eval_every` steps. `progress(step, train_loss)` is called for every
/// step (on the GPU in bursts, at each loss read-back); [`Error::Cancelled`] from it stops
/// training there (status `interrupted`, the weights so far). A non-finite loss or
/// gradient stops training before that step's update (`diverged_at` = that step, counting
/// from 1), so the parameters stay the last finite ones.
pub async fn train(
    engine: &mut Engine<'_>,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, f64) -> Result<(), Error>,
) -> Result<(Vec<f32>, TrainLog), Error> {
    let layout = engine.layout().clone();
    engine.load(&TrainState::fresh(layout.init(cfg.seed)))?;
    let mut corpus = Corpus::new(cfg);
    let lr = cfg.lr();
    let mut logger = Logger {
        log: TrainLog::default(),
        tokens_per_step: cfg.batch * cfg.model.ctx,
        progress,
    };
    let run = Stretch {
        source: corpus.train.as_mut(),
        lr: &lr,
        steps: 0..cfg.steps,
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
        Err(Error::Cancelled) => logger.log.status = RunStatus::Interrupted,
        Err(e) => return Err(e),
    }
    Ok((engine.params().await?, logger.log))
}

/// [`train`] on the CPU reference.
pub fn train_cpu(
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, f64) -> Result<(), Error>,
) -> Result<(Vec<f32>, TrainLog), Error> {
    cfg.validate()?;
    let mut engine = Engine::cpu(&cfg.model, cfg.batch);
    run_ready(train(&mut engine, cfg, progress))
}

/// [`train`] on a GPU (the config must be valid).
pub async fn train_gpu(
    gpu: &Gpu,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, f64) -> Result<(), Error>,
) -> Result<(Vec<f32>, TrainLog), Error> {
    let mut engine = Engine::gpu(gpu, &cfg.model, cfg.batch, cfg.eval_batches)?;
    train(&mut engine, cfg, progress).await
}
