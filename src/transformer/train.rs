//! Training on the CPU reference (science.md §3 "Training"): AdamW (β₁ 0.9, β₂ 0.95,
//! ε 1e-8; weight decay on weight matrices only), global-norm gradient clipping, and the
//! learning-rate schedules (linear warmup then cosine to zero; warmup–stable–decay;
//! constant), on the synthetic pre-training language. Deterministic from the seed,
//! including the data stream.

use super::config::ModelConfig;
use super::model::{backward, forward};
use super::params::Layout;
use crate::data::language::{Language, LanguageSpec};
use crate::data::{batch, ByteSource, Split};
use crate::error::{check_int, check_range, ConfigError};
use crate::gpu::kernels::AdamW;
use crate::gpu::reference::{adamw, step_guard};
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

/// Mean held-out loss over the fixed evaluation batches.
pub fn evaluate(cfg: &TrainConfig, layout: &Layout, params: &[f32], eval: &[Vec<u8>]) -> f64 {
    let (b, t) = (cfg.batch, cfg.model.ctx);
    let total: f64 = eval
        .iter()
        .map(|rows| {
            let (x, y) = inputs_and_targets(rows, b, t);
            forward(&cfg.model, layout, params, &x, &y, b, t).0
        })
        .sum();
    total / eval.len() as f64
}

/// Trains from a fresh init on the CPU. `progress(step, train_loss)` is called every step.
/// A non-finite loss or gradient stops training before that step's update
/// (`diverged_at` = that step, counting from 1), so the parameters stay the last finite ones.
pub fn train_cpu(
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(usize, f64),
) -> Result<(Vec<f32>, TrainLog), ConfigError> {
    cfg.validate()?;
    let layout = Layout::new(&cfg.model);
    let mut params = layout.init(cfg.seed);
    let mut grads = vec![0.0f32; layout.total];
    let (mut m, mut v) = (vec![0.0f32; layout.total], vec![0.0f32; layout.total]);
    let mut corpus = Corpus::new(cfg);
    let (b, t) = (cfg.batch, cfg.model.ctx);
    let mut log = TrainLog::default();
    for step in 0..cfg.steps {
        let (x, y) = corpus.next_batch(b, t);
        let (loss, acts) = forward(&cfg.model, &layout, &params, &x, &y, b, t);
        grads.fill(0.0);
        if loss.is_finite() {
            backward(&cfg.model, &layout, &params, &mut grads, &acts, &x, &y);
        }
        // The same guard as the GPU's (shaders/optimizer.wgsl): stop before updating.
        let (scale, diverged, _) = step_guard(&grads, loss, cfg.grad_clip);
        if diverged {
            log.diverged_at = Some(step + 1);
            break;
        }
        if scale != 1.0 {
            grads.iter_mut().for_each(|g| *g *= scale);
        }
        let lr = cfg.lr_at(step) as f32;
        for tensor in &layout.tensors {
            let r = tensor.range();
            let h = AdamW {
                lr,
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-8,
                weight_decay: if tensor.decay {
                    cfg.weight_decay as f32
                } else {
                    0.0
                },
                step: step as u32 + 1,
            };
            adamw(
                h,
                &mut params[r.clone()],
                &grads[r.clone()],
                &mut m[r.clone()],
                &mut v[r],
            );
        }
        log.steps.push(step + 1);
        log.tokens.push((step + 1) * b * t);
        log.train_loss.push(loss);
        progress(step + 1, loss);
        if (step + 1) % cfg.eval_every == 0 || step + 1 == cfg.steps {
            log.eval_steps.push(step + 1);
            log.eval_loss
                .push(evaluate(cfg, &layout, &params, &corpus.eval));
        }
    }
    Ok((params, log))
}
