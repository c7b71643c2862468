//! The transformer lab's wasm entry points: presets, validation, the cost estimate, the
//! experiment itself (in the page's Web Worker, on WebGPU or the CPU, with progress,
//! pause/resume/cancel through the host's `progress` promise, partial results and
//! checkpoints), and its plots (on the page's main thread).

use super::common::{now_ms, throw, worker_gpu};
use crate::error::Error;
use crate::experiment::{
    self, config::PRESETS, ExperimentConfig, ExperimentResults, Host, Progress,
};
use crate::transformer::bench::train_throughput;
use crate::transformer::checkpoint::to_safetensors;
use crate::transformer::engine::Engine;
use crate::transformer::gpu::memory_estimate;
use crate::transformer::params::Layout;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Every preset's config: `{"quick": {…}, "paper": {…}, "micro": {…}}` as JSON.
#[wasm_bindgen]
pub fn experiment_presets() -> String {
    let map: serde_json::Map<String, serde_json::Value> = PRESETS
        .iter()
        .map(|&name| {
            let c = ExperimentConfig::preset(name).expect("a preset");
            (
                name.to_string(),
                serde_json::to_value(c).expect("plain data"),
            )
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// `null` when the experiment config is valid, else `{kind: "config", field, message}`.
#[wasm_bindgen]
pub fn validate_experiment_config(config_json: &str) -> JsValue {
    match ExperimentConfig::from_json(config_json) {
        Ok(_) => JsValue::NULL,
        Err(e) => throw(e),
    }
}

/// What an experiment costs before it starts: `{parameters, tokens, flops, work_steps,
/// tokens_per_step, memory}` as JSON (memory: the GPU path's buffers); throws `{field,
/// message}` for an invalid config.
#[wasm_bindgen]
pub fn estimate_experiment(config_json: &str) -> Result<String, JsValue> {
    let c = ExperimentConfig::from_json(config_json).map_err(throw)?;
    let (tokens, flops) = experiment::cost(&c);
    Ok(serde_json::json!({
        "parameters": Layout::new(&c.model).total,
        "tokens": tokens,
        "flops": flops,
        "work_steps": experiment::work_total(&c),
        "tokens_per_step": c.tokens_per_step(),
        "memory": memory_estimate(&c.model, c.batch, c.eval_batches),
    })
    .to_string())
}

/// Measures this worker's training throughput (tokens/s) for the config's model on
/// `backend` ("gpu": this worker's device; checks its limits first), over 2 steps.
#[wasm_bindgen]
pub async fn probe_experiment(config_json: String, backend: String) -> Result<f64, JsValue> {
    let c = ExperimentConfig::from_json(&config_json).map_err(throw)?;
    let now = || now_ms();
    let gpu = if backend == "gpu" {
        Some(worker_gpu()?)
    } else {
        None
    };
    if let Some(g) = &gpu {
        memory_estimate(&c.model, c.batch, c.eval_batches)
            .fits(&g.limits)
            .map_err(throw)?;
    }
    let t = train_throughput(gpu.as_deref(), &c.model, c.batch, 2, &now)
        .await
        .map_err(throw)?;
    Ok(t.tokens_per_second)
}

/// The page worker's host: calls `host.progress(progressJSON)`, which returns nothing (go
/// on) or a promise of a boolean (false: cancel) — the worker yields to its event loop
/// there, so pause and cancel messages get through; `host.partial(resultsJSON)` after each
/// budget; `host.checkpoint(budgetIndex, safetensorsBytes)`.
struct PageHost {
    host: JsValue,
    config: ExperimentConfig,
}

fn method(obj: &JsValue, name: &str) -> Option<js_sys::Function> {
    js_sys::Reflect::get(obj, &JsValue::from_str(name))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
}

impl Host for PageHost {
    async fn progress(&mut self, p: &Progress) -> Result<(), Error> {
        let Some(f) = method(&self.host, "progress") else {
            return Ok(());
        };
        let text = serde_json::to_string(p).expect("plain data");
        let out = f
            .call1(&self.host, &JsValue::from_str(&text))
            .map_err(|_| Error::Cancelled)?;
        if let Ok(promise) = out.dyn_into::<js_sys::Promise>() {
            let go_on = wasm_bindgen_futures::JsFuture::from(promise)
                .await
                .map_err(|_| Error::Cancelled)?;
            if go_on.as_bool() == Some(false) {
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    }
    fn budget_done(&mut self, partial: &ExperimentResults) {
        if let Some(f) = method(&self.host, "partial") {
            let text = serde_json::to_string(partial).expect("plain data");
            let _ = f.call1(&self.host, &JsValue::from_str(&text));
        }
    }
    fn checkpoint(&mut self, budget_index: usize, params: &[f32]) {
        if let Some(f) = method(&self.host, "checkpoint") {
            let layout = Layout::new(&self.config.model);
            let bytes = to_safetensors(&self.config.model, &layout, params);
            let array = js_sys::Uint8Array::from(bytes.as_slice());
            let _ = f.call2(&self.host, &(budget_index as f64).into(), &array);
        }
    }
    fn now_ms(&self) -> f64 {
        now_ms()
    }
}

/// Runs an experiment in this worker on `backend` ("gpu": this worker's WebGPU device, or
/// "cpu"). `resume_json`: the partial results of an unfinished run of the same config,
/// whose finished budgets are kept. Resolves to the results JSON; rejects with a config
/// error, a data error (`resume…`: results that do not belong to this config), a cancelled
/// error when the host cancelled, or a gpu error.
#[wasm_bindgen]
pub async fn run_experiment(
    config_json: String,
    backend: String,
    host: JsValue,
    resume_json: Option<String>,
) -> Result<String, JsValue> {
    let config = ExperimentConfig::from_json(&config_json).map_err(throw)?;
    let resume = match resume_json {
        Some(text) => {
            let earlier: ExperimentResults = serde_json::from_str(&text).map_err(|e| {
                throw(Error::data(
                    "resume",
                    format!("the saved results are not an experiment's: {e}"),
                ))
            })?;
            Some(earlier.resume_for(&config).map_err(throw)?)
        }
        None => None,
    };
    let gpu = if backend == "gpu" {
        Some(worker_gpu()?)
    } else {
        None
    };
    let mut engine = match &gpu {
        Some(g) => {
            Engine::gpu(g, &config.model, config.batch, config.eval_batches).map_err(throw)?
        }
        None => Engine::cpu(&config.model, config.batch),
    };
    let mut page = PageHost {
        host,
        config: config.clone(),
    };
    let results = experiment::run(&config, &mut engine, &mut page, resume)
        .await
        .map_err(throw)?;
    Ok(serde_json::to_string(&results).expect("plain data"))
}

/// The five plots as `[[name, svg], …]`: of `results_json` (a live run, possibly
/// unfinished), with `recorded_json` (a recorded run of the same config) drawn dashed beside
/// it; either may be absent.
#[wasm_bindgen]
pub fn render_experiment_plots(
    results_json: Option<String>,
    recorded_json: Option<String>,
) -> Result<JsValue, JsValue> {
    let parse = |text: Option<String>, what: &str| -> Result<Option<ExperimentResults>, JsValue> {
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| throw(Error::data(what, e.to_string())))
    };
    let live = parse(results_json, "results JSON")?;
    let recorded = parse(recorded_json, "recorded results JSON")?;
    let plots = crate::plot::experiment::all_plots(live.as_ref(), recorded.as_ref());
    serde_wasm_bindgen::to_value(&plots).map_err(|e| throw(Error::Io(e.to_string())))
}
