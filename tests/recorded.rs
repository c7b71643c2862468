//! The recorded Quick and Schedules presets (docs/results/NAME, made with `overtrain
//! experiment --preset NAME --backend cpu`) are a contract: the CPU path reproduces them
//! number for number (every field but the wall times) — here on 2 threads, which must not
//! change a number (tests/experiment.rs holds threads to one thread on small configs). The
//! Paper-like, Scaling and Mitigations records take minutes to tens of minutes here; their
//! check is `scripts/reproduce.sh NAME`.
#![cfg(not(target_arch = "wasm32"))]

use overtrain::experiment::{run_threads, ExperimentConfig, ExperimentResults};

#[path = "common/quiet_host.rs"]
mod quiet_host;
use quiet_host::{without_time, Quiet};

#[test]
fn the_recorded_quick_preset_reproduces_number_for_number() {
    reproduces("quick");
}

/// The cheapest of the sweeps: the Quick preset under each pre-training protocol.
#[test]
fn the_recorded_schedules_preset_reproduces_number_for_number() {
    reproduces("schedules");
}

fn reproduces(name: &str) {
    let text = std::fs::read_to_string(format!("docs/results/{name}/results.json")).unwrap();
    let recorded: ExperimentResults = serde_json::from_str(&text).unwrap();
    let config = ExperimentConfig::preset(name).unwrap();
    assert_eq!(
        recorded.config, config,
        "the record is of the {name} preset"
    );
    let results = pollster::block_on(run_threads(&config, 2, &mut Quiet, None)).unwrap();
    let (got, want) = (without_time(&results), without_time(&recorded));
    for key in want.as_object().unwrap().keys() {
        assert!(
            got[key] == want[key],
            "{name}: {key} differs from the record"
        );
    }
    assert_eq!(got, want);
}

/// Each record's file spells out its whole config as the code writes it today: the page
/// finds a preset's recorded run by comparing configs as JSON, so a field added to the
/// config (at its default) must be added to the records too, or the page stops drawing them.
#[test]
fn the_records_spell_out_every_config_field() {
    for name in ["quick", "paper", "scaling", "schedules", "mitigations"] {
        let text = std::fs::read_to_string(format!("docs/results/{name}/results.json")).unwrap();
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let preset = serde_json::to_value(ExperimentConfig::preset(name).unwrap()).unwrap();
        assert_eq!(
            file["config"], preset,
            "docs/results/{name}: config as written today"
        );
    }
}
