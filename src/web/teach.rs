//! The classroom's entry points: each plot's caption computed from the run it shows
//! ([`crate::plot::captions`]), and the exercises ([`crate::exercises`]): their list, the
//! linear lab's set-up for one, and an answer checked against the student's own run. The
//! page keeps no second copy of either: what a caption claims and what an answer must be
//! are decided here, by the one significance rule of both labs.

use super::values::{config_from_js, from_js, to_js};
use crate::error::Error;
use crate::exercises::{self, Run};
use crate::experiment::ExperimentResults;
use crate::linear::{LinearConfig, LinearResults};
use crate::plot::captions;
use wasm_bindgen::prelude::*;

/// The captions of a linear run's four plots: `[{plot, text, shows_effect}, …]`.
#[wasm_bindgen]
pub fn linear_captions(results: JsValue) -> Result<JsValue, JsValue> {
    let results: LinearResults = from_js(results, "results")?;
    to_js(&captions::linear(&results))
}

/// The captions of an experiment's five plots (a finished or partial run).
#[wasm_bindgen]
pub fn experiment_captions(results: JsValue) -> Result<JsValue, JsValue> {
    let results: ExperimentResults = from_js(results, "results")?;
    to_js(&captions::experiment(&results))
}

/// Every exercise, in lesson order: `[{id, lab, title, question, answer, preset, look,
/// plot}, …]` (`answer`: `{kind: "number", label, tolerance_checkpoints}` or `{kind:
/// "choice", options}`).
#[wasm_bindgen(js_name = exercises)]
pub fn exercise_list() -> Result<JsValue, JsValue> {
    to_js(&exercises::exercises())
}

/// The linear config for exercise `id` from the student's `config` (only what the exercise
/// is about changes); `null` for a transformer-lab exercise (it names a preset instead).
#[wasm_bindgen]
pub fn exercise_setup(id: &str, config: JsValue) -> Result<JsValue, JsValue> {
    if exercises::exercise(id).is_none() {
        return Err(unknown(id));
    }
    let base = config_from_js(&config, LinearConfig::from_json)?;
    match exercises::setup_linear(id, &base) {
        Some(c) => to_js(&c),
        None => Ok(JsValue::NULL),
    }
}

/// The answer a run gives to exercise `id`, computed from it: `{answer, tolerance,
/// because}` (the worksheet's key), or `{error}` saying why the run gives none.
#[wasm_bindgen]
pub fn exercise_expected(id: &str, lab: &str, results: JsValue) -> Result<JsValue, JsValue> {
    let answer = with_run(id, lab, results, |run| exercises::expected(id, run))?;
    match answer {
        Ok(e) => to_js(&e),
        Err(error) => to_js(&serde_json::json!({ "error": error })),
    }
}

/// Checks `answer` to exercise `id` against the student's run (`lab`: "linear" or
/// "transformer", the lab `results` come from): `{correct, text}`.
#[wasm_bindgen]
pub fn check_exercise(
    id: &str,
    lab: &str,
    results: JsValue,
    answer: &str,
) -> Result<JsValue, JsValue> {
    let check = with_run(id, lab, results, |run| exercises::check(id, run, answer))?;
    to_js(&check)
}

fn unknown(id: &str) -> JsValue {
    super::values::throw(Error::data("exercise", format!("no exercise \"{id}\"")))
}

/// `f` on the run `results` are, read as the results of `lab`.
fn with_run<T>(
    id: &str,
    lab: &str,
    results: JsValue,
    f: impl FnOnce(Run) -> T,
) -> Result<T, JsValue> {
    if exercises::exercise(id).is_none() {
        return Err(unknown(id));
    }
    match lab {
        "linear" => {
            let r: LinearResults = from_js(results, "results")?;
            Ok(f(Run::Linear(&r)))
        }
        "transformer" => {
            let r: ExperimentResults = from_js(results, "results")?;
            Ok(f(Run::Transformer(&r)))
        }
        other => Err(super::values::throw(Error::data(
            "lab",
            format!("no lab \"{other}\": linear or transformer"),
        ))),
    }
}
