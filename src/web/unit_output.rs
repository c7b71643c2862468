//! How a unit's output crosses between the page's workers and the schedule on its main
//! thread: `{value, tensors}`, where `tensors` holds the output's bulk — its weights, and a
//! stable phase's AdamW moments — as `Float32Array`s, and `value` the rest as a plain
//! object (with empty arrays where the bulk was). The page never looks inside; it hands the
//! output from a worker to `ExperimentSchedule.done` and from `next` to a worker.
//!
//! Why not one plain object: the bulk is ~100k floats for the Paper-like model, and as a
//! JavaScript array of numbers it is slow to make and to read back here (one call across
//! the boundary per number) and slow to `postMessage` (a structured clone of each number),
//! three times slower in all than the JSON text it replaces; a `Float32Array` is one copy
//! each way, and keeps every bit.

use super::values::{from_js, throw, to_js};
use crate::error::Error;
use crate::experiment::Output;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// The output's bulk, in a fixed order. Every variant is named, so a new one with weights
/// has to say so here.
fn bulk_mut(output: &mut Output) -> Vec<&mut Vec<f32>> {
    match output {
        Output::Stable { state, .. } => vec![&mut state.params, &mut state.m, &mut state.v],
        Output::Pretrained { params, .. } => vec![params],
        Output::Perturbed { .. } | Output::Finetuned { .. } => vec![],
    }
}

/// `output` as `{value, tensors}` for the page.
pub(crate) fn output_to_js(mut output: Output) -> Result<JsValue, JsValue> {
    let tensors: js_sys::Array = bulk_mut(&mut output)
        .into_iter()
        .map(|bulk| js_sys::Float32Array::from(std::mem::take(bulk).as_slice()))
        .collect();
    let crossing = js_sys::Object::new();
    js_sys::Reflect::set(&crossing, &"value".into(), &to_js(&output)?)?;
    js_sys::Reflect::set(&crossing, &"tensors".into(), &tensors)?;
    Ok(crossing.into())
}

/// The output the page passed as `{value, tensors}` (see [`output_to_js`]); a data error
/// on `what` when it is not one.
pub(crate) fn output_from_js(crossing: JsValue, what: &str) -> Result<Output, JsValue> {
    let field = |key: &str| js_sys::Reflect::get(&crossing, &key.into()).unwrap_or_default();
    let mut output: Output = from_js(field("value"), what)?;
    let not_one = |why: &str| throw(Error::data(what, format!("not a valid {what}: {why}")));
    let tensors: js_sys::Array = field("tensors")
        .dyn_into()
        .map_err(|_| not_one("its tensors are not an array"))?;
    let mut bulk = bulk_mut(&mut output);
    if bulk.len() != tensors.length() as usize {
        return Err(not_one(&format!(
            "{} tensors for {} places",
            tensors.length(),
            bulk.len()
        )));
    }
    for (place, tensor) in bulk.iter_mut().zip(tensors.iter()) {
        let tensor: js_sys::Float32Array = tensor
            .dyn_into()
            .map_err(|_| not_one("a tensor is not a Float32Array"))?;
        **place = tensor.to_vec();
    }
    Ok(output)
}
