//! The wasm entry points (wasm-bindgen), by lab: `linear` (the linear lab: runs, shards,
//! plots), `experiment` and `transformer` (the transformer lab), `teach` (captions computed
//! from a run, the exercises and their answer checks), `common` (the worker's
//! WebGPU device, the field schema, the backend rule, errors and the clock) and `values`
//! (how values cross). The page's Web Worker runs the computations; the page's main thread
//! validates for instant feedback and draws (plotters measures text through the DOM, which
//! a worker lacks). Configs, results, progress and units' outputs cross the boundary as
//! JavaScript values (objects, arrays, numbers that keep their exact value; `Uint8Array`s
//! for files, `Float32Array`s for a unit's weights: `unit_output`), never as JSON text for
//! the page to parse. Text crosses only where text is
//! what the page wants: a results file to download or keep (`*_results_json`, serde_json's
//! text, the same the CLI writes) and the plots' SVG.
//!
//! Errors are values: every entry point throws (and `validate_*` returns) the crate's
//! [`crate::Error`] as `{kind, message, field?}` (kind: config, gpu, data, cancelled, io),
//! never a panic, so the page decides by the kind what to show. A panic (a bug) is
//! reported through `globalThis.__overtrainPanic` before the wasm traps, so the page can
//! show it and reload the module.

use wasm_bindgen::prelude::*;

mod common;
mod experiment;
mod linear;
mod parts;
mod teach;
mod transformer;
mod unit_output;
mod values;
pub use common::*;
pub use experiment::*;
pub use linear::*;
pub use parts::PartHelper;
pub use teach::*;
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
        // The message alone: the site's build keeps no source locations (README, "Size"),
        // so `info`'s own text would begin "panicked at <redacted>:0:0".
        report_panic(info.payload_as_str().unwrap_or("a panic without a message"));
    }));
}
