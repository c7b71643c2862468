//! How values cross between Rust and JavaScript: as JavaScript values (objects, arrays,
//! numbers, `null`; `Uint8Array` for bytes), so the page uses what it gets as it is, without
//! parsing text or taking it apart. Going out they are made by serde-wasm-bindgen; coming
//! in they are read from their JSON text by serde_json (see [`from_js`]).
//!
//! The conversion is the one of `JSON.parse` on serde_json's text — plain objects, `null`
//! for an absent value — with one difference that matters: **numbers cross exactly or not
//! at all**. An `f32` or `f64` becomes a JavaScript number (a double holds either exactly)
//! and comes back as the same bits, so results compare bit for bit between 1 and N workers
//! and between the CLI and the page. An integer (`u64`, `usize`) becomes a number when it
//! is at most 2^53 − 1 (`Number.MAX_SAFE_INTEGER`); a larger one is refused with an error
//! naming it, where JSON text would have been rounded silently by `JSON.parse`. (A `BigInt`
//! would hold it, but the page does arithmetic with budgets and token counts, and
//! `JSON.stringify` refuses `BigInt`s.) The only such integer a valid config may hold is a
//! seed, so [`config_from_js`] refuses a config whose seed is above 2^53 − 1 before anything
//! runs (a config error on `seed`), rather than failing when its results come back.

use crate::error::{ConfigError, Error};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

/// The error as the page receives it: `{kind, message, field?}`.
pub(crate) fn throw(e: impl Into<Error>) -> JsValue {
    let value = e.into().value();
    serde_wasm_bindgen::to_value(&value).unwrap_or_else(|_| JsValue::from_str(&value.message))
}

/// Plain objects and `null` (not ES `Map`s and `undefined`), integers as numbers.
const SERIALIZER: serde_wasm_bindgen::Serializer =
    serde_wasm_bindgen::Serializer::json_compatible();

/// `value` as a JavaScript value; throws a data error when a part cannot cross (an integer
/// above 2^53 − 1: none can, once [`config_from_js`] has checked the seed).
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    js_value(value).map_err(throw)
}

/// [`to_js`] for the wasm's callbacks into the page, which fail with the crate's error.
pub(crate) fn js_value<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Error> {
    value
        .serialize(&SERIALIZER)
        .map_err(|e| Error::data("", format!("cannot be passed to JavaScript: {e}")))
}

/// A value the page passed, as `T`; a data error on `what` when it is not one.
///
/// It is read from its JSON text (`JSON.stringify`) by serde_json, the reader of the CLI's
/// files: one deserializer per type in the wasm, not one per reader (about a fifth of the
/// module was values being read twice). A number reads back as the same double, −0
/// included; `NaN` and the infinities have no JSON text and read as `null` (an absent
/// value), as they do from the CLI's files.
pub(crate) fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    read_js(&value).map_err(|(path, why)| {
        let part = match path.as_str() {
            "" => what.to_string(),
            path => format!("{what}.{path}"),
        };
        throw(Error::data(
            part,
            crate::error::quote(&format!("not a valid {what}: {why}")),
        ))
    })
}

/// [`from_js`]'s reading: `T`, or the path of the part that is not one ("" for the whole)
/// and why.
pub(crate) fn read_js<T: DeserializeOwned>(value: &JsValue) -> Result<T, (String, String)> {
    let text = json_text(value).map_err(|why| (String::new(), why))?;
    crate::json::read_json(&text).map_err(|e| (e.path, crate::json::message(&e.inner)))
}

/// `value`'s JSON text; `null` for `undefined` (which has none); the reason when it is not
/// plain data (a cycle, a `BigInt`).
fn json_text(value: &JsValue) -> Result<String, String> {
    exact_json_text(value).map_err(|e| String::from(js_sys::Error::from(e).message()))
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
// JSON.stringify, except that -0 keeps its sign (JSON.stringify writes it as 0): a marker
// string stands in for it, then becomes -0.0 in the text.
export function exact_json_text(value) {
  const text = JSON.stringify(value, (_, v) => (v === 0 && 1 / v < 0 ? "\u0000-0" : v));
  return text === undefined ? "null" : text.replaceAll('"\\u0000-0"', "-0.0");
}
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    fn exact_json_text(value: &JsValue) -> Result<String, JsValue>;
}

/// `None` for `null` or `undefined` (an optional argument the page left out), else `Some`.
pub(crate) fn given(value: JsValue) -> Option<JsValue> {
    (!value.is_null() && !value.is_undefined()).then_some(value)
}

/// A config object from the page, read by `parse`: the config's own `from_json`, the one
/// reader of configs that the CLI uses for its files too, so the page gets the same checks
/// and the same errors naming the field. It reads the object's JSON text
/// (`JSON.stringify`, which writes every number so that it reads back as the same double).
/// Throws a config error, also for an integer above 2^53 − 1 (see the module's comment).
pub(crate) fn config_from_js<C: Serialize>(
    value: &JsValue,
    parse: impl FnOnce(&str) -> Result<C, ConfigError>,
) -> Result<C, JsValue> {
    // `undefined` (no config) reads as `null`: refused as not being an object, like any
    // other non-object.
    let text = json_text(value).map_err(|why| {
        throw(ConfigError::new(
            "",
            format!("the config is not plain data: {why}"),
        ))
    })?;
    let config = parse(&text).map_err(throw)?;
    let value = crate::json::to_value(&config);
    if let Some(field) = inexact_integer(&value, "") {
        return Err(throw(ConfigError::new(
            field,
            "must be at most 9007199254740991 (2^53 − 1) in the browser, the largest \
             integer a JavaScript number holds exactly",
        )));
    }
    Ok(config)
}

/// The path of the first integer in `value` that a JavaScript number does not hold exactly
/// (beyond ±(2^53 − 1)), if any.
fn inexact_integer(value: &serde_json::Value, path: &str) -> Option<String> {
    const EXACT: u64 = (1 << 53) - 1;
    let at = |key: &dyn std::fmt::Display| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::Number(n) => {
            let beyond = n.as_u64().map(|u| u > EXACT).unwrap_or(false)
                || n.as_i64()
                    .map(|i| i.unsigned_abs() > EXACT)
                    .unwrap_or(false);
            beyond.then(|| path.to_string())
        }
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| inexact_integer(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields
            .iter()
            .find_map(|(key, item)| inexact_integer(item, &at(key))),
        _ => None,
    }
}
