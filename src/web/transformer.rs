//! The transformer's wasm entry points: training in the page's Web Worker on WebGPU or on
//! the CPU reference (the fallback without an adapter), and the throughput benchmark.

use super::common::{now_ms, throw, worker_gpu};
use crate::gpu::Gpu;
use crate::transformer::bench::{sizes, train_throughput};
use crate::transformer::gpu::memory_estimate;
use crate::transformer::train::{train_cpu, train_gpu, TrainConfig};
use wasm_bindgen::prelude::*;

/// The default training config, as pretty JSON.
#[wasm_bindgen]
pub fn default_train_config() -> String {
    serde_json::to_string_pretty(&TrainConfig::default()).expect("plain data")
}

/// `null` when the training config is valid, else `{kind: "config", field, message}`.
#[wasm_bindgen]
pub fn validate_train_config(config_json: &str) -> JsValue {
    match TrainConfig::from_json(config_json) {
        Ok(_) => JsValue::NULL,
        Err(e) => throw(e),
    }
}

/// Trains a transformer in this worker: `backend` "gpu" (this worker's WebGPU device, see
/// `init_gpu`) or "cpu". `progress(step, loss)` is called for every step. Resolves to
/// `{log, backend, memory, elapsed_ms}` as JSON; rejects with a config error for an
/// invalid config or a gpu error (limits, device loss).
#[wasm_bindgen]
pub async fn train_transformer(
    config_json: String,
    backend: String,
    progress: js_sys::Function,
) -> Result<String, JsValue> {
    let config = TrainConfig::from_json(&config_json).map_err(throw)?;
    let memory = memory_estimate(&config.model, config.batch, config.eval_batches);
    let mut report = |step: usize, loss: f64| {
        let _ = progress.call2(&JsValue::NULL, &(step as f64).into(), &loss.into());
        Ok(())
    };
    let start = now_ms();
    let (_, log, name) = if backend == "gpu" {
        let gpu = worker_gpu()?;
        memory.fits(&gpu.limits).map_err(throw)?;
        let (params, log) = train_gpu(&gpu, &config, &mut report).await.map_err(throw)?;
        (params, log, format!("WebGPU: {}", gpu.adapter.name))
    } else {
        let (params, log) = train_cpu(&config, &mut report).map_err(throw)?;
        (params, log, "CPU (wasm)".to_string())
    };
    let out = serde_json::json!({
        "log": log,
        "backend": name,
        "memory": memory,
        "elapsed_ms": now_ms() - start,
    });
    Ok(out.to_string())
}

/// Benchmark (not used by the page): training throughput of the benchmark's model sizes
/// (`only`: one of them, e.g. "0.1M") on this page's WebGPU device (opened here) and on
/// the CPU path, as JSON rows.
#[wasm_bindgen]
pub async fn bench_transformer(
    batch: usize,
    steps: usize,
    only: Option<String>,
) -> Result<String, JsValue> {
    let gpu = Gpu::new().await.map_err(throw)?;
    let now = || now_ms();
    let mut rows = Vec::new();
    for (name, model) in sizes() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let g = train_throughput(Some(&gpu), &model, batch, steps, &now)
            .await
            .map_err(throw)?;
        let c = train_throughput(None, &model, batch, steps, &now)
            .await
            .map_err(throw)?;
        rows.push(serde_json::json!({"model": name, "webgpu": g, "cpu_wasm": c}));
    }
    Ok(serde_json::Value::Array(rows).to_string())
}
