//! The linear lab's entry points: validation, a whole run or one shard of it on the CPU,
//! a run on this worker's WebGPU device, merging shards, and the four plots.

use super::common::{now_ms, throw, worker_gpu};
use crate::backend::BackendChoice;
use crate::error::Error;
use crate::gpu::Gpu;
use crate::linear::{self, LinearConfig, LinearResults};
use crate::plot::{self, PlotOptions};
use wasm_bindgen::prelude::*;

/// The default config (science.md's reference run), as pretty JSON.
#[wasm_bindgen]
pub fn default_linear_config() -> String {
    serde_json::to_string_pretty(&LinearConfig::default()).expect("plain data")
}

/// `null` when the config is valid, else `{kind: "config", field, message}`.
#[wasm_bindgen]
pub fn validate_linear_config(config_json: &str) -> JsValue {
    match LinearConfig::from_json(config_json) {
        Ok(_) => JsValue::NULL,
        Err(e) => throw(e),
    }
}

/// The multiply-adds a (valid) run of the config makes — pre-training, the perturbation
/// draws and every fine-tuning run, as the work cap counts them (`LinearConfig::work`) —
/// for the page's estimate before it runs; throws a config error for an invalid config.
#[wasm_bindgen]
pub fn linear_work(config_json: &str) -> Result<f64, JsValue> {
    Ok(LinearConfig::from_json(config_json).map_err(throw)?.work())
}

/// Runs the linear lab. Returns the results JSON, or throws `{kind: "config", field, message}`.
#[wasm_bindgen]
pub fn run_linear(config_json: &str) -> Result<String, JsValue> {
    let config = LinearConfig::from_json(config_json).map_err(throw)?;
    let start = now_ms();
    let mut results = linear::run(&config).map_err(throw)?;
    results.elapsed_ms = Some(now_ms() - start);
    results.backend = Some(linear::results::BackendInfo::cpu(None));
    Ok(serde_json::to_string(&results).expect("plain data"))
}

/// Shard `shard` of `shards` of a run (see `linear::experiment::run_shard`): the page runs
/// one per Web Worker, in parallel, and merges them with [`merge_linear_shards`].
#[wasm_bindgen]
pub fn run_linear_shard(config_json: &str, shard: usize, shards: usize) -> Result<String, JsValue> {
    let config = LinearConfig::from_json(config_json).map_err(throw)?;
    let start = now_ms();
    let mut results = linear::experiment::run_shard(&config, shard, shards).map_err(throw)?;
    results.elapsed_ms = Some(now_ms() - start);
    results.backend = Some(linear::results::BackendInfo::cpu(None));
    Ok(serde_json::to_string(&results).expect("plain data"))
}

/// Merges the shards' results (a JSON array of results, in shard order) into the run's.
#[wasm_bindgen]
pub fn merge_linear_shards(parts_json: &str) -> Result<String, JsValue> {
    let parts: Vec<LinearResults> = serde_json::from_str(parts_json)
        .map_err(|e| throw(Error::data("shards", e.to_string())))?;
    let merged =
        linear::experiment::merge_shards(parts).map_err(|e| throw(Error::data("shards", e)))?;
    Ok(serde_json::to_string(&merged).expect("plain data"))
}

/// Runs the linear lab on this worker's WebGPU device (see [`init_gpu`]). Resolves to the
/// results JSON; rejects with a config error, or a gpu error (limits, validation, device
/// loss) so the page can offer the CPU.
#[wasm_bindgen]
pub async fn run_linear_gpu(config_json: String) -> Result<String, JsValue> {
    let config = LinearConfig::from_json(&config_json).map_err(throw)?;
    let gpu = worker_gpu()?;
    let start = now_ms();
    let mut results = linear::run_on(&config, BackendChoice::Gpu, Some(&gpu))
        .await
        .map_err(throw)?;
    results.elapsed_ms = Some(now_ms() - start);
    Ok(serde_json::to_string(&results).expect("plain data"))
}

/// The four plots of a results JSON as `[[name, svg], …]`. `options_json` is a
/// [`PlotOptions`] (omitted fields take defaults).
#[wasm_bindgen]
pub fn render_linear_plots(results_json: &str, options_json: &str) -> Result<JsValue, JsValue> {
    let results: LinearResults = serde_json::from_str(results_json)
        .map_err(|e| throw(Error::data("results", e.to_string())))?;
    let options: PlotOptions = serde_json::from_str(options_json)
        .map_err(|e| throw(Error::data("plot options", e.to_string())))?;
    let plots = plot::linear::all_plots(&results, &options);
    serde_wasm_bindgen::to_value(&plots).map_err(|e| throw(Error::Io(e.to_string())))
}

/// Benchmark (not used by the page): square matmul GFLOP/s on this worker's or page's
/// WebGPU device (opened here) and on the CPU path, as `[gpu, cpu]`.
#[wasm_bindgen]
pub async fn bench_matmul(n: usize) -> Result<Vec<f64>, JsValue> {
    let gpu = Gpu::new().await.map_err(throw)?;
    let now = || now_ms();
    let reps = crate::gpu::bench::reps_for(n, 2e8);
    let g = crate::gpu::bench::gpu_matmul_gflops(&gpu, n, reps, &now)
        .await
        .map_err(throw)?;
    let c = crate::gpu::bench::cpu_matmul_gflops(n, reps, &now);
    Ok(vec![g, c])
}
