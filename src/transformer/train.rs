//! Training on the CPU reference (science.md §3 "Training"): AdamW (β₁ 0.9, β₂ 0.95,
//! ε 1e-8; weight decay on weight matrices only), global-norm gradient clipping, and the
//! learning-rate schedules (linear warmup then cosine to zero; warmup–stable–decay;
//! constant), on the synthetic pre-training language. Deterministic from the seed,
//! including the data stream.

use super::config::ModelConfig;
use super::engine::{run_ready, Engine, Hyper, TrainState};
use crate::data::language::{Language, LanguageSpec};
use crate::data::{batch, ByteSource, Split};
use crate::error::{check_int, check_range, ConfigError};
use crate::gpu::{Gpu, GpuError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Schedule {
    /// Linear warmup, then cosine to zero (the paper's protocol).
    Cosine,
    /// Linear warmup, constant, then linear decay to zero over the last `decay_fraction`.
    Wsd { decay_fraction: f64 },
    /// Linear warmup, then constant.
    Constant,
}

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
        let config: TrainConfig = crate::error::parse_json(text, |_| None)?;
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

    /// The learning rate of step `step` (0-based) of `steps`.
    pub fn lr_at(&self, step: usize) -> f64 {
        let total = self.steps as f64;
        let s = step as f64 + 1.0;
        let warmup = (self.warmup_fraction * total).ceil();
        if s <= warmup {
            return self.lr * s / warmup;
        }
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Cosine => {
                let progress = (s - warmup) / (total - warmup).max(1.0);
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Schedule::Wsd { decay_fraction } => {
                let decay_start = total * (1.0 - decay_fraction);
                if s <= decay_start {
                    self.lr
                } else {
                    self.lr * ((total - s) / (total - decay_start).max(1.0)).max(0.0)
                }
            }
        }
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

/// Splits a batch of B rows of T + 1 bytes into inputs and next-byte targets.
pub fn inputs_and_targets(rows: &[u8], b: usize, t: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut x, mut y) = (Vec::with_capacity(b * t), Vec::with_capacity(b * t));
    for row in rows.chunks(t + 1).take(b) {
        x.extend_from_slice(&row[..t]);
        y.extend_from_slice(&row[1..]);
    }
    (x, y)
}

impl TrainConfig {
    /// The optimizer settings of this config (no L2 pull: pre-training).
    pub fn hyper(&self) -> Hyper {
        Hyper {
            weight_decay: self.weight_decay,
            grad_clip: self.grad_clip,
            l2: 0.0,
        }
    }
}

/// Trains from a fresh init on `engine`: the config's data, schedule and AdamW, held-out
/// evaluation every `eval_every` steps. `progress(step, train_loss)` is called for every
/// step (on the GPU in bursts, at each loss read-back). A non-finite loss or gradient
/// stops training before that step's update (`diverged_at` = that step, counting from 1),
/// so the parameters stay the last finite ones.
pub async fn train(
    engine: &mut Engine<'_>,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<(Vec<f32>, TrainLog), GpuError> {
    let layout = engine.layout().clone();
    engine.load(&TrainState::fresh(layout.init(cfg.seed)))?;
    let mut corpus = Corpus::new(cfg);
    let (b, t) = (cfg.batch, cfg.model.ctx);
    let h = cfg.hyper();
    let mut log = TrainLog::default();
    for step in 0..cfg.steps {
        let (x, y) = corpus.next_batch(b, t);
        engine.step(&x, &y, cfg.lr_at(step), &h).await?;
        let done = step + 1;
        let eval_due = done % cfg.eval_every == 0 || done == cfg.steps;
        if done % engine.readback_every() == 0 || eval_due {
            let taken = engine.take_losses().await?;
            for loss in taken.losses {
                let s = log.steps.len() + 1;
                log.steps.push(s);
                log.tokens.push(s * b * t);
                log.train_loss.push(loss);
                progress(s, loss);
            }
            if taken.diverged_at.is_some() {
                log.diverged_at = taken.diverged_at;
                break;
            }
            if eval_due {
                log.eval_steps.push(done);
                log.eval_loss.push(engine.evaluate(&corpus.eval).await?);
            }
        }
    }
    Ok((engine.params().await?, log))
}

/// [`train`] on the CPU reference.
pub fn train_cpu(
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<(Vec<f32>, TrainLog), ConfigError> {
    cfg.validate()?;
    let mut engine = Engine::cpu(&cfg.model, cfg.batch);
    let result = run_ready(train(&mut engine, cfg, progress));
    Ok(result.expect("the CPU engine does not fail"))
}

/// [`train`] on a GPU (the config must be valid).
pub async fn train_gpu(
    gpu: &Gpu,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<(Vec<f32>, TrainLog), GpuError> {
    let mut engine = Engine::gpu(gpu, &cfg.model, cfg.batch, cfg.eval_batches)?;
    train(&mut engine, cfg, progress).await
}
