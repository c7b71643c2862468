//! The linear lab's entry points: validation, a whole run or one shard of it on the CPU,
//! a run on this worker's WebGPU device, merging shards, and the four plots. Configs and
//! results cross as JavaScript values (see [`super::values`]).

use super::common::{now_ms, worker_gpu};
use super::values::{config_from_js, from_js, throw, to_js};
use crate::backend::BackendChoice;
use crate::error::Error;
use crate::linear::{self, LinearConfig, LinearResults};
use crate::plot::{self, PlotOptions};
use wasm_bindgen::prelude::*;

/// The default config (science.md's reference run).
#[wasm_bindgen]
pub fn default_linear_config() -> Result<JsValue, JsValue> {
    to_js(&LinearConfig::default())
}

/// The linear config the page passed, checked (throws a config error naming the field).
fn linear_config(config: &JsValue) -> Result<LinearConfig, JsValue> {
    config_from_js(config, LinearConfig::from_json)
}

/// `null` when the config is valid, else `{kind: "config", field, message}`.
#[wasm_bindgen]
pub fn validate_linear_config(config: JsValue) -> JsValue {
    match linear_config(&config) {
        Ok(_) => JsValue::NULL,
        Err(e) => e,
    }
}

/// The multiply-adds a (valid) run of the config makes — pre-training, the perturbation
/// draws and every fine-tuning run, as the work cap counts them (`LinearConfig::work`) —
/// for the page's estimate before it runs; throws a config error for an invalid config.
#[wasm_bindgen]
pub fn linear_work(config: JsValue) -> Result<f64, JsValue> {
    Ok(linear_config(&config)?.work())
}

/// Runs the linear lab. Returns the results, or throws `{kind: "config", field, message}`.
#[wasm_bindgen]
pub fn run_linear(config: JsValue) -> Result<JsValue, JsValue> {
    let config = linear_config(&config)?;
    let start = now_ms();
    let mut results = linear::run(&config).map_err(throw)?;
    results.elapsed_ms = Some(now_ms() - start);
    results.backend = Some(linear::results::BackendInfo::cpu(None));
    to_js(&results)
}

/// Shard `shard` of `shards` of a run (see `linear::experiment::run_shard`): the page runs
/// one per Web Worker, in parallel, and merges them with [`merge_linear_shards`].
#[wasm_bindgen]
pub fn run_linear_shard(config: JsValue, shard: usize, shards: usize) -> Result<JsValue, JsValue> {
    let config = linear_config(&config)?;
    let start = now_ms();
    let mut results = linear::experiment::run_shard(&config, shard, shards).map_err(throw)?;
    results.elapsed_ms = Some(now_ms() - start);
    results.backend = Some(linear::results::BackendInfo::cpu(None));
    to_js(&results)
}

/// Merges the shards' results (an array of results, in shard order) into the run's.
#[wasm_bindgen]
pub fn merge_linear_shards(parts: JsValue) -> Result<JsValue, JsValue> {
    let parts: Vec<LinearResults> = from_js(parts, "shards")?;
    let merged =
        linear::experiment::merge_shards(parts).map_err(|e| throw(Error::data("shards", e)))?;
    to_js(&merged)
}

/// Runs the linear lab on this worker's WebGPU device (see [`super::init_gpu`]). Resolves
/// to the results; rejects with a config error, or a gpu error (limits, validation, device
/// loss) so the page can offer the CPU.
#[wasm_bindgen]
pub async fn run_linear_gpu(config: JsValue) -> Result<JsValue, JsValue> {
    let config = linear_config(&config)?;
    let gpu = worker_gpu()?;
    let start = now_ms();
    let mut results = linear::run_on(&config, BackendChoice::Gpu, Some(&gpu))
        .await
        .map_err(throw)?;
    results.elapsed_ms = Some(now_ms() - start);
    to_js(&results)
}

/// The text of a linear run's results file, as the CLI writes it (serde_json): the page's
/// download.
#[wasm_bindgen]
pub fn linear_results_json(results: JsValue) -> Result<String, JsValue> {
    let results: LinearResults = from_js(results, "results")?;
    serde_json::to_string(&results).map_err(|e| throw(Error::data("results", e.to_string())))
}

/// The four plots of a run's results as `[[name, svg], …]`. `options` is a
/// [`PlotOptions`] (omitted fields take defaults).
#[wasm_bindgen]
pub fn render_linear_plots(results: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    let results: LinearResults = from_js(results, "results")?;
    let options: PlotOptions = from_js(options, "plot options")?;
    to_js(&plot::linear::all_plots(&results, &options))
}

/// Benchmark (not used by the page): square matmul GFLOP/s on this worker's or page's
/// WebGPU device (opened here) and on the CPU path, as `[gpu, cpu]`.
#[wasm_bindgen]
pub async fn bench_matmul(n: usize) -> Result<Vec<f64>, JsValue> {
    let gpu = super::common::open_gpu().await?;
    let now = || now_ms();
    let reps = crate::gpu::bench::reps_for(n, 2e8);
    let g = crate::gpu::bench::gpu_matmul_gflops(&gpu, n, reps, &now)
        .await
        .map_err(throw)?;
    let c = crate::gpu::bench::cpu_matmul_gflops(n, reps, &now);
    Ok(vec![g, c])
}
