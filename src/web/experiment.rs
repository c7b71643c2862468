//! The transformer lab's wasm entry points: presets, validation, the cost estimate, the
//! experiment itself (in the page's Web Worker, on WebGPU or the CPU, with progress,
//! pause/resume/cancel through the host's `progress` promise, partial results and
//! checkpoints), and its plots (on the page's main thread). Configs, progress, results and
//! units' outputs cross as JavaScript values (see [`super::values`]).

use super::common::{now_ms, worker_gpu};
use super::unit_output::{output_from_js, output_to_js};
use super::values::{config_from_js, from_js, given, js_value, read_js, throw, to_js};
use crate::error::Error;
use crate::experiment::{
    self, config::PRESETS, ExperimentConfig, ExperimentResults, Host, Progress,
};
use crate::gpu::{AdapterSummary, Gpu};
use crate::transformer::bench::train_throughput;
use crate::transformer::checkpoint::to_safetensors;
use crate::transformer::gpu::{memory_estimate, MemoryEstimate};
use crate::transformer::params::Layout;
use serde::Serialize;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// Every preset's config: `{quick: {…}, paper: {…}, micro: {…}}`.
#[wasm_bindgen]
pub fn experiment_presets() -> Result<JsValue, JsValue> {
    /// The presets as a map, in their order: written as they come rather than gathered in a
    /// `BTreeMap`, whose building sorts (and compiles core's sort for these entries).
    struct Presets;
    impl Serialize for Presets {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_map(
                PRESETS
                    .iter()
                    .filter_map(|&name| Some((name, ExperimentConfig::preset(name)?))),
            )
        }
    }
    to_js(&Presets)
}

/// The experiment config the page passed, checked (throws a config error naming the field).
fn experiment_config(config: &JsValue) -> Result<ExperimentConfig, JsValue> {
    config_from_js(config, ExperimentConfig::from_json)
}

/// `null` when the experiment config (an object) is valid, else `{kind: "config", field,
/// message}`.
#[wasm_bindgen]
pub fn validate_experiment_config(config: JsValue) -> JsValue {
    match experiment_config(&config) {
        Ok(_) => JsValue::NULL,
        Err(e) => e,
    }
}

/// What an experiment costs before it starts (see [`estimate_experiment`]).
#[derive(Serialize)]
struct Estimate {
    parameters: usize,
    tokens: f64,
    flops: f64,
    /// Training-step equivalents of the whole experiment.
    work_steps: f64,
    tokens_per_step: u64,
    memory: Memory,
    workers: usize,
    /// The time of its units on `workers` workers, in steps of one, as
    /// [`ExperimentSchedule`] hands them out.
    steps_on_workers: f64,
    /// Whether the GPU path's buffers fit the adapter; null without an adapter.
    gpu: Option<GpuFit>,
}

/// The GPU path's buffers, and their total.
#[derive(Serialize)]
struct Memory {
    #[serde(flatten)]
    buffers: MemoryEstimate,
    total: u64,
}

/// Whether a model's largest buffer fits an adapter's per-buffer limits
/// ([`MemoryEstimate::check`]), and when it does not, why, in words for the page.
#[derive(Serialize)]
struct GpuFit {
    fits: bool,
    reason: Option<String>,
}

impl GpuFit {
    fn of(memory: &MemoryEstimate, adapter: &AdapterSummary) -> GpuFit {
        let limits = wgpu::Limits {
            max_buffer_size: adapter.max_buffer_size,
            max_storage_buffer_binding_size: adapter.max_storage_buffer_binding_size,
            ..wgpu::Limits::default()
        };
        let Err(_) = memory.check(&limits) else {
            return GpuFit {
                fits: true,
                reason: None,
            };
        };
        // What one buffer may hold: the smaller of the two limits it must meet.
        let allowed = limits
            .max_buffer_size
            .min(limits.max_storage_buffer_binding_size);
        let mb = |bytes: u64| (bytes as f64 / 1e6).round();
        GpuFit {
            fits: false,
            reason: Some(format!(
                "the {} buffer needs {} MB, the adapter allows {} MB per buffer",
                memory.largest_buffer,
                mb(memory.largest_bytes),
                mb(allowed)
            )),
        }
    }
}

/// What an experiment costs before it starts (for a sweep: `parameters` and `memory` of its
/// largest model, steps of its first value's): `{parameters, tokens, flops, work_steps,
/// tokens_per_step, memory: {parameters, optimizer, activations, data, largest_buffer,
/// largest_bytes, total}, workers, steps_on_workers, gpu: {fits, reason} | null}` (memory:
/// the GPU path's buffers; `gpu`: whether they fit `adapter`, what [`super::init_gpu`]
/// resolved to, or null without one). Throws a config error for an invalid config.
#[wasm_bindgen]
pub fn estimate_experiment(
    config: JsValue,
    workers: Option<usize>,
    adapter: JsValue,
) -> Result<JsValue, JsValue> {
    let workers = workers.unwrap_or(1).max(1);
    let c = experiment_config(&config)?;
    let adapter: Option<AdapterSummary> = match given(adapter) {
        Some(a) => Some(from_js(a, "adapter")?),
        None => None,
    };
    let (tokens, flops) = experiment::cost(&c);
    // A sweep's work counts in steps of its first value (see `Job::work`), which the probe
    // times; its buffers are those of its largest model.
    let variants = c.variants().map_err(throw)?;
    let buffers = variants
        .iter()
        .map(|v| memory_estimate(&v.model, v.batch, v.eval_batches))
        .max_by_key(|m| m.total())
        .expect("at least one variant");
    let estimate = Estimate {
        parameters: variants
            .iter()
            .map(|v| Layout::new(&v.model).total)
            .max()
            .unwrap_or(0),
        tokens,
        flops,
        work_steps: experiment::work_total(&c),
        tokens_per_step: variants[0].tokens_per_step(),
        gpu: adapter.map(|a| GpuFit::of(&buffers, &a)),
        memory: Memory {
            total: buffers.total(),
            buffers,
        },
        workers,
        steps_on_workers: experiment::plan::makespan(&c, workers, 0),
    };
    to_js(&estimate)
}

/// Measures this worker's training throughput (tokens/s) for the config's model (a
/// sweep's first value's, in whose steps its estimate counts) on `backend` ("gpu": this
/// worker's device; checks its limits first): over 2 steps, then on the CPU the fastest of
/// windows of about [`PROBE_WINDOW_MS`] over about [`PROBE_MS`] (each window's steps sized
/// from the window before). A fresh page's wasm runs its first fraction of a second in the
/// browser's baseline compiler, several times slower, until its hot functions are
/// optimised; and the linear lab's drawing or another worker may share the core for a
/// while. The fastest window is the worker's speed undisturbed, which a run's long
/// stretches see. Timed in fresh pages on a 2-core machine: windows at 47–180k tokens/s
/// for Quick's model in the first 0.25 s, then 250–270k, with stretches at 160–180k; the
/// probe before (about 0.3 s of steps, counted from the first two steps' slow time) took
/// 35–111k, an estimate of 2–5 minutes for a run of under one (README, "The estimate").
#[wasm_bindgen]
pub async fn probe_experiment(config: JsValue, backend: String) -> Result<f64, JsValue> {
    let c = experiment_config(&config)?;
    let c = c.variants().map_err(throw)?.swap_remove(0);
    let now = || now_ms();
    let gpu = device(&backend)?;
    if let Some(g) = &gpu {
        memory_estimate(&c.model, c.batch, c.eval_batches)
            .fits(&g.limits)
            .map_err(throw)?;
    }
    let t = train_throughput(gpu.as_deref(), &c.model, c.batch, c.micro_batches, 2, &now)
        .await
        .map_err(throw)?;
    if gpu.is_some() {
        return Ok(t.tokens_per_second);
    }
    let start = now();
    let (mut fastest, mut ms_per_step) = (t.tokens_per_second, t.ms_per_step);
    loop {
        let steps = (PROBE_WINDOW_MS / ms_per_step.max(1e-3)).clamp(2.0, 200.0) as usize;
        let w = train_throughput(None, &c.model, c.batch, c.micro_batches, steps, &now)
            .await
            .map_err(throw)?;
        fastest = fastest.max(w.tokens_per_second);
        ms_per_step = w.ms_per_step;
        if now() - start >= PROBE_MS {
            return Ok(fastest);
        }
    }
}

/// How long the CPU probe of [`probe_experiment`] times, and each of its windows (ms).
const PROBE_MS: f64 = 1000.0;
const PROBE_WINDOW_MS: f64 = 50.0;

/// The page worker's host: calls `host.progress(progress)`, which returns nothing (go on)
/// or a promise of a boolean (false: cancel) — the worker yields to its event loop there,
/// so pause and cancel messages get through; `host.partial(results)` after each budget;
/// `host.checkpoint(variant, budgetIndex, safetensorsBytes)` (`variant`: a sweep's value).
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
        await_host(&self.host, &js_value(p)?).await
    }
    fn budget_done(&mut self, partial: &ExperimentResults) {
        // Results that cannot be converted here (which a config `config_from_js` accepted
        // never makes) are the final results too, and then end the run with the error.
        if let (Some(f), Ok(results)) = (method(&self.host, "partial"), to_js(partial)) {
            let _ = f.call1(&self.host, &results);
        }
    }
    fn checkpoint(&mut self, variant: usize, budget_index: usize, params: &[f32]) {
        if let Some(f) = method(&self.host, "checkpoint") {
            let Some(array) = safetensors_bytes(&self.config, variant, params) else {
                return;
            };
            let _ = f.call3(
                &self.host,
                &(variant as f64).into(),
                &(budget_index as f64).into(),
                &array,
            );
        }
    }
    fn now_ms(&self) -> f64 {
        now_ms()
    }
}

/// A budget's pre-trained weights of `variant` (a sweep's value; 0 without a sweep) as a
/// safetensors file, for the page to download; None for a variant the config lacks.
fn safetensors_bytes(
    config: &ExperimentConfig,
    variant: usize,
    params: &[f32],
) -> Option<js_sys::Uint8Array> {
    let model = config.variants().ok()?.get(variant)?.model.clone();
    let layout = Layout::new(&model);
    Some(js_sys::Uint8Array::from(
        to_safetensors(&model, &layout, params).as_slice(),
    ))
}

/// This worker's WebGPU device when `backend` is "gpu", else none (the CPU).
fn device(backend: &str) -> Result<Option<Rc<Gpu>>, JsValue> {
    if backend == "gpu" {
        worker_gpu().map(Some)
    } else {
        Ok(None)
    }
}

/// The training engines on `gpu`, or on the CPU (each job's engine follows its model).
fn engines(gpu: Option<&Gpu>) -> experiment::Engines<'_> {
    match gpu {
        Some(g) => experiment::Engines::gpu(g),
        None => experiment::Engines::cpu(),
    }
}

/// Runs an experiment in this worker on `backend` ("gpu": this worker's WebGPU device, or
/// "cpu"). `resume`: the partial results of an unfinished run of the same config, whose
/// finished budgets are kept (null or undefined: none). Resolves to the results; rejects
/// with a config error, a data error (`resume…`: results that do not belong to this
/// config), a cancelled error when the host cancelled, or a gpu error.
#[wasm_bindgen]
pub async fn run_experiment(
    config: JsValue,
    backend: String,
    host: JsValue,
    resume: JsValue,
) -> Result<JsValue, JsValue> {
    let config = experiment_config(&config)?;
    let resume = resume_of(resume, &config)?;
    let gpu = device(&backend)?;
    let mut engines = engines(gpu.as_deref());
    let mut page = PageHost {
        host,
        config: config.clone(),
    };
    let results = experiment::run(&config, &mut engines, &mut page, resume)
        .await
        .map_err(throw)?;
    to_js(&results)
}

/// The five plots as `[[name, svg], …]`: of `results` (a live run, possibly unfinished),
/// with `recorded` (a recorded run of the same config) drawn dashed beside it; either may
/// be null. `options`: [`crate::plot::PlotOptions`] (`{presentation: true}` for a
/// projector; null or omitted fields: the defaults).
#[wasm_bindgen]
pub fn render_experiment_plots(
    results: JsValue,
    recorded: JsValue,
    options: JsValue,
) -> Result<JsValue, JsValue> {
    let read = |value: JsValue, what: &str| -> Result<Option<ExperimentResults>, JsValue> {
        given(value).map(|v| from_js(v, what)).transpose()
    };
    let live = read(results, "results")?;
    let recorded = read(recorded, "recorded results")?;
    let options: crate::plot::PlotOptions = given(options)
        .map(|v| from_js(v, "plot options"))
        .transpose()?
        .unwrap_or_default();
    to_js(&crate::plot::experiment::all_plots(
        live.as_ref(),
        recorded.as_ref(),
        &options,
    ))
}

/// A sweep's inflections, the numbers behind its `inflection` plot: `{field, values,
/// parameters: [per value], families: [{label, budgets: [tokens | null per value]}], fit:
/// {family, exponent, se, points} | null}` (`fit`: the power law of a model-size sweep);
/// null for results without a sweep.
#[wasm_bindgen]
pub fn experiment_inflections(results: JsValue) -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    struct Family {
        label: String,
        budgets: Vec<Option<u64>>,
    }
    #[derive(Serialize)]
    struct Fit {
        family: String,
        exponent: f64,
        se: Option<f64>,
        points: usize,
    }
    #[derive(Serialize)]
    struct Inflections<'a> {
        field: &'a str,
        values: &'a [serde_json::Value],
        parameters: Vec<usize>,
        families: Vec<Family>,
        fit: Option<Fit>,
    }
    let r: ExperimentResults = from_js(results, "results")?;
    let Some(sweep) = &r.sweep else {
        return Ok(JsValue::NULL);
    };
    let fit = crate::plot::sweep::size_law(&r).and_then(|(family, fit)| {
        fit.map(|f| Fit {
            family: family.label,
            exponent: f.exponent,
            se: f.se,
            points: f.points,
        })
    });
    to_js(&Inflections {
        field: &sweep.field,
        values: &sweep.values,
        parameters: sweep.sections.iter().map(|s| s.parameters).collect(),
        families: crate::plot::sweep::inflections(&r)
            .into_iter()
            .map(|f| Family {
                label: f.label,
                budgets: f.budgets,
            })
            .collect(),
        fit,
    })
}

/// The text of an experiment's results file, as the CLI writes it (serde_json): the page
/// downloads it and keeps it in IndexedDB.
#[wasm_bindgen]
pub fn experiment_results_json(results: JsValue) -> Result<String, JsValue> {
    let results: ExperimentResults = from_js(results, "results")?;
    serde_json::to_string(&results).map_err(|e| throw(Error::data("results", e.to_string())))
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
    /// The schedule of `config` (backend: what the results say ran them, e.g. "CPU") for
    /// `workers` workers (which unit goes first depends on it, never a number); `resume`:
    /// the partial results of an unfinished run of the same config, or null. Throws a
    /// config error, or a data error (`resume…`) for results of another config.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: JsValue,
        backend: &str,
        resume: JsValue,
        workers: Option<usize>,
    ) -> Result<ExperimentSchedule, JsValue> {
        let config = experiment_config(&config)?;
        let resume = resume_of(resume, &config)?;
        let mut schedule =
            experiment::Scheduler::new(&config, resume, backend, now_ms()).map_err(throw)?;
        schedule.workers = workers.unwrap_or(1).max(1);
        Ok(ExperimentSchedule { schedule, config })
    }

    /// The unit an idle worker runs next, `{unit, input}` (`input`: the output of the unit
    /// it starts from, see [`super::unit_output`], or null), for [`run_experiment_unit`];
    /// undefined when none is ready now. (Named for JavaScript, which calls
    /// `schedule.next()`; not an iterator: it depends on what the workers have finished.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<JsValue, JsValue> {
        let Some((unit, input)) = self.schedule.take_ready() else {
            return Ok(JsValue::UNDEFINED);
        };
        let input = match input {
            Some(output) => output_to_js(output)?,
            None => JsValue::NULL,
        };
        let ready = js_sys::Object::new();
        js_sys::Reflect::set(&ready, &"unit".into(), &to_js(&unit)?)?;
        js_sys::Reflect::set(&ready, &"input".into(), &input)?;
        Ok(ready.into())
    }

    /// Which running unit the next idle worker helps with its micro-batches, given each
    /// running unit's helpers now (see [`experiment::plan::lend_to`]); undefined when none
    /// can use one.
    pub fn lend_to(&self, helpers: Vec<usize>) -> Option<usize> {
        let parts = self.config.micro_batches.min(self.config.batch);
        experiment::plan::lend_to(&helpers, parts)
    }

    /// Whether every unit is done.
    pub fn finished(&self) -> bool {
        self.schedule.finished()
    }

    /// Units handed out and not done.
    pub fn running(&self) -> usize {
        self.schedule.running()
    }

    /// The experiment's progress after a running unit's report (from
    /// [`run_experiment_unit`]'s host).
    pub fn progress(&mut self, unit: JsValue, report: JsValue) -> Result<JsValue, JsValue> {
        let unit: experiment::Job = from_js(unit, "unit")?;
        let report: experiment::UnitProgress = from_js(report, "progress")?;
        to_js(&self.schedule.progress(&unit, &report))
    }

    /// Takes a unit's output (as [`run_experiment_unit`] resolved to it); returns what it
    /// completes, in order: `[{type: "checkpoint", variant, budget, bytes: Uint8Array
    /// (safetensors)} | {type: "partial", results}]`.
    pub fn done(&mut self, unit: JsValue, output: JsValue) -> Result<js_sys::Array, JsValue> {
        let unit: experiment::Job = from_js(unit, "unit")?;
        let output = output_from_js(output, "output")?;
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
                    let Some(bytes) = safetensors_bytes(&self.config, variant, &params) else {
                        continue;
                    };
                    set("type", &"checkpoint".into());
                    set("variant", &(variant as f64).into());
                    set("budget", &(budget as f64).into());
                    set("bytes", &bytes.into());
                }
                experiment::Event::BudgetDone(partial) => {
                    set("type", &"partial".into());
                    set("results", &to_js(&partial)?);
                }
            }
            out.push(&item);
        }
        Ok(out)
    }

    /// The results so far.
    pub fn results(&self) -> Result<JsValue, JsValue> {
        to_js(&self.schedule.results(now_ms()))
    }
}

/// The raw measurements of an earlier run's results (null or undefined: none), checked
/// against `config`.
fn resume_of(
    results: JsValue,
    config: &ExperimentConfig,
) -> Result<Option<Vec<experiment::Raw>>, JsValue> {
    let Some(results) = given(results) else {
        return Ok(None);
    };
    let earlier: ExperimentResults = read_js(&results).map_err(|(_, why)| {
        throw(Error::data(
            "resume",
            format!("the saved results are not an experiment's: {why}"),
        ))
    })?;
    earlier.resume_for(config).map(Some).map_err(throw)
}

/// A worker's host of one unit: `host.progress(report)` returns nothing (go on) or a
/// promise of a boolean (false: cancel), awaited there — the worker's pause.
struct PageUnitHost {
    host: JsValue,
}

impl experiment::Watch for PageUnitHost {
    async fn unit_progress(&mut self, p: &experiment::UnitProgress) -> Result<(), Error> {
        await_host(&self.host, &js_value(p)?).await
    }
}

/// Calls `host.progress(value)`; awaits a returned promise; false (or a throw) cancels.
async fn await_host(host: &JsValue, value: &JsValue) -> Result<(), Error> {
    let Some(f) = method(host, "progress") else {
        return Ok(());
    };
    let out = f.call1(host, value).map_err(|_| Error::Cancelled)?;
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
/// device, or "cpu"): `unit` and `input` as [`ExperimentSchedule::next`] gave them
/// (`input` null when the unit starts from nothing). `host.progress(report)` hears the
/// unit's progress and may return a promise of a boolean (false: cancel), like
/// [`run_experiment`]'s host. Resolves to the unit's output for [`ExperimentSchedule::done`]
/// (`{value, tensors}`, see [`super::unit_output`]).
#[wasm_bindgen]
pub async fn run_experiment_unit(
    config: JsValue,
    unit: JsValue,
    input: JsValue,
    backend: String,
    host: JsValue,
) -> Result<JsValue, JsValue> {
    let config = experiment_config(&config)?;
    let unit: experiment::Job = from_js(unit, "unit")?;
    let input = match given(input) {
        Some(value) => Some(output_from_js(value, "input")?),
        None => None,
    };
    let gpu = device(&backend)?;
    let mut engines = engines(gpu.as_deref());
    if let Some(parts) = super::parts::PageParts::of(&host) {
        engines.share_with(std::rc::Rc::new(parts));
    }
    let mut watch = PageUnitHost { host };
    let output = experiment::run_unit(&config, unit, input.as_ref(), &mut engines, &mut watch)
        .await
        .map_err(throw)?;
    output_to_js(output)
}
