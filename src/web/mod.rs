//! The wasm entry points (wasm-bindgen). The page's Web Worker calls [`run_linear`]; the
//! page's main thread calls [`validate_linear_config`] for instant feedback and
//! [`render_linear_plots`] to draw (plotters measures text through the DOM, which a worker
//! lacks). Configs and results cross the boundary as JSON text: that is also the format the
//! CLI writes and the page exports, so there is one serialization to trust.
//!
//! Errors are values: every entry point throws (and `validate_*` returns) the crate's
//! [`Error`] as `{kind, message, field?}` (kind: config, gpu, data, cancelled, io), never a
//! panic, so the page decides by the kind what to show. A panic (a bug) is reported
//! through `globalThis.__overtrainPanic` before the wasm traps, so the page can show it and
//! reload the module.

use crate::backend::{resolve_backend as resolve, BackendChoice};
use crate::error::Error;
use crate::gpu::{AdapterSummary, Gpu, GpuError};
use crate::linear::{self, LinearConfig, LinearResults};
use crate::plot::{self, PlotOptions};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

mod experiment;
mod transformer;
pub use experiment::*;
pub use transformer::*;

#[wasm_bindgen]
extern "C" {
    /// Set by the JS side before the module starts; shows the message in the page.
    #[wasm_bindgen(js_namespace = globalThis, js_name = __overtrainPanic)]
    fn report_panic(message: &str);
}

#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        report_panic(&info.to_string());
    }));
}

/// The error as the page receives it: `{kind, message, field?}`.
pub(crate) fn throw(e: impl Into<Error>) -> JsValue {
    let value = e.into().value();
    serde_wasm_bindgen::to_value(&value).unwrap_or_else(|_| JsValue::from_str(&value.message))
}

/// Every config field of both labs (label, help, kind, range) and the transformer lab's
/// presets, as JSON (see [`crate::schema`]): the page builds its forms from it.
#[wasm_bindgen]
pub fn field_schema() -> String {
    serde_json::to_string(&crate::schema::schema()).expect("plain data")
}

/// Where a run goes (see [`crate::backend::resolve_backend`]): `choice` "auto", "gpu" or
/// "cpu"; `adapter` what [`init_gpu`] resolved to, or null without WebGPU; `fits` whether
/// the run fits its limits. Returns `{backend: "cpu" | "gpu", reason: string | null}`.
#[wasm_bindgen]
pub fn resolve_backend(choice: &str, adapter: JsValue, fits: bool) -> JsValue {
    let choice: BackendChoice = choice.parse().unwrap_or(BackendChoice::Auto);
    let adapter: Option<AdapterSummary> = serde_wasm_bindgen::from_value(adapter).ok().flatten();
    let resolved = resolve(choice, adapter.as_ref(), fits);
    serde_wasm_bindgen::to_value(&resolved).unwrap_or(JsValue::NULL)
}

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

thread_local! {
    /// This worker's WebGPU device, opened once by [`init_gpu`].
    static GPU: RefCell<Option<Rc<Gpu>>> = const { RefCell::new(None) };
}

/// Opens this worker's WebGPU device. Resolves to the adapter's description (name,
/// backend, device type, `software`, limits); rejects with a message when WebGPU is absent
/// or the adapter refuses a device.
///
/// wgpu cannot see the name browsers give in `GPUAdapter.info` (vendor, architecture), so
/// the worker passes it as `description`; `software` marks a software rasterizer it knows.
#[wasm_bindgen]
pub async fn init_gpu(description: String, software: bool) -> Result<JsValue, JsValue> {
    let mut gpu = Gpu::new().await.map_err(throw)?;
    if !description.is_empty() {
        gpu.adapter.name = description;
    }
    gpu.adapter.software |= software;
    let summary =
        serde_wasm_bindgen::to_value(&gpu.adapter).map_err(|e| throw(Error::Io(e.to_string())))?;
    GPU.with(|slot| *slot.borrow_mut() = Some(Rc::new(gpu)));
    Ok(summary)
}

/// This worker's WebGPU device, if [`init_gpu`] opened one.
fn worker_gpu() -> Result<Rc<Gpu>, JsValue> {
    GPU.with(|slot| slot.borrow().clone()).ok_or_else(|| {
        throw(GpuError::NoAdapter(
            "WebGPU was not initialized in this worker".into(),
        ))
    })
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

/// Milliseconds from `performance.now()` in a window or a worker (std's clock panics on
/// wasm32-unknown-unknown).
fn now_ms() -> f64 {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("performance"))
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
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
