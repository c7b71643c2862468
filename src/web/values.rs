//! How values cross between Rust and JavaScript: as JavaScript values (objects, arrays,
//! numbers, `null`; `Uint8Array` for bytes), converted by serde-wasm-bindgen, so the page
//! uses what it gets as it is, without parsing text or taking it apart.
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

/// `value` as a JavaScript value; throws a data error naming the part that cannot cross
/// (an integer above 2^53 − 1).
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    js_value(value).map_err(throw)
}

/// [`to_js`] for the wasm's callbacks into the page, which fail with the crate's error.
pub(crate) fn js_value<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, Error> {
    serde_path_to_error::serialize(value, &SERIALIZER).map_err(|e| {
        Error::data(
            e.path().to_string(),
            format!("cannot be passed to JavaScript: {}", e.inner()),
        )
    })
}

/// A value the page passed, as `T`; a data error on `what` when it is not one.
pub(crate) fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    serde_path_to_error::deserialize(serde_wasm_bindgen::Deserializer::from(value)).map_err(|e| {
        let path = e.path().to_string();
        let part = if path == "." || path == "?" {
            what.to_string()
        } else {
            format!("{what}.{path}")
        };
        throw(Error::data(
            part,
            crate::error::quote(&format!("not a valid {what}: {}", e.inner())),
        ))
    })
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
    let text = match js_sys::JSON::stringify(value) {
        // `undefined` (no config) has no JSON text: read as `null`, it is refused as not
        // being an object, like any other non-object.
        Ok(text) => text.as_string().unwrap_or_else(|| "null".into()),
        Err(e) => {
            let why = String::from(js_sys::Error::from(e).message());
            return Err(throw(ConfigError::new(
                "",
                format!("the config is not plain data: {why}"),
            )));
        }
    };
    let config = parse(&text).map_err(throw)?;
    serde_path_to_error::serialize(&config, &SERIALIZER).map_err(|e| {
        throw(ConfigError::new(
            e.path().to_string(),
            format!(
                "must be at most 9007199254740991 (2^53 − 1) in the browser, the largest \
                 integer a JavaScript number holds exactly ({})",
                e.inner()
            ),
        ))
    })?;
    Ok(config)
}
