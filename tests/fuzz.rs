//! Fuzzing every input the command line reads: the three configs (`linear`, `train`,
//! `experiment`) and the results file `experiment --resume` continues from. Documents are
//! mutated from valid ones (values of every JSON type and size, removed and added keys,
//! sections as arrays, raw text edits: cuts, stray bytes, a BOM, trailing content), and
//! each must give: no panic; a rejection that names a field or a position; an accepted
//! config whose memory and work estimates are computed, and which runs when it is small
//! enough for a test (the rest is what the CLI's memory check and time estimate are for).
//!
//! Each run uses a fixed seed and a fresh one, both printed; `OVERTRAIN_FUZZ_SEED=N`
//! replays one, `OVERTRAIN_FUZZ_CASES=N` sets the cases per input kind.

use overtrain::experiment::Engines;
use overtrain::experiment::{self, ExperimentConfig, ExperimentResults};
use overtrain::linear::LinearConfig;
use overtrain::transformer::engine::run_ready;
use overtrain::transformer::micro::cpu_memory_estimate;
use overtrain::transformer::train::{train_cpu, TrainConfig};
use overtrain::{ConfigError, Error};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};

#[path = "common/quiet_host.rs"]
mod quiet_host;
use quiet_host::Quiet;

const FIXED_SEED: u64 = 20261201;

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("OVERTRAIN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let fresh = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    vec![FIXED_SEED, fresh]
}

fn cases() -> usize {
    std::env::var("OVERTRAIN_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800)
}

fn random_value(rng: &mut ChaCha8Rng, depth: usize) -> Value {
    match rng.random_range(0..14) {
        0 => json!(rng.random_range(-3i64..300)),
        1 => json!(rng.random::<u64>()),
        2 => json!(i64::MIN),
        3 => json!([0.0, 1e-300, 1e300, -1.5, 0.5, 9007199254740993.0][rng.random_range(0..6)]),
        4 => json!(rng.random::<f64>() * 10f64.powi(rng.random_range(-8..12))),
        5 => json!(
            [
                "",
                "gelu",
                "swiglu",
                "rope",
                "wsd",
                "independent",
                "user",
                "power",
                "flat",
                "values",
                "identity",
                "ü✓\u{0}"
            ][rng.random_range(0..12)]
        ),
        6 => json!("y".repeat(rng.random_range(0..3) * 40_000)),
        7 => json!(rng.random::<bool>()),
        8 => Value::Null,
        9 | 10 if depth < 3 => Value::Array(
            (0..rng.random_range(0..12))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        11 if depth < 3 => {
            let keys = [
                "kind",
                "value",
                "exponent",
                "values",
                "decay_fraction",
                "zz",
            ];
            Value::Object(
                (0..rng.random_range(0..4))
                    .map(|_| {
                        (
                            keys[rng.random_range(0..keys.len())].to_string(),
                            random_value(rng, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
        _ => json!(rng.random_range(0..5)),
    }
}

/// Every path (object keys and array indices) in a document.
fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let mut p = prefix.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate().take(4) {
                let mut p = prefix.clone();
                p.push(i.to_string());
                out.push(p.clone());
                paths(x, p, out);
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| match v {
        Value::Object(m) => m.get_mut(k),
        Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

/// A mutant of `base`: a few structural edits, then maybe a raw text edit.
fn mutate(rng: &mut ChaCha8Rng, base: &Value) -> String {
    let mut doc = base.clone();
    for _ in 0..rng.random_range(1..4) {
        let mut all = Vec::new();
        paths(&doc, Vec::new(), &mut all);
        if all.is_empty() {
            break;
        }
        let path = all[rng.random_range(0..all.len())].clone();
        let (parent, key) = path.split_at(path.len() - 1);
        match rng.random_range(0..7) {
            0 => {
                if let Some(Value::Object(m)) = at(&mut doc, parent) {
                    m.remove(&key[0]);
                }
            }
            1 => {
                if let Some(Value::Object(m)) = at(&mut doc, parent) {
                    let name =
                        ["zzz", "__proto__", "constructor", "", "dim "][rng.random_range(0..5)];
                    m.insert(name.to_string(), random_value(rng, 1));
                }
            }
            2 => {
                // A section (or any value) as an array of its values, read by position.
                if let Some(v) = at(&mut doc, &path) {
                    *v = match v.take() {
                        Value::Object(m) => Value::Array(m.into_values().collect()),
                        other => json!([other]),
                    };
                }
            }
            _ => {
                let value = random_value(rng, 0);
                if let Some(v) = at(&mut doc, &path) {
                    *v = value;
                }
            }
        }
    }
    let mut text = doc.to_string();
    match rng.random_range(0..10) {
        0 => {
            let cut = rng.random_range(0..text.len().max(1));
            text.truncate(text.floor_char_boundary(cut));
        }
        1 => {
            let at = text.floor_char_boundary(rng.random_range(0..text.len().max(1)));
            let junk =
                ["{", "}", ",", "\"", "]", "\u{feff}", "1e999", "\\u0000"][rng.random_range(0..8)];
            text.insert_str(at, junk);
        }
        2 => text = format!("\u{feff}{text}"),
        3 => text.push_str([", {\"dim\": 999}", "]", " x", "\n\n", "{}"][rng.random_range(0..5)]),
        4 => text = format!("[{text}]"),
        _ => {}
    }
    text
}

/// Field paths a rejection may name, to check that it names one (or a position).
fn names_a_field_or_position(e: &ConfigError, fields: &[&str]) -> bool {
    !e.field.is_empty()
        || (e.message.contains("line") && e.message.contains("column"))
        || fields.iter().any(|f| e.message.contains(f))
}

fn micro_experiment() -> ExperimentConfig {
    ExperimentConfig::from_json(
        r#"{"batch": 2, "eval_batches": 1,
            "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
            "pretrain": {"budgets": [32, 64, 96]}, "perturb": {"gammas": [1.0, 2.0], "draws": 2},
            "finetune": {"lrs": [0.01, 0.001], "l2": [0.0, 0.5], "steps": 2, "seeds": 2}}"#,
    )
    .unwrap()
}

/// Runs `check` on `cases()` mutants of `base` per seed; returns how many were accepted.
fn fuzz(name: &str, base: Value, check: &dyn Fn(&str) -> Result<bool, String>) -> usize {
    let mut accepted = 0;
    for seed in seeds() {
        eprintln!("fuzz {name}: seed {seed} (replay: OVERTRAIN_FUZZ_SEED={seed})");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for case in 0..cases() {
            let text = mutate(&mut rng, &base);
            let outcome = catch_unwind(AssertUnwindSafe(|| check(&text)));
            match outcome {
                Ok(Ok(ok)) => accepted += ok as usize,
                Ok(Err(why)) => panic!(
                    "{name}, seed {seed}, case {case}: {why}\ninput: {}",
                    overtrain::error::quote(&text)
                ),
                Err(_) => panic!(
                    "{name}, seed {seed}, case {case}: panicked\ninput: {}",
                    overtrain::error::quote(&text)
                ),
            }
        }
    }
    accepted
}

const LINEAR_FIELDS: &[&str] = &[
    "dim",
    "hidden",
    "steps",
    "checkpoint",
    "lrs",
    "l2",
    "gammas",
    "samples",
];

#[test]
fn fuzzed_linear_configs_never_panic() {
    let base = serde_json::to_value(LinearConfig::default()).unwrap();
    let accepted = fuzz(
        "linear",
        base,
        &|text| match LinearConfig::from_json(text) {
            Err(e) if names_a_field_or_position(&e, LINEAR_FIELDS) => Ok(false),
            Err(e) => Err(format!("a rejection that names nothing: {e}")),
            Ok(config) => {
                let work = config.work();
                if !work.is_finite() {
                    return Err(format!("work {work}"));
                }
                // Small runs run; the validated work cap bounds the others.
                if work < 2e7 {
                    overtrain::linear::run(&config)
                        .map_err(|e| format!("valid but refused: {e}"))?;
                }
                Ok(true)
            }
        },
    );
    assert!(accepted > 0, "some mutants are valid configs");
}

#[test]
fn fuzzed_train_configs_never_panic() {
    let base = serde_json::to_value(TrainConfig {
        steps: 4,
        eval_every: 2,
        eval_batches: 1,
        batch: 2,
        model: micro_experiment().model,
        ..TrainConfig::default()
    })
    .unwrap();
    let accepted = fuzz("train", base, &|text| match TrainConfig::from_json(text) {
        Err(e) if names_a_field_or_position(&e, &[]) => Ok(false),
        Err(e) => Err(format!("a rejection that names nothing: {e}")),
        Ok(config) => {
            let memory = cpu_memory_estimate(
                &config.model,
                config.batch,
                config.micro_batches,
                config.eval_batches,
            );
            let tokens = (config.steps * config.batch * config.model.ctx) as f64;
            if memory.total() < 50_000_000 && tokens * (memory.parameters as f64) < 2e8 {
                train_cpu(&config, None, &mut |_, _| Ok(()))
                    .map_err(|e| format!("valid but failed: {e}"))?;
            }
            Ok(true)
        }
    });
    assert!(accepted > 0, "some mutants are valid configs");
}

#[test]
fn fuzzed_experiment_configs_never_panic() {
    let base = serde_json::to_value(micro_experiment()).unwrap();
    let accepted = fuzz(
        "experiment",
        base,
        &|text| match ExperimentConfig::from_json(text) {
            Err(e) if names_a_field_or_position(&e, &[]) => Ok(false),
            Err(e) => Err(format!("a rejection that names nothing: {e}")),
            Ok(config) => {
                let (tokens, flops) = experiment::cost(&config);
                let memory = cpu_memory_estimate(
                    &config.model,
                    config.batch,
                    config.micro_batches,
                    config.eval_batches,
                );
                if !(tokens.is_finite() && flops.is_finite()) {
                    return Err(format!("cost {tokens} {flops}"));
                }
                if memory.total() < 50_000_000 && flops < 3e9 {
                    let mut engine = Engines::cpu();
                    run_ready(experiment::run(&config, &mut engine, &mut Quiet, None))
                        .map_err(|e| format!("valid but failed: {e}"))?;
                }
                Ok(true)
            }
        },
    );
    assert!(accepted > 0, "some mutants are valid configs");
}

#[test]
fn fuzzed_results_files_to_resume_never_panic() {
    let config = micro_experiment();
    let mut engine = Engines::cpu();
    let full = run_ready(experiment::run(&config, &mut engine, &mut Quiet, None)).unwrap();
    // Resume from a run cut after its first budget, as an interruption leaves it.
    let mut partial = serde_json::to_value(&full).unwrap();
    for (_, v) in partial["raw"].as_object_mut().unwrap() {
        v.as_array_mut().unwrap().truncate(1);
    }
    partial["budgets"] = json!([32]);
    let resumed_ok = fuzz("results", partial, &|text| {
        let earlier: ExperimentResults = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(_) => return Ok(false), // refused as "not an experiment's results"
        };
        match earlier.resume_for(&config) {
            Err(Error::Data { part, .. }) if part.starts_with("resume") => Ok(false),
            Err(e) => Err(format!("unexpected kind of error: {e:?}")),
            Ok(raw) => {
                let mut engine = Engines::cpu();
                run_ready(experiment::run(&config, &mut engine, &mut Quiet, Some(raw)))
                    .map_err(|e| format!("a checked file failed to resume: {e}"))?;
                Ok(true)
            }
        }
    });
    assert!(resumed_ok > 0, "some mutants still resume");
}
