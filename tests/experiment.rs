//! The transformer-lab experiment on the CPU reference at micro scale: runs and steps per
//! protocol, wsd branches from the stable run, constant's checkpoints from its one run,
//! perturbation noise statistics, fine-tuning from the pre-trained weights, replayed
//! pre-training text in fine-tuning batches, the inflection rule, the results schema, bad
//! input, and a diverging fine-tuning run. (The GPU backend runs the same experiment in
//! tests/common/transformer_checks.rs.)

use overtrain::experiment::Engines;
use overtrain::experiment::{self, ExperimentConfig, Host, Progress, Protocol};
use overtrain::inflection::inflection;
use overtrain::transformer::engine::run_ready;
use overtrain::transformer::params::Layout;
use overtrain::Error;

/// Records every progress report.
#[derive(Default)]
struct Recorder {
    reports: Vec<Progress>,
    partials: usize,
}

impl Host for Recorder {
    async fn progress(&mut self, p: &Progress) -> Result<(), Error> {
        self.reports.push(p.clone());
        Ok(())
    }
    fn budget_done(&mut self, _: &experiment::ExperimentResults) {
        self.partials += 1;
    }
    fn now_ms(&self) -> f64 {
        0.0
    }
}

fn micro() -> ExperimentConfig {
    ExperimentConfig::from_json(
        r#"{"batch": 4, "eval_batches": 2,
            "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
            "pretrain": {"budgets": [320, 640, 1280]},
            "perturb": {"gammas": [0.5, 2.0], "draws": 3},
            "finetune": {"lrs": [0.001, 0.01], "l2": [0.0, 0.5], "steps": 6, "seeds": 2}}"#,
    )
    .unwrap()
}

fn run(cfg: &ExperimentConfig) -> (experiment::ExperimentResults, Recorder) {
    let mut engine = Engines::cpu();
    let mut host = Recorder::default();
    let r = run_ready(experiment::run(cfg, &mut engine, &mut host, None)).unwrap();
    (r, host)
}

/// Distinct runs of a phase (by label) and the steps each reported.
fn runs(host: &Recorder, phase: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for p in host.reports.iter().filter(|p| p.phase == phase) {
        match out.last_mut() {
            Some((label, steps)) if *label == p.label => *steps = p.step,
            _ => out.push((p.label.clone(), p.step)),
        }
    }
    out
}

#[test]
fn the_independent_protocol_runs_every_budget_perturbation_and_fine_tuning() {
    let cfg = micro();
    assert_eq!(cfg.budget_steps(), [10, 20, 40]); // 32 tokens per step
    let (r, host) = run(&cfg);
    let pre = runs(&host, "pretrain");
    assert_eq!(pre.iter().map(|r| r.1).collect::<Vec<_>>(), [10, 20, 40]);
    assert_eq!(
        r.base.train_loss.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 20, 40]
    );
    // Every budget: γ × draws perturbation evaluations, λ × lr × seed fine-tuning runs.
    let perturb = host.reports.iter().filter(|p| p.phase == "perturb").count();
    assert_eq!(perturb, 3 * 2 * 3);
    let ft = runs(&host, "finetune");
    assert_eq!(ft.len(), 3 * 2 * 2 * 2);
    assert!(ft.iter().all(|(_, steps)| *steps == 6));
    assert_eq!(host.partials, 3, "partial results after each budget");
    let last = host.reports.last().unwrap();
    assert!((last.work_done - last.work_total).abs() < 1e-6, "{last:?}");
    // Independent runs share the init and the data order: budget 1's first steps are
    // budget 2's first steps up to the learning rate, which differs after warmup.
    assert_eq!(r.base.train_loss[0][0], r.base.train_loss[1][0]);
    // More pre-training helps the base model here.
    assert!(
        r.base.pretrain_ppl[2] < r.base.pretrain_ppl[0],
        "{:?}",
        r.base.pretrain_ppl
    );
}

#[test]
fn wsd_branches_decay_from_the_stable_run() {
    let mut cfg = micro();
    cfg.pretrain.protocol = Protocol::Wsd;
    cfg.pretrain.decay_fraction = 0.5;
    cfg.finetune.lrs = vec![0.001];
    cfg.finetune.l2 = vec![0.0];
    let (r, host) = run(&cfg);
    // Stable phases to the branch points 5, 10, 20; decay branches of 5, 10, 20 steps.
    let pre = runs(&host, "pretrain");
    let steps: Vec<usize> = pre.iter().map(|r| r.1).collect();
    assert_eq!(steps, [5, 5, 5, 10, 10, 20], "{pre:?}");
    let l = &r.base.train_loss;
    assert_eq!(l.iter().map(Vec::len).collect::<Vec<_>>(), [10, 20, 40]);
    // Each budget's curve starts with the one stable run (bit for bit) …
    assert_eq!(l[1][..10], l[2][..10]);
    assert_eq!(l[0][..5], l[1][..5]);
    // … and branches from it: budget 1 decays where budget 2 keeps the stable rate.
    assert_ne!(l[0][5..10], l[1][5..10]);
}

#[test]
fn constant_checkpoints_are_the_one_runs_states_at_each_budget() {
    use overtrain::transformer::engine::{Engine, Stretch, TrainState};
    use overtrain::transformer::optim::Hyper;
    use overtrain::transformer::schedule::{Lr, Schedule};
    use overtrain::transformer::train::{Corpus, TrainConfig};
    let mut cfg = micro();
    cfg.pretrain.protocol = Protocol::Constant;
    cfg.pretrain.warmup_fraction = 0.3;
    cfg.finetune.lrs = vec![0.001];
    cfg.finetune.l2 = vec![0.0];
    let (r, host) = run(&cfg);
    // One run in stable phases to each budget (10, 20, 40 steps), nothing decays.
    let trained: Vec<usize> = runs(&host, "pretrain")
        .into_iter()
        .filter(|(_, steps)| *steps > 0)
        .map(|r| r.1)
        .collect();
    assert_eq!(trained, [10, 10, 20]);
    let l = &r.base.train_loss;
    assert_eq!(l.iter().map(Vec::len).collect::<Vec<_>>(), [10, 20, 40]);
    assert_eq!(l[0][..], l[1][..10]);
    assert_eq!(l[1][..], l[2][..20]);
    // The same run by hand: warmup over ⌈0.3 × 10⌉ = 3 steps of the first budget, then the
    // peak to the end; each budget's held-out perplexity is its state's, bit for bit.
    let lr = Lr {
        schedule: Schedule::Constant,
        peak: cfg.pretrain.lr,
        warmup: 3,
        total: 40,
    };
    // (The warmup's third step, step 2, reaches the peak, peak·3/3 up to rounding.)
    let peak = cfg.pretrain.lr;
    assert!((0..2).all(|s| lr.at(s) < peak));
    assert!((lr.at(2) - peak).abs() < 1e-12 * peak);
    assert!((3..40).all(|s| lr.at(s) == peak), "constant after warmup");
    let mut corpus = Corpus::new(&TrainConfig {
        seed: cfg.seed,
        model: cfg.model.clone(),
        batch: cfg.batch,
        eval_batches: cfg.eval_batches,
        ..TrainConfig::default()
    });
    let mut engine = Engine::cpu(&cfg.model, cfg.batch, cfg.micro_batches);
    engine
        .load(&TrainState::fresh(Layout::new(&cfg.model).init(cfg.seed)))
        .unwrap();
    let hyper = Hyper {
        weight_decay: cfg.pretrain.weight_decay,
        grad_clip: cfg.pretrain.grad_clip,
        ..Hyper::default()
    };
    let mut from = 0;
    for (b, &to) in cfg.budget_steps().iter().enumerate() {
        let stretch = Stretch {
            source: corpus.train_source(),
            lr: &lr,
            steps: from..to,
            hyper,
            eval: None,
        };
        run_ready(engine.train(stretch, &mut ())).unwrap();
        let ppl = run_ready(engine.evaluate(&corpus.eval)).unwrap().exp();
        assert_eq!(ppl, r.base.pretrain_ppl[b], "budget {b}");
        from = to;
    }
    // wsd of the same budgets decays at the end of each: other checkpoints.
    cfg.pretrain.protocol = Protocol::Wsd;
    let (w, _) = run(&cfg);
    assert_ne!(w.base.pretrain_ppl, r.base.pretrain_ppl);
}

#[test]
fn sam_pre_training_changes_the_models_and_its_progress_adds_up() {
    let mut cfg = micro();
    cfg.finetune.lrs = vec![0.01];
    cfg.finetune.l2 = vec![0.0];
    let (plain, _) = run(&cfg);
    cfg.pretrain.sam_rho = 0.05;
    let (sam, host) = run(&cfg);
    let (l, p) = (&sam.base.train_loss, &plain.base.train_loss);
    assert_eq!(l[0][0], p[0][0], "the reported loss is the one at w");
    assert_ne!(l[0][1..], p[0][1..], "the updates differ");
    assert_ne!(sam.base.pretrain_ppl, plain.base.pretrain_ppl);
    // A SAM step is two steps of work, in the plan and in the progress alike.
    let last = host.reports.last().unwrap();
    assert!((last.work_done - last.work_total).abs() < 1e-6, "{last:?}");
    assert!(last.work_total > plain_work(&cfg));
}

/// The plan's work of `cfg` without SAM.
fn plain_work(cfg: &ExperimentConfig) -> f64 {
    let mut c = cfg.clone();
    c.pretrain.sam_rho = 0.0;
    overtrain::experiment::work_total(&c)
}

#[test]
fn replayed_rows_come_from_fresh_pretraining_text() {
    use overtrain::data::tasks::task_source;
    use overtrain::data::{batch, ByteSource, Split};
    use overtrain::experiment::units::{finetune_stream, replay_stream};
    let mut cfg = micro();
    let (b, t) = (cfg.batch, cfg.model.ctx);
    let row = t + 1;
    let draw = |source: &mut dyn ByteSource, n: usize| -> Vec<Vec<u8>> {
        (0..n).map(|_| batch(source, b, t)).collect()
    };
    let rows = |batches: &[Vec<u8>], keep: std::ops::Range<usize>| -> Vec<Vec<u8>> {
        batches
            .iter()
            .flat_map(|x| x.chunks(row).skip(keep.start).take(keep.len()))
            .map(<[u8]>::to_vec)
            .collect()
    };
    // Replay 0: the task's stream, untouched.
    let task = draw(
        task_source("shifted", cfg.seed, Split::Train, 1)
            .unwrap()
            .as_mut(),
        6,
    );
    assert_eq!(draw(finetune_stream(&cfg, 1).as_mut(), 6), task);
    for (replay, replayed) in [(0.25, 1), (0.5, 2), (0.6, 2), (0.9, 4), (1.0, 4)] {
        cfg.finetune.replay = replay;
        let mixed = draw(finetune_stream(&cfg, 1).as_mut(), 6);
        assert_eq!(
            mixed,
            draw(finetune_stream(&cfg, 1).as_mut(), 6),
            "deterministic"
        );
        // Exactly round(replay × batch) rows of every batch replay the pre-training
        // language, in order; the task's rows follow, in order.
        let replay_rows = draw(replay_stream(&cfg, 1).as_mut(), 6);
        assert_eq!(
            rows(&mixed, 0..replayed),
            rows(&replay_rows, 0..b)[..6 * replayed],
            "replay {replay}"
        );
        assert_eq!(
            rows(&mixed, replayed..b),
            rows(&task, 0..b)[..6 * (b - replayed)],
            "replay {replay}"
        );
    }
    // Each fine-tuning seed replays its own text, which is neither the pre-training run's
    // stream nor its held-out batches.
    let replayed = rows(&draw(replay_stream(&cfg, 0).as_mut(), 50), 0..b);
    assert_ne!(
        replayed,
        rows(&draw(replay_stream(&cfg, 1).as_mut(), 50), 0..b)
    );
    let mut corpus =
        overtrain::transformer::train::Corpus::new(&overtrain::transformer::train::TrainConfig {
            seed: cfg.seed,
            model: cfg.model.clone(),
            batch: b,
            eval_batches: cfg.eval_batches,
            ..Default::default()
        });
    let pretraining = rows(&draw(corpus.train_source(), 50), 0..b);
    assert_ne!(replayed[0], pretraining[0]);
    assert_ne!(replayed, pretraining);
    let heldout = rows(&corpus.eval, 0..b);
    assert_ne!(replayed[..heldout.len()], heldout[..]);
    // The pre-training language: its words over its letters (no digits or symbols).
    let text: String = replayed
        .iter()
        .map(|r| overtrain::data::decode(r))
        .collect();
    assert!(
        text.chars()
            .all(|c| c.is_ascii_alphabetic() || " .\n".contains(c)),
        "{text}"
    );
}

#[test]
fn replay_changes_fine_tuning_alone_and_is_deterministic() {
    let mut cfg = micro();
    cfg.finetune.lrs = vec![0.01];
    cfg.finetune.l2 = vec![0.0];
    let (plain, _) = run(&cfg);
    cfg.finetune.replay = 0.5;
    let (a, _) = run(&cfg);
    let (b, _) = run(&cfg);
    assert_eq!(a.raw, b.raw, "the same config gives the same numbers");
    assert_eq!(a.base, plain.base, "pre-training does not see the replay");
    assert_eq!(a.perturb, plain.perturb);
    assert_ne!(a.finetune[0].pretrain_ppl, plain.finetune[0].pretrain_ppl);
}

#[test]
fn perturbation_noise_has_the_init_std_of_each_tensor_and_spares_constants() {
    let cfg = micro();
    let layout = Layout::new(&cfg.model);
    let params = layout.init(1);
    let sigma = experiment::noise_scale(&layout, false);
    let gamma = 2.0;
    let mut noise: Vec<Vec<f32>> = vec![Vec::new(); layout.tensors.len()];
    for draw in 0..40 {
        let noisy = experiment::perturbed(&params, &sigma, gamma, 9, draw);
        for (k, t) in layout.tensors.iter().enumerate() {
            for i in t.range() {
                noise[k].push(noisy[i] - params[i]);
            }
        }
    }
    for (t, z) in layout.tensors.iter().zip(&noise) {
        if t.init_std == 0.0 {
            assert!(
                z.iter().all(|&x| x == 0.0),
                "{} is constant-initialized",
                t.name
            );
            continue;
        }
        let n = z.len() as f64;
        let mean = z.iter().map(|&x| x as f64).sum::<f64>() / n;
        let std = (z.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
        let want = gamma * t.init_std as f64;
        // n ≥ 640 samples: the std's relative standard error is under 3%.
        assert!(
            (std / want - 1.0).abs() < 0.12,
            "{}: std {std}, want {want}",
            t.name
        );
        assert!(
            mean.abs() < 4.0 * want / n.sqrt(),
            "{}: mean {mean}",
            t.name
        );
    }
    let with_constants = experiment::noise_scale(&layout, true);
    let gain = layout.get("h.0.ln1.g");
    assert!(with_constants[gain.range()].iter().all(|&s| s == 0.02));
}

#[test]
fn fine_tuning_starts_from_the_pre_trained_weights() {
    let mut cfg = micro();
    // A vanishing learning rate: fine-tuning leaves the model where pre-training put it.
    cfg.finetune.lrs = vec![1e-12];
    cfg.finetune.l2 = vec![0.0];
    let (r, _) = run(&cfg);
    let ft = &r.finetune[0];
    for (b, base) in r.base.pretrain_ppl.iter().enumerate() {
        let after = ft.pretrain_ppl[b].unwrap();
        assert!(
            (after - base).abs() < 1e-6 * base,
            "budget {b}: {after} vs {base}"
        );
        assert!(ft.pretrain_change[b].unwrap().abs() < 1e-6 * base);
    }
}

#[test]
fn the_inflection_rule_needs_a_minimum_clear_of_both_ends_by_the_noise() {
    let b = [1, 2, 4, 8, 16];
    let some = |xs: &[f64]| xs.iter().map(|&x| Some(x)).collect::<Vec<_>>();
    let none = vec![None; 5];
    // A U: the minimum at 4.
    assert_eq!(
        inflection(&b, &some(&[5.0, 4.0, 3.0, 3.5, 4.5]), &none),
        Some(4)
    );
    // Monotone: no inflection; a minimum at an end is none either.
    assert_eq!(
        inflection(&b, &some(&[5.0, 4.0, 3.0, 2.5, 2.0]), &none),
        None
    );
    assert_eq!(
        inflection(&b, &some(&[1.0, 4.0, 3.0, 3.5, 4.5]), &none),
        None
    );
    // The same U within the noise: not reported.
    let se = some(&[0.5, 0.5, 0.5, 0.5, 0.5]);
    assert_eq!(inflection(&b, &some(&[3.5, 3.2, 3.0, 3.1, 3.6]), &se), None);
    // Clear of the noise: reported.
    let small = some(&[0.05; 5]);
    assert_eq!(
        inflection(&b, &some(&[3.5, 3.2, 3.0, 3.1, 3.6]), &small),
        Some(4)
    );
    // Diverged points are skipped.
    let gaps = vec![Some(5.0), None, Some(3.0), Some(3.5), Some(4.5)];
    assert_eq!(inflection(&b, &gaps, &none), Some(4));
}

#[test]
fn the_results_follow_schema_1() {
    let mut cfg = micro();
    cfg.finetune.l2 = vec![0.0];
    let (r, _) = run(&cfg);
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["budgets"], serde_json::json!([320, 640, 1280]));
    assert_eq!(v["config"]["pretrain"]["budgets"], v["budgets"]);
    assert_eq!(v["base"]["pretrain_ppl"].as_array().unwrap().len(), 3);
    for p in v["perturb"].as_array().unwrap() {
        for key in ["pretrain_ppl_mean", "pretrain_ppl_std", "change_mean"] {
            assert_eq!(p[key].as_array().unwrap().len(), 3, "{key}");
        }
        assert!(p["gamma"].is_f64() && p.get("inflection_budget").is_some());
    }
    let ft = v["finetune"].as_array().unwrap();
    assert_eq!(ft.len(), 2);
    for f in ft {
        assert_eq!(f["task"], "shifted");
        for key in ["pretrain_ppl", "pretrain_ppl_std", "id_ppl", "id_ppl_std"] {
            assert_eq!(f[key].as_array().unwrap().len(), 3, "{key}");
        }
        assert!(f["lr"].is_f64() && f["l2"].is_f64() && f.get("inflection_budget").is_some());
    }
    assert_eq!(v["tuned"][0]["lr"].as_array().unwrap().len(), 3);
    // Perplexities are perplexities: above 1, below the uniform 256 after training.
    for x in v["base"]["pretrain_ppl"].as_array().unwrap() {
        let x = x.as_f64().unwrap();
        assert!(x > 1.0 && x < 256.0, "{x}");
    }
}

#[test]
fn bad_input_names_the_field() {
    let cases = [
        (r#"{"pretrain": {"budgets": []}}"#, "pretrain.budgets"),
        (
            r#"{"pretrain": {"budgets": [2048, 1024]}}"#,
            "pretrain.budgets[1]",
        ),
        (
            r#"{"pretrain": {"budgets": [1048576, 1048576]}}"#,
            "pretrain.budgets[1]",
        ),
        (
            r#"{"pretrain": {"budgets": [20000000000]}}"#,
            "pretrain.budgets[0]",
        ),
        (r#"{"pretrain": {"budgets": [10]}}"#, "pretrain.budgets[0]"),
        (r#"{"perturb": {"gammas": []}}"#, "perturb.gammas"),
        (r#"{"perturb": {"gammas": [0.5, -1]}}"#, "perturb.gammas[1]"),
        (r#"{"finetune": {"lrs": [0.001, 0]}}"#, "finetune.lrs[1]"),
        (r#"{"finetune": {"lrs": []}}"#, "finetune.lrs"),
        (r#"{"finetune": {"task": "poetry"}}"#, "finetune.task"),
        (r#"{"finetune": {"task": "user"}}"#, "finetune.user_text"),
        (
            r#"{"finetune": {"task": "user", "user_text": "too short"}}"#,
            "finetune.user_text",
        ),
        (
            r#"{"model": {"d_model": 30, "n_head": 4}}"#,
            "model.d_model",
        ),
        (r#"{"schema_version": 2}"#, "schema_version"),
        (r#"{"budgets": [1]}"#, "budgets"),
    ];
    for (json, field) in cases {
        let e = ExperimentConfig::from_json(json).expect_err(json);
        assert_eq!(e.field, field, "{json}: {e}");
    }
    for name in experiment::config::PRESETS {
        ExperimentConfig::preset(name).unwrap().validate().unwrap();
    }
}

#[test]
fn a_diverging_fine_tuning_run_is_recorded_and_the_rest_goes_on() {
    let mut cfg = micro();
    cfg.pretrain.budgets = vec![320, 640, 1280];
    cfg.finetune.l2 = vec![0.0];
    cfg.finetune.seeds = 1;
    // No clipping and the largest learning rate: AdamW moves every weight by about 1 per
    // step and the loss soon exceeds 4 × ln 256, which counts as diverged.
    cfg.finetune.lrs = vec![1e-3, 1.0];
    cfg.finetune.grad_clip = 0.0;
    cfg.finetune.steps = 400;
    cfg.finetune.warmup_fraction = 0.0;
    let (r, _) = run(&cfg);
    let (good, bad) = (&r.finetune[0], &r.finetune[1]);
    assert!(good.diverged.iter().all(|&d| d == 0));
    assert!(good.pretrain_ppl.iter().all(Option::is_some));
    assert!(bad.diverged.contains(&1), "lr 1 diverges: {bad:?}");
    for (b, &d) in bad.diverged.iter().enumerate() {
        assert_eq!(bad.pretrain_ppl[b].is_none(), d == 1);
        assert_eq!(bad.id_ppl[b].is_none(), d == 1);
    }
}

#[test]
fn resuming_keeps_the_finished_budgets_and_gives_the_full_run() {
    for protocol in [Protocol::Independent, Protocol::Wsd, Protocol::Constant] {
        let mut cfg = micro();
        cfg.pretrain.protocol = protocol;
        cfg.finetune.l2 = vec![0.0];
        let (full, _) = run(&cfg);
        // An interrupted run: only its first budget finished.
        let mut partial = full.raw.clone();
        partial.base.truncate(1);
        partial.train_loss.truncate(1);
        partial.diverged.truncate(1);
        partial.perturb.truncate(1);
        partial.finetune.truncate(1);
        let mut engine = Engines::cpu();
        let mut host = Recorder::default();
        let resumed = run_ready(experiment::run(
            &cfg,
            &mut engine,
            &mut host,
            Some(vec![partial]),
        ))
        .unwrap();
        assert_eq!(resumed.raw, full.raw, "{protocol:?}");
        assert_eq!(resumed.finetune, full.finetune);
        // Budget 1 was not run again: no fine-tuning or perturbation of it.
        assert!(host
            .reports
            .iter()
            .all(|p| p.phase == "pretrain" || p.phase == "done" || p.budget_index > 0));
        let last = host.reports.last().unwrap();
        assert!(
            (last.work_done - last.work_total).abs() < 1e-6,
            "{protocol:?}: {last:?}"
        );
    }
}

#[test]
fn a_recorded_run_is_drawn_beneath_the_live_run_or_alone() {
    use overtrain::plot::experiment::all_plots;
    let mut cfg = micro();
    cfg.finetune.l2 = vec![0.0];
    let (r, _) = run(&cfg);
    let opts = Default::default();
    let live = all_plots(Some(&r), None, &opts);
    let both = all_plots(Some(&r), Some(&r), &opts);
    let alone = all_plots(None, Some(&r), &opts);
    assert_eq!(live.len(), 5);
    // A recorded curve: wide (3 × the line width) and light (35 % opacity).
    let wide = r#"opacity="0.35" stroke="#;
    for (((name, l), (_, b)), (_, a)) in live.iter().zip(&both).zip(&alone) {
        let lines = |svg: &str| svg.matches("<polyline").count();
        let recorded = |svg: &str| svg.matches("(recorded)").count();
        assert_eq!(recorded(l), 0, "{name}");
        assert!(!l.contains(wide), "{name}");
        // Every live curve gets its recorded twin in the legend, drawn wide and light
        // *before* the live ones (beneath them: a live curve that matches the record leaves
        // it visible around it); alone, the recorded curves are all there is.
        assert!(recorded(b) > 0 && recorded(b) == recorded(a), "{name}");
        assert!(lines(b) > lines(l), "{name}");
        let first_wide = b
            .find(wide)
            .unwrap_or_else(|| panic!("{name}: no recorded curve"));
        // A live curve's line (the axes' lines are 1 wide, a recorded one 6).
        let first_live = b.find(r#"stroke-width="2" points="#).unwrap_or(usize::MAX);
        assert!(
            first_wide < first_live,
            "{name}: the record is drawn over the live curves"
        );
        assert!(a.contains(wide) && a.len() > 2000, "{name}: {a}");
    }
}

#[test]
fn units_on_several_threads_give_the_serial_results_bit_for_bit() {
    use overtrain::experiment::run_threads;
    for protocol in [Protocol::Independent, Protocol::Wsd, Protocol::Constant] {
        let mut cfg = micro();
        cfg.pretrain.protocol = protocol;
        let (serial, _) = run(&cfg);
        for threads in [2, 3, 5] {
            let mut host = Recorder::default();
            let parallel = pollster::block_on(run_threads(&cfg, threads, &mut host, None)).unwrap();
            let (mut a, mut b) = (
                serde_json::to_value(&serial).unwrap(),
                serde_json::to_value(&parallel).unwrap(),
            );
            a.as_object_mut().unwrap().remove("elapsed_s");
            b.as_object_mut().unwrap().remove("elapsed_s");
            assert_eq!(a, b, "{protocol:?}, {threads} threads");
            assert_eq!(host.partials, 3, "each budget reported, in order");
            let last = host.reports.last().unwrap();
            assert_eq!(last.phase, "done");
            assert!((last.work_done - last.work_total).abs() < 1e-6, "{last:?}");
            // Progress never runs backwards past the total.
            assert!(host
                .reports
                .iter()
                .all(|p| p.work_done <= p.work_total + 1e-6));
        }
        // Resuming on threads gives the same results too.
        let mut partial = serial.raw.clone();
        partial.base.truncate(1);
        partial.train_loss.truncate(1);
        partial.diverged.truncate(1);
        partial.perturb.truncate(1);
        partial.finetune.truncate(1);
        let mut host = Recorder::default();
        let resumed =
            pollster::block_on(run_threads(&cfg, 2, &mut host, Some(vec![partial]))).unwrap();
        assert_eq!(resumed.raw, serial.raw, "{protocol:?}");
    }
}

#[test]
fn a_cancel_stops_every_thread() {
    use overtrain::experiment::run_threads;
    /// Cancels at the fifth progress report.
    #[derive(Default)]
    struct Cancel(usize);
    impl Host for Cancel {
        async fn progress(&mut self, _: &Progress) -> Result<(), Error> {
            self.0 += 1;
            if self.0 >= 5 {
                Err(Error::Cancelled)
            } else {
                Ok(())
            }
        }
        fn now_ms(&self) -> f64 {
            0.0
        }
    }
    let err = pollster::block_on(run_threads(&micro(), 3, &mut Cancel::default(), None));
    assert_eq!(err.unwrap_err(), Error::Cancelled);
}

/// What the page's worker pool does: a schedule on one side, units run elsewhere with
/// their inputs and outputs crossing as JSON, handed out and returned in another order.
#[test]
fn units_run_from_json_in_any_ready_order_give_the_serial_results() {
    use overtrain::experiment::{run_unit, Output, Scheduler, UnitProgress, Watch};
    struct Nothing;
    impl Watch for Nothing {
        async fn unit_progress(&mut self, _: &UnitProgress) -> Result<(), Error> {
            Ok(())
        }
    }
    for protocol in [Protocol::Independent, Protocol::Wsd, Protocol::Constant] {
        let mut cfg = micro();
        cfg.pretrain.protocol = protocol;
        let (serial, _) = run(&cfg);
        let mut schedule = Scheduler::new(&cfg, None, "CPU", 0.0).unwrap();
        let mut engine = Engines::cpu();
        let mut partials = 0;
        while !schedule.finished() {
            // Take every ready unit, then finish them last-first.
            let mut batch = Vec::new();
            while let Some(job) = schedule.take_ready() {
                batch.push(serde_json::to_string(&job).unwrap());
            }
            for text in batch.into_iter().rev() {
                let (unit, input): (experiment::Job, Option<Output>) =
                    serde_json::from_str(&text).unwrap();
                let output = run_ready(run_unit(
                    &cfg,
                    unit,
                    input.as_ref(),
                    &mut engine,
                    &mut Nothing,
                ))
                .unwrap();
                let output: Output =
                    serde_json::from_str(&serde_json::to_string(&output).unwrap()).unwrap();
                partials += schedule
                    .done(unit, output, 0.0)
                    .iter()
                    .filter(|e| matches!(e, experiment::Event::BudgetDone(_)))
                    .count();
            }
        }
        assert_eq!(partials, 3);
        let r = schedule.results(0.0);
        assert_eq!(r.raw, serial.raw, "{protocol:?}");
        assert_eq!(r.finetune, serial.finetune);
        assert_eq!(r.perturb, serial.perturb);
    }
}
