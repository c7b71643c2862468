//! What every entry point shares: the clock, this worker's WebGPU device, the field schema
//! and the backend rule (errors cross as values: [`super::values::throw`]).

use super::values::{throw, to_js};
use crate::backend::{resolve_backend as resolve, BackendChoice};
use crate::gpu::{AdapterSummary, Gpu, GpuError, Products};
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
#[wasm_bindgen]
pub async fn init_gpu() -> Result<JsValue, JsValue> {
    let gpu = open_gpu().await?;
    let summary = to_js(&gpu.adapter)?;
    GPU.with(|slot| *slot.borrow_mut() = Some(Rc::new(gpu)));
    Ok(summary)
}

#[wasm_bindgen(inline_js = r#"
// What the browser tells about its adapter, which wgpu cannot see: a name ("google
// swiftshader") and whether it is a software one.
export async function browser_adapter() {
  // The adapter wgpu asks for (high performance), so that both describe the same one.
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  const info = adapter?.info ?? {};
  const name = [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") || info.description || "";
  const software = Boolean(info.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(name);
  return [name, software];
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn browser_adapter() -> Result<JsValue, JsValue>;
}

/// A WebGPU device described with what the browser tells about its adapter, and whose
/// matrix products read their operands the way that adapter is fastest with
/// ([`Products::for_adapter`]): the page's workers and the benchmarks open theirs here.
pub(crate) async fn open_gpu() -> Result<Gpu, JsValue> {
    let mut gpu = Gpu::new().await.map_err(throw)?;
    let told = js_sys::Array::from(&browser_adapter().await?);
    if let Some(name) = told.get(0).as_string().filter(|n| !n.is_empty()) {
        gpu.adapter.name = name;
    }
    gpu.adapter.software |= told.get(1).as_bool().unwrap_or(false);
    // Before any pipeline is built.
    gpu.products = Products::for_adapter(&gpu.adapter);
    Ok(gpu)
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
