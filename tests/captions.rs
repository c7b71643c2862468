//! Captions computed from the run they describe (src/plot/captions.rs): a run that shows
//! the effect says so with its numbers, one that does not says that, and every minimum
//! named is the one the results mark by the significance rule.

use overtrain::experiment::Engines;
use overtrain::experiment::{self, ExperimentConfig, ExperimentResults};
use overtrain::linear::{run, LinearConfig};
use overtrain::plot::captions::{self, tokens, Caption};
use overtrain::transformer::engine::run_ready;

#[path = "common/quiet_host.rs"]
mod quiet_host;
use quiet_host::Quiet;

fn caption<'a>(all: &'a [Caption], plot: &str) -> &'a Caption {
    all.iter().find(|c| c.plot == plot).expect(plot)
}

fn recorded(name: &str) -> ExperimentResults {
    let path = format!(
        "{}/docs/results/{name}/results.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every inflection the results mark is named in the caption, and the caption claims the
/// effect exactly when there is one.
fn check_experiment(r: &ExperimentResults) -> Vec<Caption> {
    let all = captions::experiment(r);
    let finetuned = caption(&all, "finetuned");
    let marked: Vec<u64> = r
        .finetune
        .iter()
        .filter_map(|f| f.inflection_budget)
        .collect();
    for b in &marked {
        let named = format!("is lowest at {} tokens", tokens(*b));
        assert!(
            finetuned.text.contains(&named),
            "{named}: {}",
            finetuned.text
        );
    }
    assert_eq!(finetuned.shows_effect, Some(!marked.is_empty()));
    assert_eq!(
        finetuned
            .text
            .contains("did not show catastrophic overtraining"),
        marked.is_empty(),
        "{}",
        finetuned.text
    );
    let lowest = finetuned.text.matches("is lowest at").count();
    assert_eq!(
        lowest,
        marked.len(),
        "one minimum named per marked inflection"
    );
    for p in r.perturb.iter().filter_map(|p| p.inflection_budget) {
        let perturbed = caption(&all, "perturbed");
        assert!(perturbed
            .text
            .contains(&format!("is lowest at {} tokens", tokens(p))));
    }
    all
}

#[test]
fn the_quick_record_is_described_with_its_own_numbers() {
    let r = recorded("quick");
    let all = check_experiment(&r);
    let finetuned = caption(&all, "finetuned");
    assert!(finetuned.text.contains("shows catastrophic overtraining"));
    // Both learning rates bottom out at 2.1M tokens here: "at the same point", not "earlier".
    assert!(
        finetuned.text.contains("at the same point"),
        "{}",
        finetuned.text
    );
    assert!(
        !finetuned.text.contains("earlier than"),
        "{}",
        finetuned.text
    );
    let base = caption(&all, "base");
    assert!(
        base.text
            .contains("falls at every budget from 18.6 at 262k tokens"),
        "{}",
        base.text
    );
    for c in &all {
        eprintln!("{}: {}\n", c.plot, c.text);
    }
}

#[test]
fn the_paper_record_names_the_earlier_minimum_of_the_larger_rate() {
    let r = recorded("paper");
    let all = check_experiment(&r);
    let finetuned = caption(&all, "finetuned");
    assert!(
        finetuned.text.contains("The larger lr 0.003 turns upward earlier than lr 0.001 (1.0M tokens against 2.0M tokens)"),
        "{}",
        finetuned.text
    );
}

#[test]
fn a_micro_run_does_not_claim_the_effect() {
    let config = ExperimentConfig::preset("micro").unwrap();
    let mut engine = Engines::cpu();
    let r = run_ready(experiment::run(&config, &mut engine, &mut Quiet, None)).unwrap();
    // Micro is too small to show the effect: no U after fine-tuning.
    assert!(r.finetune.iter().all(|f| f.inflection_budget.is_none()));
    let all = check_experiment(&r);
    for c in &all {
        eprintln!("{}: {}\n", c.plot, c.text);
        assert!(
            !c.text.contains("shows catastrophic overtraining"),
            "{}",
            c.text
        );
    }
    // A cost that does not grow is not said to grow.
    let change = caption(&all, "finetuned_change");
    let grows = r.finetune.iter().all(|f| {
        let v: Vec<f64> = f.pretrain_change.iter().flatten().copied().collect();
        v.last() > v.first()
    });
    if !grows {
        assert!(
            change.text.contains("does not grow with the budget"),
            "{}",
            change.text
        );
        assert_eq!(change.shows_effect, Some(false));
    }
}

#[test]
fn the_linear_default_says_which_curves_turn_and_which_do_not() {
    let r = run(&LinearConfig::default()).unwrap();
    let all = captions::linear(&r);
    for c in &all {
        eprintln!("{}: {}\n", c.plot, c.text);
    }
    let perturbed = caption(&all, "perturbed");
    // γ = 0.02's dip is within its Monte Carlo noise; γ = 0.05's minimum is clear.
    assert!(perturbed
        .text
        .contains("For γ = 0.02 the perturbed loss has its lowest point"));
    assert!(perturbed.text.contains("no clear minimum"));
    assert!(perturbed
        .text
        .contains("For γ = 0.05 the perturbed loss is lowest at step 550"));
    let finetuned = caption(&all, "finetuned");
    assert!(finetuned
        .text
        .contains("With η = 0.01 the pre-training loss after fine-tuning is lowest at step 450"));
    assert!(finetuned.text.contains(
        "With η = 0.1 the pre-training loss after fine-tuning rises from the first point on"
    ));
    assert!(finetuned.text.contains(
        "The larger η = 0.03 turns upward earlier than η = 0.01 (step 250 against step 450)"
    ));
    assert!(finetuned.text.contains(
        "The larger η = 0.1 turns upward earlier than η = 0.03: before the first checkpoint"
    ));
    assert!(finetuned
        .text
        .contains("The larger η = 0.03 turns upward earlier than η = 0.01 with λ = 1 (step 350"));
    assert_eq!(caption(&all, "sensitivity").shows_effect, Some(true));
}

/// A sweep's captions: each plot's names every value and says what that value's curves
/// show (its own experiment's caption); the summary names each family's inflection at
/// every value, "none" where the results mark none, and for a model-size sweep the fitted
/// exponent as the plot's legend states it.
#[test]
fn the_sweep_records_are_described_value_by_value() {
    for name in ["scaling", "schedules", "mitigations"] {
        let r = recorded(name);
        let sweep = r.sweep.as_ref().expect("a sweep");
        let all = captions::experiment(&r);
        let short = sweep.short_field();
        for plot in [
            "base",
            "perturbed",
            "finetuned_change",
            "finetuned",
            "tuned",
        ] {
            let c = caption(&all, plot);
            let mut from = 0;
            for (i, section) in sweep.sections.iter().enumerate() {
                let value = overtrain::plot::sweep::value_label(&sweep.values[i]);
                let own = caption(&captions::experiment(section), plot).text.clone();
                let lead = format!("At {short} = {value}: ");
                let at = c.text[from..]
                    .find(&lead)
                    .unwrap_or_else(|| panic!("{name} {plot}: {lead} in order: {}", c.text))
                    + from;
                // The value's own caption follows, its first letter lower-cased.
                let rest = &c.text[at + lead.len()..];
                let tail = |t: &str| {
                    t.chars()
                        .skip(1)
                        .take(own.chars().count() - 1)
                        .collect::<String>()
                };
                assert_eq!(tail(rest), tail(&own), "{name} {plot} value {i}");
                from = at + lead.len();
            }
            let own_effects: Vec<Option<bool>> = sweep
                .sections
                .iter()
                .map(|s| caption(&captions::experiment(s), plot).shows_effect)
                .collect();
            assert_eq!(
                c.shows_effect == Some(true),
                own_effects.contains(&Some(true)),
                "{name} {plot}"
            );
        }
        let summary = caption(&all, "inflection");
        for f in overtrain::plot::sweep::inflections(&r) {
            for (b, v) in f.budgets.iter().zip(&sweep.values) {
                let value = overtrain::plot::sweep::value_label(v);
                let where_ = match b {
                    Some(t) => format!("at {} tokens for {short} = {value}", tokens(*t)),
                    None => format!("none within the budgets for {short} = {value}"),
                };
                assert!(
                    summary.text.contains(&where_),
                    "{name}: {where_}: {}",
                    summary.text
                );
            }
        }
        let law = overtrain::plot::sweep::size_law(&r);
        assert_eq!(law.is_some(), name == "scaling");
        if let Some((_, Some(fit))) = law {
            assert!(
                summary
                    .text
                    .contains(&format!("parameters^{}", captions::num(fit.exponent))),
                "{}",
                summary.text
            );
        }
    }
}
