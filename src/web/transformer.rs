//! The transformer's wasm entry points: training in the page's Web Worker on WebGPU or on
//! the CPU reference (the fallback without an adapter), and the throughput benchmark.

use super::common::{now_ms, worker_gpu};
use super::values::{config_from_js, throw, to_js};
use crate::transformer::bench::{sizes, train_throughput, Throughput};
use crate::transformer::gpu::{memory_estimate, MemoryEstimate};
use crate::transformer::micro::DEFAULT_COUNT;
use crate::transformer::train::{train_cpu, train_gpu, TrainConfig, TrainLog};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// A finished training run, as [`train_transformer`] resolves to it.
#[derive(Serialize)]
struct Trained {
    log: TrainLog,
    /// Where it ran, in words: "WebGPU: <adapter>" or "CPU (wasm)".
    backend: String,
    memory: MemoryEstimate,
    elapsed_ms: f64,
}

/// Trains a transformer in this worker: `backend` "gpu" (this worker's WebGPU device, see
/// `init_gpu`) or "cpu". `progress(step, loss)` is called for every step. Resolves to
/// `{log, backend, memory, elapsed_ms}`; rejects with a config error for an invalid
/// config or a gpu error (limits, device loss).
#[wasm_bindgen]
pub async fn train_transformer(
    config: JsValue,
    backend: String,
    progress: js_sys::Function,
) -> Result<JsValue, JsValue> {
    let config = config_from_js(&config, TrainConfig::from_json)?;
    let memory = memory_estimate(&config.model, config.batch, config.eval_batches);
    let mut report = |step: usize, loss: f64| {
        let _ = progress.call2(&JsValue::NULL, &(step as f64).into(), &loss.into());
        Ok(())
    };
    let start = now_ms();
    let (_, log, name) = if backend == "gpu" {
        let gpu = worker_gpu()?;
        memory.fits(&gpu.limits).map_err(throw)?;
        let (state, log) = train_gpu(&gpu, &config, None, &mut report)
            .await
            .map_err(throw)?;
        (state.params, log, format!("WebGPU: {}", gpu.adapter.name))
    } else {
        let (state, log) = train_cpu(&config, None, &mut report).map_err(throw)?;
        (state.params, log, "CPU (wasm)".to_string())
    };
    to_js(&Trained {
        log,
        backend: name,
        memory,
        elapsed_ms: now_ms() - start,
    })
}

/// One model size's throughput on both paths, a row of [`bench_transformer`].
#[derive(Serialize)]
struct BenchRow {
    model: &'static str,
    webgpu: Throughput,
    cpu_wasm: Throughput,
}

/// Benchmark (not used by the page): training throughput of the benchmark's model sizes
/// (`only`: one of them, e.g. "0.1M") on this page's WebGPU device (opened here) and on
/// the CPU path, as rows `[{model, webgpu, cpu_wasm}]`.
#[wasm_bindgen]
pub async fn bench_transformer(
    batch: usize,
    steps: usize,
    only: Option<String>,
) -> Result<JsValue, JsValue> {
    let gpu = super::common::open_gpu().await?;
    let now = || now_ms();
    let mut rows = Vec::new();
    for (model, config) in sizes() {
        if only.as_deref().is_some_and(|o| o != model) {
            continue;
        }
        let webgpu = train_throughput(Some(&gpu), &config, batch, DEFAULT_COUNT, steps, &now)
            .await
            .map_err(throw)?;
        let cpu_wasm = train_throughput(None, &config, batch, DEFAULT_COUNT, steps, &now)
            .await
            .map_err(throw)?;
        rows.push(BenchRow {
            model,
            webgpu,
            cpu_wasm,
        });
    }
    to_js(&rows)
}
