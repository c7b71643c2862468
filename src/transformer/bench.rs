//! Training throughput (a benchmark, not a test), shared by the native example
//! `bench_train` and the wasm entry point `bench_transformer`, so both measure the same
//! thing: tokens per second over whole training steps (forward, backward, clip, AdamW) on
//! the synthetic corpus, after one warm-up step, the clock stopped after the losses of
//! the timed steps have been read back. `now` is a clock in milliseconds.

use super::config::{Mlp, ModelConfig, Norm, Pos};
use super::engine::{Engine, Stretch, TrainState};
use super::gpu::{memory_estimate, GpuModel};
use super::params::Layout;
use super::train::{Corpus, TrainConfig};
use crate::error::Error;
use crate::gpu::Gpu;
use serde::Serialize;

/// The benchmark's model sizes: about 0.1M, 0.5M and 2M parameters (GPT-2 shaped:
/// LayerNorm, GELU, learned positions, tied embeddings, d_ff = 4·d_model), context 64.
pub fn sizes() -> Vec<(&'static str, ModelConfig)> {
    let model = |n_layer, d_model, n_head| ModelConfig {
        n_layer,
        d_model,
        n_head,
        d_ff: 4 * d_model,
        ctx: 64,
        norm: Norm::Layernorm,
        mlp: Mlp::Gelu,
        pos: Pos::Learned,
        tie_embeddings: true,
    };
    vec![
        ("0.1M", model(2, 64, 4)),
        ("0.5M", model(2, 128, 4)),
        ("2M", model(2, 256, 8)),
    ]
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub parameters: usize,
    pub batch: usize,
    pub ctx: usize,
    pub steps: usize,
    pub tokens_per_second: f64,
    pub ms_per_step: f64,
    /// GPU only: compute dispatches in one training step.
    pub dispatches_per_step: Option<usize>,
    /// What the GPU path allocates for this model and batch.
    pub memory_bytes: u64,
}

/// Times `steps` training steps of `model` with batches of `batch` sequences (the CPU's in
/// `micro_batches` parts), on the CPU reference (`gpu` = None) or on a GPU.
pub async fn train_throughput(
    gpu: Option<&Gpu>,
    model: &ModelConfig,
    batch: usize,
    micro_batches: usize,
    steps: usize,
    now: &dyn Fn() -> f64,
) -> Result<Throughput, Error> {
    let cfg = TrainConfig {
        model: model.clone(),
        batch,
        micro_batches,
        steps: steps + 1,
        eval_every: steps + 1,
        eval_batches: 1,
        ..TrainConfig::default()
    };
    let mut engine = match gpu {
        Some(g) => Engine::gpu(g, model, batch, 1)?,
        None => Engine::cpu(model, batch, cfg.micro_batches),
    };
    let layout = Layout::new(model);
    engine.load(&TrainState::fresh(layout.init(0)))?;
    let mut corpus = Corpus::new(&cfg);
    let lr = cfg.lr();
    // One warm-up step (pipelines compiled, buffers touched), then the timed steps; each
    // stretch ends with its losses read back.
    let warm_up = Stretch {
        source: corpus.train_source(),
        lr: &lr,
        steps: 0..1,
        hyper: cfg.hyper(),
        eval: None,
    };
    engine.train(warm_up, &mut ()).await?;
    let start = now();
    let timed = Stretch {
        source: corpus.train_source(),
        lr: &lr,
        steps: 1..steps + 1,
        hyper: cfg.hyper(),
        eval: None,
    };
    engine.train(timed, &mut ()).await?;
    let ms = (now() - start).max(1e-3);
    let dispatches = match gpu {
        Some(g) => Some(GpuModel::new(g, model, batch, 1)?.dispatches(false).total()),
        None => None,
    };
    let tokens = (steps * batch * model.ctx) as f64;
    Ok(Throughput {
        parameters: layout.total,
        batch,
        ctx: model.ctx,
        steps,
        tokens_per_second: tokens / (ms / 1e3),
        ms_per_step: ms / steps as f64,
        dispatches_per_step: dispatches,
        memory_bytes: memory_estimate(model, batch, 1).total(),
    })
}
