//! The recorded Quick preset (docs/results/quick, made with `overtrain experiment --preset
//! quick --backend cpu` on one thread) is a contract: the CPU path reproduces it number for
//! number (every field but the wall time) — here on 2 threads, which must not change a
//! number (tests/experiment.rs holds threads to one thread on small configs). The
//! Paper-like record takes 16 minutes here; its check is `scripts/reproduce.sh paper`.
#![cfg(not(target_arch = "wasm32"))]

use overtrain::experiment::{run_threads, ExperimentConfig, ExperimentResults, Host, Progress};
use overtrain::Error;

struct Quiet;

impl Host for Quiet {
    async fn progress(&mut self, _: &Progress) -> Result<(), Error> {
        Ok(())
    }
    fn now_ms(&self) -> f64 {
        0.0
    }
}

/// The results as JSON values without the wall time.
fn comparable(r: &ExperimentResults) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("elapsed_s");
    v
}

#[test]
fn the_recorded_quick_preset_reproduces_number_for_number() {
    let text = std::fs::read_to_string("docs/results/quick/results.json").unwrap();
    let recorded: ExperimentResults = serde_json::from_str(&text).unwrap();
    let config = ExperimentConfig::preset("quick").unwrap();
    assert_eq!(recorded.config, config, "the record is of the Quick preset");
    let results = pollster::block_on(run_threads(&config, 2, &mut Quiet, None)).unwrap();
    let (got, want) = (comparable(&results), comparable(&recorded));
    for key in want.as_object().unwrap().keys() {
        assert!(got[key] == want[key], "{key} differs from the record");
    }
    assert_eq!(got, want);
}
