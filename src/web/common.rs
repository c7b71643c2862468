//! What every entry point shares: the clock, this worker's WebGPU device, the field schema
//! and the backend rule (errors cross as values: [`super::values::throw`]).

use super::values::{throw, to_js};
use crate::backend::{resolve_backend as resolve, BackendChoice};
use crate::gpu::{AdapterSummary, Gpu, GpuError};
use crate::schema::Group;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// What the page builds its forms, its URL state and its preset list from.
#[derive(Serialize)]
struct FieldSchema {
    linear: Vec<Group>,
    transformer: Vec<Group>,
    presets: Vec<crate::experiment::config::Preset>,
}

/// Every config field of both labs (label, help, kind, range) and the transformer lab's
/// presets: `{linear: [group], transformer: [group], presets: [{name, label, config}]}`
/// (see [`crate::schema`]).
#[wasm_bindgen]
pub fn field_schema() -> Result<JsValue, JsValue> {
    to_js(&FieldSchema {
        linear: crate::linear::config::fields(),
        transformer: crate::experiment::config::fields(),
        presets: crate::experiment::config::presets(),
    })
}

/// Where a run goes (see [`crate::backend::resolve_backend`]): `choice` "auto", "gpu" or
/// "cpu"; `adapter` what [`init_gpu`] resolved to, or null without WebGPU; `fits` whether
/// the run fits its limits. Returns `{backend: "cpu" | "gpu", reason: string | null}`.
#[wasm_bindgen]
pub fn resolve_backend(choice: &str, adapter: JsValue, fits: bool) -> Result<JsValue, JsValue> {
    let choice: BackendChoice = choice.parse().unwrap_or(BackendChoice::Auto);
    let adapter: Option<AdapterSummary> = super::values::from_js(adapter, "adapter").ok().flatten();
    to_js(&resolve(choice, adapter.as_ref(), fits))
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
    let summary = to_js(&gpu.adapter)?;
    GPU.with(|slot| *slot.borrow_mut() = Some(Rc::new(gpu)));
    Ok(summary)
}

/// This worker's WebGPU device, if [`init_gpu`] opened one.
pub(crate) fn worker_gpu() -> Result<Rc<Gpu>, JsValue> {
    GPU.with(|slot| slot.borrow().clone()).ok_or_else(|| {
        throw(GpuError::NoAdapter(
            "WebGPU was not initialized in this worker".into(),
        ))
    })
}

/// Milliseconds from `performance.now()` in a window or a worker (std's clock panics on
/// wasm32-unknown-unknown).
pub(crate) fn now_ms() -> f64 {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("performance"))
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}
