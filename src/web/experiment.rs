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
/// tokens_per_step, memory, workers, steps_on_workers}` as JSON (memory: the GPU path's
/// buffers; `steps_on_workers`: the time of its units on `workers` workers, in steps of
/// one, as [`ExperimentSchedule`] hands them out); throws `{field, message}` for an invalid
/// config.
#[wasm_bindgen]
pub fn estimate_experiment(config_json: &str, workers: Option<usize>) -> Result<String, JsValue> {
    let workers = workers.unwrap_or(1).max(1);
    let c = ExperimentConfig::from_json(config_json).map_err(throw)?;
    let (tokens, flops) = experiment::cost(&c);
    Ok(serde_json::json!({
        "parameters": Layout::new(&c.model).total,
        "tokens": tokens,
        "flops": flops,
        "work_steps": experiment::work_total(&c),
        "tokens_per_step": c.tokens_per_step(),
        "memory": memory_estimate(&c.model, c.batch, c.eval_batches),
        "workers": workers,
        "steps_on_workers": experiment::plan::makespan(&c, workers, 0),
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
        let text = serde_json::to_string(p).expect("plain data");
        await_host(&self.host, &text).await
    }
    fn budget_done(&mut self, partial: &ExperimentResults) {
        if let Some(f) = method(&self.host, "partial") {
            let text = serde_json::to_string(partial).expect("plain data");
            let _ = f.call1(&self.host, &JsValue::from_str(&text));
        }
    }
    fn checkpoint(&mut self, variant: usize, budget_index: usize, params: &[f32]) {
        if let Some(f) = method(&self.host, "checkpoint") {
            let Some(model) = self
                .config
                .variants()
                .ok()
                .and_then(|v| v.get(variant).map(|c| c.model.clone()))
            else {
                return;
            };
            let layout = Layout::new(&model);
            let bytes = to_safetensors(&model, &layout, params);
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
        Some(text) => Some(resume_of(&text, &config)?),
        None => None,
    };
    let gpu = if backend == "gpu" {
        Some(worker_gpu()?)
    } else {
        None
    };
    let mut engines = match &gpu {
        Some(g) => experiment::Engines::gpu(g),
        None => experiment::Engines::cpu(),
    };
    let mut page = PageHost {
        host,
        config: config.clone(),
    };
    let results = experiment::run(&config, &mut engines, &mut page, resume)
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
    let plots =
        crate::plot::experiment::all_plots(live.as_ref(), recorded.as_ref(), &Default::default());
    serde_wasm_bindgen::to_value(&plots).map_err(|e| throw(Error::Io(e.to_string())))
}

/// An experiment's schedule on the page's main thread, so that its units run on a pool of
/// Web Workers (each with [`run_experiment_unit`]): `next()` hands out a ready unit,
/// `progress()` turns a unit's report into the experiment's, `done()` takes a unit's output
/// and returns what it completes. The numbers are those of a run on one worker, bit for
/// bit, whatever the pool's size (see [`crate::experiment::Scheduler`]).
#[wasm_bindgen]
pub struct ExperimentSchedule {
    schedule: experiment::Scheduler,
    config: ExperimentConfig,
}

#[wasm_bindgen]
impl ExperimentSchedule {
    /// The schedule of `config_json` (backend: what the results say ran them, e.g. "CPU")
    /// for `workers` workers (which unit goes first depends on it, never a number);
    /// `resume_json`: the partial results of an unfinished run of the same config. Throws a
    /// config error, or a data error (`resume…`) for results of another config.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config_json: &str,
        backend: &str,
        resume_json: Option<String>,
        workers: Option<usize>,
    ) -> Result<ExperimentSchedule, JsValue> {
        let config = ExperimentConfig::from_json(config_json).map_err(throw)?;
        let resume = match resume_json {
            Some(text) => Some(resume_of(&text, &config)?),
            None => None,
        };
        let mut schedule =
            experiment::Scheduler::new(&config, resume, backend, now_ms()).map_err(throw)?;
        schedule.workers = workers.unwrap_or(1).max(1);
        Ok(ExperimentSchedule { schedule, config })
    }

    /// The unit an idle worker runs next, as JSON `{unit, input}` (`input`: the output of
    /// the unit it starts from, or null); undefined when none is ready now. (Named for
    /// JavaScript, which calls `schedule.next()`; not an iterator: it depends on what
    /// the workers have finished.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<String> {
        let (unit, input) = self.schedule.take_ready()?;
        Some(serde_json::json!({"unit": unit, "input": input}).to_string())
    }

    /// Whether every unit is done.
    pub fn finished(&self) -> bool {
        self.schedule.finished()
    }

    /// Units handed out and not done.
    pub fn running(&self) -> usize {
        self.schedule.running()
    }

    /// The experiment's progress (JSON) after a running unit's report (JSON, from
    /// [`run_experiment_unit`]'s host).
    pub fn progress(&mut self, unit_json: &str, report_json: &str) -> Result<String, JsValue> {
        let unit: experiment::Job = parse(unit_json, "unit")?;
        let report: experiment::UnitProgress = parse(report_json, "progress")?;
        let p = self.schedule.progress(&unit, &report);
        Ok(serde_json::to_string(&p).expect("plain data"))
    }

    /// Takes a unit's output (JSON); returns what it completes, in order:
    /// `[{type: "checkpoint", budget, bytes: Uint8Array (safetensors)} | {type: "partial",
    /// results: JSON text}]`.
    pub fn done(&mut self, unit_json: &str, output_json: &str) -> Result<js_sys::Array, JsValue> {
        let unit: experiment::Job = parse(unit_json, "unit")?;
        let output: experiment::Output = parse(output_json, "output")?;
        let out = js_sys::Array::new();
        for event in self.schedule.done(unit, output, now_ms()) {
            let item = js_sys::Object::new();
            let set = |k: &str, v: &JsValue| {
                let _ = js_sys::Reflect::set(&item, &k.into(), v);
            };
            match event {
                experiment::Event::Checkpoint {
                    variant,
                    budget,
                    params,
                } => {
                    let Some(model) = self
                        .config
                        .variants()
                        .ok()
                        .and_then(|v| v.get(variant).map(|c| c.model.clone()))
                    else {
                        continue;
                    };
                    let layout = Layout::new(&model);
                    let bytes = to_safetensors(&model, &layout, &params);
                    set("type", &"checkpoint".into());
                    set("variant", &(variant as f64).into());
                    set("budget", &(budget as f64).into());
                    set("bytes", &js_sys::Uint8Array::from(bytes.as_slice()).into());
                }
                experiment::Event::BudgetDone(partial) => {
                    set("type", &"partial".into());
                    set(
                        "results",
                        &serde_json::to_string(&partial).expect("plain data").into(),
                    );
                }
            }
            out.push(&item);
        }
        Ok(out)
    }

    /// The results so far (JSON).
    pub fn results(&self) -> String {
        serde_json::to_string(&self.schedule.results(now_ms())).expect("plain data")
    }
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, JsValue> {
    serde_json::from_str(text).map_err(|e| {
        throw(Error::data(
            what,
            crate::error::quote(&format!("not a valid {what}: {e}")),
        ))
    })
}

/// The raw measurements of an earlier run's results JSON, checked against `config`.
fn resume_of(text: &str, config: &ExperimentConfig) -> Result<Vec<experiment::Raw>, JsValue> {
    let earlier: ExperimentResults = serde_json::from_str(text).map_err(|e| {
        throw(Error::data(
            "resume",
            format!("the saved results are not an experiment's: {e}"),
        ))
    })?;
    earlier.resume_for(config).map_err(throw)
}

/// A worker's host of one unit: `host.progress(reportJSON)` returns nothing (go on) or a
/// promise of a boolean (false: cancel), awaited there — the worker's pause.
struct PageUnitHost {
    host: JsValue,
}

impl experiment::Watch for PageUnitHost {
    async fn unit_progress(&mut self, p: &experiment::UnitProgress) -> Result<(), Error> {
        let text = serde_json::to_string(p).expect("plain data");
        await_host(&self.host, &text).await
    }
}

/// Calls `host.progress(text)`; awaits a returned promise; false (or a throw) cancels.
async fn await_host(host: &JsValue, text: &str) -> Result<(), Error> {
    let Some(f) = method(host, "progress") else {
        return Ok(());
    };
    let out = f
        .call1(host, &JsValue::from_str(text))
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

/// Runs one unit of an experiment in this worker on `backend` ("gpu": this worker's WebGPU
/// device, or "cpu"): `unit_json` and `input_json` as [`ExperimentSchedule::next`] gave
/// them. `host.progress(reportJSON)` hears the unit's progress and may return a promise of
/// a boolean (false: cancel), like [`run_experiment`]'s host. Resolves to the unit's output
/// (JSON) for [`ExperimentSchedule::done`].
#[wasm_bindgen]
pub async fn run_experiment_unit(
    config_json: String,
    unit_json: String,
    input_json: Option<String>,
    backend: String,
    host: JsValue,
) -> Result<String, JsValue> {
    let config = ExperimentConfig::from_json(&config_json).map_err(throw)?;
    let unit: experiment::Job = parse(&unit_json, "unit")?;
    let input: Option<experiment::Output> = match input_json {
        Some(text) => Some(parse(&text, "input")?),
        None => None,
    };
    let gpu = if backend == "gpu" {
        Some(worker_gpu()?)
    } else {
        None
    };
    let mut engines = match &gpu {
        Some(g) => experiment::Engines::gpu(g),
        None => experiment::Engines::cpu(),
    };
    let mut watch = PageUnitHost { host };
    let output = experiment::run_unit(&config, unit, input.as_ref(), &mut engines, &mut watch)
        .await
        .map_err(throw)?;
    Ok(serde_json::to_string(&output).expect("plain data"))
}
