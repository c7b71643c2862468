//! What the experiment tests share: a host that hears nothing, and results compared without
//! their wall times (not part of the determinism guarantee).
#![allow(dead_code)] // each test file uses what it needs

use overtrain::experiment::{ExperimentResults, Host, Progress};
use overtrain::Error;

/// A host that ignores progress and reads a clock that stands still.
pub struct Quiet;

impl Host for Quiet {
    async fn progress(&mut self, _: &Progress) -> Result<(), Error> {
        Ok(())
    }
    fn now_ms(&self) -> f64 {
        0.0
    }
}

/// Results as JSON values without any `elapsed_s` (a sweep's sections have their own).
pub fn without_time(r: &ExperimentResults) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    strip_elapsed(&mut v);
    v
}

/// Removes every `elapsed_s` from a JSON value, at any depth.
pub fn strip_elapsed(v: &mut serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("elapsed_s");
        o.values_mut().for_each(strip_elapsed);
    } else if let Some(a) = v.as_array_mut() {
        a.iter_mut().for_each(strip_elapsed);
    }
}
