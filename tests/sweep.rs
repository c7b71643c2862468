//! A sweep of one lever: every value's whole protocol runs as jobs of one plan, and its
//! results hold one section per value — each exactly the results of that value run alone —
//! whoever runs the jobs (one engine, threads, shards merged); invalid sweeps are refused,
//! naming `sweep.field` or the value.
#![cfg(not(target_arch = "wasm32"))]

use overtrain::experiment::shard::{merge, run_shard, Shard};
use overtrain::experiment::{self, Engines, ExperimentConfig, ExperimentResults};
use overtrain::transformer::engine::run_ready;

#[path = "common/quiet_host.rs"]
mod quiet_host;
use quiet_host::{without_time, Quiet};

fn micro_sweep(field: &str, values: &str) -> ExperimentConfig {
    ExperimentConfig::from_json(&format!(
        r#"{{"batch": 4, "eval_batches": 2,
            "model": {{"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8}},
            "pretrain": {{"budgets": [320, 640, 1280]}},
            "perturb": {{"gammas": [0.5, 2.0], "draws": 2}},
            "finetune": {{"lrs": [0.001, 0.01], "steps": 4, "seeds": 2}},
            "sweep": {{"field": "{field}", "values": {values}}}}}"#
    ))
    .unwrap()
}

fn run(cfg: &ExperimentConfig) -> ExperimentResults {
    run_ready(experiment::run(cfg, &mut Engines::cpu(), &mut Quiet, None)).unwrap()
}

#[test]
fn each_section_is_its_value_run_alone() {
    // A lever of the optimizer, and one of the model's size (each value its own engine).
    for (field, values) in [
        ("pretrain.weight_decay", "[0.0, 0.3]"),
        ("model.d_model", "[8, 12]"),
    ] {
        let cfg = micro_sweep(field, values);
        let swept = run(&cfg);
        let sweep = swept.sweep.as_ref().expect("sections");
        assert_eq!(sweep.field, field);
        assert_eq!(sweep.sections.len(), 2);
        for (variant, section) in cfg.variants().unwrap().iter().zip(&sweep.sections) {
            assert_eq!(
                without_time(section),
                without_time(&run(variant)),
                "{field}"
            );
        }
        // The top-level curves are the first value's, under the sweep's own config.
        assert_eq!(swept.config, cfg);
        assert_eq!(swept.finetune, sweep.sections[0].finetune);
        assert_ne!(sweep.sections[0].base, sweep.sections[1].base, "{field}");
    }
}

#[test]
fn threads_and_shards_give_the_serial_sweep() {
    let cfg = micro_sweep("model.d_model", "[8, 12]");
    let serial = without_time(&run(&cfg));
    let threads = pollster::block_on(experiment::run_threads(&cfg, 3, &mut Quiet, None)).unwrap();
    assert_eq!(without_time(&threads), serial);
    for n in [2, 3] {
        let parts: Vec<(String, experiment::shard::Part)> = (0..n)
            .map(|k| {
                let part = pollster::block_on(run_shard(
                    &cfg,
                    Shard { k, n },
                    1,
                    None,
                    None,
                    &mut |_| Ok(()),
                    &mut Quiet,
                ))
                .unwrap();
                (format!("part-{k}"), part)
            })
            .collect();
        let merged = merge(&parts).unwrap();
        assert_eq!(without_time(&merged), serial, "{n} shards");
    }
}

#[test]
fn a_sweep_resumes_from_its_finished_budgets() {
    let cfg = micro_sweep("pretrain.lr", "[0.001, 0.003]");
    let full = run(&cfg);
    let mut raws = full.clone().resume_for(&cfg).unwrap();
    for raw in &mut raws {
        raw.base.truncate(1);
        raw.train_loss.truncate(1);
        raw.diverged.truncate(1);
        raw.perturb.truncate(1);
        raw.finetune.truncate(1);
    }
    let resumed = run_ready(experiment::run(
        &cfg,
        &mut Engines::cpu(),
        &mut Quiet,
        Some(raws),
    ))
    .unwrap();
    assert_eq!(without_time(&resumed), without_time(&full));
}

#[test]
fn invalid_sweeps_are_refused_naming_the_part() {
    let base = micro_sweep("pretrain.lr", "[0.001, 0.003]");
    let with = |sweep: serde_json::Value| {
        let mut v = serde_json::to_value(&base).unwrap();
        v["sweep"] = sweep;
        ExperimentConfig::from_json(&v.to_string())
    };
    let field_of = |r: Result<ExperimentConfig, overtrain::ConfigError>| r.unwrap_err().field;
    assert_eq!(
        field_of(with(
            serde_json::json!({"field": "model.width", "values": [1, 2]})
        )),
        "sweep.field"
    );
    assert_eq!(
        field_of(with(
            serde_json::json!({"field": "model", "values": [1, 2]})
        )),
        "sweep.field"
    );
    assert_eq!(
        field_of(with(
            serde_json::json!({"field": "pretrain.lr", "values": [0.001]})
        )),
        "sweep.values"
    );
    let e = with(serde_json::json!({"field": "pretrain.lr", "values": [0.001, -1]})).unwrap_err();
    assert_eq!(e.field, "sweep.values[1]");
    assert!(e.message.contains("pretrain.lr"), "{}", e.message);
    assert_eq!(
        field_of(with(
            serde_json::json!({"field": "model.d_model", "values": [8, "wide"]})
        )),
        "sweep.values[1]"
    );
    assert_eq!(
        field_of(with(
            serde_json::json!({"field": "pretrain.lr", "values": [0.001, 0.001]})
        )),
        "sweep.values[1]"
    );
}

/// The summary plot: a power law through exact points comes back with its exponent and a
/// zero standard error; noisy points give a positive one; one x is no fit.
#[test]
fn power_law_fit_recovers_the_exponent() {
    use overtrain::plot::sweep::fit_power_law;
    let exact: Vec<(f64, f64)> = [1e3, 4e3, 1.6e4]
        .iter()
        .map(|&x: &f64| (x, 7.0 * x.powf(0.6)))
        .collect();
    let fit = fit_power_law(&exact).unwrap();
    assert!((fit.exponent - 0.6).abs() < 1e-9, "{fit:?}");
    assert!((fit.prefactor - 7.0).abs() < 1e-6, "{fit:?}");
    assert!(fit.se.unwrap() < 1e-9);
    let noisy = [(1e3, 100.0), (4e3, 260.0), (1.6e4, 400.0), (6.4e4, 1300.0)];
    let fit = fit_power_law(&noisy).unwrap();
    assert!(fit.exponent > 0.4 && fit.exponent < 0.8, "{fit:?}");
    assert!(fit.se.unwrap() > 0.0);
    assert!(fit_power_law(&[(10.0, 1.0), (10.0, 2.0)]).is_none());
    assert!(fit_power_law(&[(10.0, 1.0)]).is_none());
}

/// A sweep's plots draw one family per value (its label names the value) and add the
/// summary plot, where a value without an inflection is drawn as "none", never a number.
#[test]
fn a_sweep_plots_one_family_per_value_and_its_inflections() {
    use overtrain::plot::{experiment::all_plots, sweep::inflections, PlotOptions};
    let cfg = micro_sweep("model.d_model", "[8, 16]");
    let r = run(&cfg);
    let plots = all_plots(Some(&r), None, &PlotOptions::default());
    let names: Vec<&str> = plots.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.last(), Some(&"inflection"), "{names:?}");
    for (name, svg) in &plots {
        assert!(svg.starts_with("<svg"), "{name}");
        if *name != "inflection" {
            for v in ["d_model = 8", "d_model = 16"] {
                assert!(svg.contains(v), "{name} lacks the family {v}");
            }
        }
    }
    let families = inflections(&r);
    assert!(!families.is_empty());
    for f in &families {
        assert_eq!(f.budgets.len(), 2, "{f:?}");
    }
    let summary = &plots.last().unwrap().1;
    assert!(summary.contains("model.d_model"));
    // Each value's marked inflection is the one its own section's results mark.
    for f in &families {
        for (i, b) in f.budgets.iter().enumerate() {
            let section = &r.sweep.as_ref().unwrap().sections[i];
            let all: Vec<Option<u64>> = section
                .finetune
                .iter()
                .map(|c| c.inflection_budget)
                .chain(section.perturb.iter().map(|p| p.inflection_budget))
                .collect();
            assert!(all.contains(b), "{f:?}");
        }
    }
    // Without a sweep there is no summary plot.
    let mut alone = micro_sweep("model.d_model", "[8, 16]");
    alone.sweep = None;
    let plain = run(&alone);
    let names: Vec<&str> = all_plots(Some(&plain), None, &PlotOptions::default())
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert!(!names.contains(&"inflection"), "{names:?}");
}

/// A step of a larger model counts for more work (the estimate, the ETA and the shards'
/// balance follow the time it takes): a sweep's work is each value's steps weighted by its
/// FLOPs per step against the first value's.
#[test]
fn a_larger_models_steps_count_for_more_work() {
    use overtrain::experiment::plan::step_flops;
    use overtrain::experiment::work_total;
    let cfg = micro_sweep("model.d_model", "[8, 32]");
    let variants = cfg.variants().unwrap();
    let ratio = step_flops(&variants[1]) / step_flops(&variants[0]);
    assert!(ratio > 3.0, "{ratio}");
    let expected = work_total(&variants[0]) + ratio * work_total(&variants[1]);
    assert!((work_total(&cfg) - expected).abs() <= 1e-9 * expected);
    // A lever that leaves the step alone weighs each value's steps the same.
    let lr = micro_sweep("pretrain.lr", "[0.001, 0.01]");
    let v = lr.variants().unwrap();
    assert_eq!(work_total(&lr), work_total(&v[0]) + work_total(&v[1]));
}
