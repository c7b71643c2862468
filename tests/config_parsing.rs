//! How every config document is read (`error::parse_json`, shared by the three configs):
//! one JSON object, optionally after a byte-order mark; nothing after it; sections as
//! objects, never arrays read by position; a wrong value's error quoting what the field
//! allows, and never echoing a huge value whole.

use overtrain::experiment::ExperimentConfig;
use overtrain::linear::{LinearConfig, Spectrum};
use overtrain::transformer::train::{Schedule, TrainConfig};
use overtrain::ConfigError;

fn errors(text: &str) -> [Result<(), ConfigError>; 3] {
    [
        LinearConfig::from_json(text).map(drop),
        ExperimentConfig::from_json(text).map(drop),
        TrainConfig::from_json(text).map(drop),
    ]
}

#[test]
fn a_byte_order_mark_is_skipped() {
    for r in errors("\u{feff}{\"seed\": 3}") {
        r.unwrap();
    }
    assert_eq!(
        LinearConfig::from_json("\u{feff}{\"dim\": 7}").unwrap().dim,
        7
    );
}

#[test]
fn content_after_the_config_object_is_an_error_naming_its_position() {
    for r in errors("{\"seed\": 1},\n {\"dim\": 999}") {
        let e = r.unwrap_err();
        assert!(
            e.message
                .contains("content after the config object at line 1 column 12"),
            "{e}"
        );
    }
    // Whitespace after the object is fine.
    for r in errors("{\"seed\": 1}\n\n  ") {
        r.unwrap();
    }
}

#[test]
fn a_section_given_as_an_array_is_an_error_naming_it() {
    let e = LinearConfig::from_json(r#"{"pretrain": [{"kind": "flat", "value": 1}, 0.1, 10, 5]}"#)
        .unwrap_err();
    assert_eq!(e.field, "pretrain");
    assert!(e.message.contains("must be a JSON object"), "{e}");
    let e = ExperimentConfig::from_json(r#"{"model": [1, 8, 2, 16, 8]}"#).unwrap_err();
    assert_eq!(e.field, "model");
    let e =
        ExperimentConfig::from_json(r#"{"finetune": {"lrs": [0.01]}, "perturb": []}"#).unwrap_err();
    assert_eq!(e.field, "perturb");
}

#[test]
fn a_huge_value_is_not_echoed_whole() {
    let huge = "x".repeat(2_000_000);
    for text in [
        format!(r#"{{"dim": "{huge}"}}"#),
        format!(r#"{{"{huge}": 1}}"#),
        format!(r#"{{"model": {{"norm": "{huge}"}}}}"#),
    ] {
        for r in errors(&text) {
            let e = r.unwrap_err();
            assert!(
                e.to_string().len() < 2_000,
                "{} characters echoed",
                e.to_string().len()
            );
        }
    }
}

#[test]
fn a_malformed_value_says_what_the_field_allows() {
    let e = ExperimentConfig::from_json(r#"{"model": {"norm": layer}}"#).unwrap_err();
    assert_eq!(e.field, "model.norm");
    assert!(e.message.contains("one of layernorm, rmsnorm"), "{e}");
    let e = ExperimentConfig::from_json(r#"{"model": {"mlp": "relu"}}"#).unwrap_err();
    assert!(
        e.message.contains("gelu") && e.message.contains("swiglu"),
        "{e}"
    );
    let e = LinearConfig::from_json(r#"{"basis": 3}"#).unwrap_err();
    assert!(e.message.contains("one of random, identity"), "{e}");
    let e = LinearConfig::from_json(r#"{"dim": "ten"}"#).unwrap_err();
    assert!(e.message.contains("an integer in 1..=256"), "{e}");
    let e = ExperimentConfig::from_json(r#"{"finetune": {"lrs": [0.1, "x"]}}"#).unwrap_err();
    assert_eq!(e.field, "finetune.lrs[1]");
    assert!(e.message.contains("a finite number in (0, 1]"), "{e}");
}

/// The spectrum and the schedule are objects tagged by their `kind` (read through a struct
/// of every kind's fields, src/json.rs): each kind reads back as written, needs its own
/// fields and refuses another kind's. An error in a field names the field; one found once
/// the object is read (a field missing, or another kind's) names the section it is in.
#[test]
fn a_tagged_object_needs_its_kinds_fields_and_no_others() {
    for spectrum in [
        Spectrum::Power { exponent: 1.5 },
        Spectrum::Flat { value: 0.5 },
        Spectrum::Values {
            values: vec![3.0, 2.0, 1.0],
        },
    ] {
        let text = serde_json::to_string(&spectrum).unwrap();
        assert_eq!(
            serde_json::from_str::<Spectrum>(&text).unwrap(),
            spectrum,
            "{text}"
        );
    }
    for schedule in [
        Schedule::Cosine,
        Schedule::Wsd {
            decay_fraction: 0.2,
        },
        Schedule::Constant,
    ] {
        let text = serde_json::to_string(&schedule).unwrap();
        assert_eq!(
            serde_json::from_str::<Schedule>(&text).unwrap(),
            schedule,
            "{text}"
        );
    }
    // The tag need not come first.
    let config =
        LinearConfig::from_json(r#"{"pretrain": {"spectrum": {"value": 2, "kind": "flat"}}}"#)
            .unwrap();
    assert_eq!(config.pretrain.spectrum, Spectrum::Flat { value: 2.0 });

    let linear = |spectrum: &str| {
        LinearConfig::from_json(&format!(r#"{{"pretrain": {{"spectrum": {spectrum}}}}}"#))
            .unwrap_err()
    };
    let train = |schedule: &str| {
        TrainConfig::from_json(&format!(r#"{{"schedule": {schedule}}}"#)).unwrap_err()
    };
    for (e, field, says) in [
        (
            linear(r#"{"kind": "flat"}"#),
            "pretrain",
            "missing field `value` (kind \"flat\")",
        ),
        (
            linear(r#"{"kind": "flat", "value": 1, "exponent": 2}"#),
            "pretrain",
            "unknown field `exponent` for kind \"flat\"",
        ),
        (
            linear(r#"{"kind": "values", "values": [1], "bogus": 2}"#),
            "pretrain.spectrum.bogus",
            "unknown field `bogus`",
        ),
        (
            linear(r#"{"kind": "pink"}"#),
            "pretrain.spectrum.kind",
            "unknown variant `pink`",
        ),
        (
            linear(r#"{"exponent": 1}"#),
            "pretrain.spectrum",
            "missing field `kind`",
        ),
        (
            linear(r#"{"kind": "power", "exponent": "x"}"#),
            "pretrain.spectrum.exponent",
            "invalid type",
        ),
        (
            train(r#"{"kind": "wsd"}"#),
            "",
            "missing field `decay_fraction` (kind \"wsd\")",
        ),
        (
            train(r#"{"kind": "wsd", "decay_fraction": "x"}"#),
            "schedule.decay_fraction",
            "invalid type",
        ),
        (
            train(r#"{"kind": "cosine", "decay_fraction": 0.2}"#),
            "",
            "unknown field `decay_fraction` for kind \"cosine\"",
        ),
    ] {
        assert_eq!(e.field, field, "{e}");
        assert!(e.message.contains(says), "{e}");
    }
}
