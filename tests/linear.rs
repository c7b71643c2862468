//! Native tests of the linear transfer lab (science.md §2): the CPU reference against
//! finite differences and closed forms, determinism, validation, and the paper's claims.

use overtrain::cpu::linear::{
    balanced_init, linear_backward, linear_forward, loss_backward, squared_distance, Workspace,
};
use overtrain::cpu::{matmul, matmul_tn, transpose};
use overtrain::inflection::{verdict, Verdict};
use overtrain::linear::config::limits;
use overtrain::linear::experiment::{expected_perturbed_loss, perturbed_loss, Checkpoint, Noise};
use overtrain::linear::{run, Basis, LinearConfig, Spectrum};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_vec(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect()
}

/// L = ‖W₁W₂ − A‖² + λ‖W₁W₂ − θ₀‖², in f64 from f32 weights.
fn objective(
    w1: &[f32],
    w2: &[f32],
    d: usize,
    h: usize,
    a: &[f32],
    theta0: &[f32],
    lambda: f64,
) -> f64 {
    let mut ws = Workspace::new(d, h);
    linear_forward(&mut ws, w1, w2);
    squared_distance(&ws.theta, a) + lambda * squared_distance(&ws.theta, theta0)
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for &(d, h, lambda) in &[(5usize, 3usize, 0.0f32), (4, 6, 0.7), (7, 7, 2.0)] {
        let w1 = random_vec(&mut rng, d * h, 0.8);
        let w2 = random_vec(&mut rng, h * d, 0.8);
        let a = random_vec(&mut rng, d * d, 1.0);
        let theta0 = random_vec(&mut rng, d * d, 1.0);
        let b: Vec<f32> = a.iter().zip(&theta0).map(|(x, t)| x + lambda * t).collect();
        let mut ws = Workspace::new(d, h);
        linear_forward(&mut ws, &w1, &w2);
        loss_backward(&mut ws, &b, lambda);
        linear_backward(&mut ws, &w1, &w2);
        let eps = 1e-2f32;
        for (which, analytic) in [(0, ws.grad_w1.clone()), (1, ws.grad_w2.clone())] {
            for i in 0..analytic.len() {
                let (mut p1, mut p2) = (w1.clone(), w2.clone());
                let (mut m1, mut m2) = (w1.clone(), w2.clone());
                if which == 0 {
                    p1[i] += eps;
                    m1[i] -= eps;
                } else {
                    p2[i] += eps;
                    m2[i] -= eps;
                }
                let fd = (objective(&p1, &p2, d, h, &a, &theta0, lambda as f64)
                    - objective(&m1, &m2, d, h, &a, &theta0, lambda as f64))
                    / (2.0 * eps as f64);
                let g = analytic[i] as f64;
                assert!(
                    (fd - g).abs() <= 2e-3 * (1.0 + g.abs()),
                    "d={d} h={h} λ={lambda} W{} [{i}]: analytic {g}, finite difference {fd}",
                    which + 1
                );
            }
        }
    }
}

#[test]
fn matmul_matches_naive_on_awkward_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for &(m, k, n) in &[
        (1, 1, 1),
        (7, 3, 5),
        (33, 17, 65),
        (2, 65, 33),
        (20, 20, 20),
        (5, 1, 257),
        (257, 4, 7),
    ] {
        let a = random_vec(&mut rng, m * k, 1.0);
        let b = random_vec(&mut rng, k * n, 1.0);
        let mut out = vec![f32::NAN; m * n];
        matmul(&mut out, &a, &b, m, k, n);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                    .sum();
                let got = out[i * n + j] as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * (k as f64).sqrt() * (1.0 + want.abs()),
                    "{m}x{k}x{n} [{i},{j}]: {got} vs {want}"
                );
            }
        }
        // aᵀ·b from a stored transposed gives the very same numbers.
        let mut a_t = vec![0.0; k * m];
        transpose(&mut a_t, &a, m, k);
        let mut out_tn = vec![f32::NAN; m * n];
        matmul_tn(&mut out_tn, &a_t, &b, m, k, n);
        assert_eq!(out_tn, out, "{m}x{k}x{n} transposed");
    }
}

#[test]
fn monte_carlo_perturbation_matches_closed_form() {
    let mut config = LinearConfig {
        dim: 8,
        hidden: 6,
        ..LinearConfig::default()
    };
    config.pretrain.steps = 600;
    config.pretrain.checkpoint_every = 100;
    config.perturb.samples = 1000;
    config.perturb.gammas = vec![0.03, 0.1, 0.3];
    let results = run(&config).unwrap();
    for p in &results.perturb {
        for (i, step) in results.steps.iter().enumerate() {
            let (mean, se, exp) = (p.mean_loss[i], p.mean_loss_se[i], p.expected_loss[i]);
            assert!(se > 0.0);
            assert!(
                (mean - exp).abs() <= 4.0 * se,
                "γ={} step {step}: Monte Carlo {mean} ± {se} vs closed form {exp}",
                p.gamma
            );
        }
    }
    // The same check directly on a random (unbalanced) checkpoint.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (d, h) = (5, 4);
    let c = Checkpoint {
        step: 0,
        w1: random_vec(&mut rng, d * h, 0.7),
        w2: random_vec(&mut rng, h * d, 0.7),
    };
    let a = random_vec(&mut rng, d * d, 1.0);
    let noise = Noise::draw(&LinearConfig {
        dim: d,
        hidden: h,
        perturb: overtrain::linear::config::PerturbConfig {
            gammas: vec![0.2],
            samples: 1000,
        },
        ..LinearConfig::default()
    });
    let mut ws = Workspace::new(d, h);
    linear_forward(&mut ws, &c.w1, &c.w2);
    let base = squared_distance(&ws.theta, &a);
    let (mean, se) = perturbed_loss(&mut ws, &c, &noise, 0.2, &a);
    let exp = expected_perturbed_loss(base, &c.w1, &c.w2, 0.2, d, h);
    assert!((mean - exp).abs() <= 4.0 * se, "{mean} ± {se} vs {exp}");
}

#[test]
fn identity_basis_reproduces_independent_scalar_dynamics() {
    let mut config = LinearConfig {
        dim: 6,
        hidden: 6,
        basis: Basis::Identity,
        ..LinearConfig::default()
    };
    config.pretrain.steps = 1500;
    config.pretrain.checkpoint_every = 100;
    config.finetune.lrs = vec![0.05];
    config.finetune.l2 = vec![0.5];
    let results = run(&config).unwrap();
    let s = config.pretrain.spectrum.values(6);
    let f = config.finetune.spectrum.values(6);
    let (lr, eps) = (config.pretrain.lr, config.init_scale);
    // Each direction j is the scalar problem (a·b − s_j)² with a = b = ε at the start.
    let mut a: Vec<f64> = vec![eps; 6];
    let mut b: Vec<f64> = vec![eps; 6];
    let mut k = 0;
    for step in 0..=config.pretrain.steps {
        if step > 0 {
            for j in 0..6 {
                let g = 2.0 * (a[j] * b[j] - s[j]);
                (a[j], b[j]) = (a[j] - lr * g * b[j], b[j] - lr * g * a[j]);
            }
        }
        if results.steps.get(k) == Some(&step) {
            let loss: f64 = (0..6).map(|j| (a[j] * b[j] - s[j]).powi(2)).sum();
            let got = results.pretrain_loss[k];
            assert!(
                (got - loss).abs() <= 1e-4 * loss.max(1e-3),
                "step {step}: loss {got} vs scalar {loss}"
            );
            for j in 0..6 {
                let sv = results.singular_values[k][j];
                assert!(
                    (sv - a[j] * b[j]).abs() <= 1e-4 * (a[j] * b[j]).abs().max(1e-6),
                    "step {step} direction {j}: {sv} vs {}",
                    a[j] * b[j]
                );
            }
            // Fine-tuning from this checkpoint: scalar GD on (ab − f)² + λ(ab − θ₀)².
            let (lam, lr_ft) = (0.5, 0.05);
            let mut pre = 0.0;
            for j in 0..6 {
                let (mut x, mut y, t0) = (a[j], b[j], a[j] * b[j]);
                for _ in 0..config.finetune.steps {
                    let g = 2.0 * (x * y - f[j]) + 2.0 * lam * (x * y - t0);
                    (x, y) = (x - lr_ft * g * y, y - lr_ft * g * x);
                }
                pre += (x * y - s[j]).powi(2);
            }
            let got = results.finetune[0].pretrain_loss[k].unwrap();
            assert!(
                (got - pre).abs() <= 1e-4 * pre,
                "step {step}: fine-tuned pre-training loss {got} vs scalar {pre}"
            );
            k += 1;
        }
    }
    assert_eq!(k, results.steps.len());
}

fn without_timing(results: &overtrain::linear::LinearResults) -> serde_json::Value {
    let mut v = serde_json::to_value(results).unwrap();
    v.as_object_mut().unwrap().remove("elapsed_ms");
    v
}

#[test]
fn same_config_gives_identical_results() {
    let mut config = LinearConfig::default();
    config.pretrain.steps = 500;
    config.seed = 42;
    let a = run(&config).unwrap();
    let b = run(&config).unwrap();
    assert_eq!(without_timing(&a), without_timing(&b));
    config.seed = 43;
    let c = run(&config).unwrap();
    assert_ne!(without_timing(&a), without_timing(&c), "the seed matters");
}

#[test]
fn default_config_shows_the_papers_claims() {
    let r = run(&LinearConfig::default()).unwrap();
    assert_eq!(r.steps.len(), 41);
    assert_eq!(r.pretrain_diverged_at, None);
    // Base loss falls monotonically.
    for w in r.pretrain_loss.windows(2) {
        assert!(w[1] <= w[0], "base loss rose: {w:?}");
    }
    // Sensitivity rises monotonically (closed form, and Monte Carlo within noise).
    for p in &r.perturb {
        for w in p.expected_sensitivity.windows(2) {
            assert!(w[1] >= w[0], "γ={}: sensitivity fell: {w:?}", p.gamma);
        }
        let first = p.sensitivity[0];
        let last = *p.sensitivity.last().unwrap();
        assert!(
            last > 2.0 * first.max(1e-12),
            "γ={}: sensitivity {first} → {last}",
            p.gamma
        );
    }
    // Where each curve turns upward, by the rule of both labs, as a position in time: a
    // curve that only rises turned before the first checkpoint, one still falling after
    // the last; a curve flat within its noise has no place (None) and is not compared.
    let when = |mean: Vec<Option<f64>>, se: Vec<Option<f64>>| match verdict(&mean, &se) {
        Verdict::Inflection { index } => Some(index as i64),
        Verdict::OnlyRising => Some(-1),
        Verdict::StillFalling => Some(i64::MAX),
        Verdict::WithinNoise { .. } | Verdict::TooFew => None,
    };
    let perturbed = |p: &overtrain::linear::results::PerturbCurve| {
        when(
            p.mean_loss.iter().map(|&x| Some(x)).collect(),
            p.mean_loss_se.iter().map(|&x| Some(x)).collect(),
        )
    };
    let finetuned =
        |c: &overtrain::linear::results::FinetuneCurve| when(c.pretrain_loss.clone(), Vec::new());
    // A larger γ turns upward no later (γ = 0.02's rise at the default is within the Monte
    // Carlo noise; γ = 0.05's is clear), and the results mark exactly those inflections.
    let mut by_gamma: Vec<_> = r.perturb.iter().map(|p| (p.gamma, perturbed(p))).collect();
    by_gamma.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(by_gamma
        .iter()
        .any(|(_, w)| w.is_some_and(|w| (0..i64::MAX).contains(&w))));
    for p in &r.perturb {
        let marked = p
            .inflection_step
            .and_then(|s| r.steps.iter().position(|&x| x == s));
        assert_eq!(
            marked.map(|i| i as i64),
            perturbed(p).filter(|w| (0..i64::MAX).contains(w))
        );
    }
    let known: Vec<_> = by_gamma
        .iter()
        .filter_map(|(g, w)| w.map(|w| (g, w)))
        .collect();
    for w in known.windows(2) {
        assert!(w[1].1 <= w[0].1, "larger γ inflects later: {by_gamma:?}");
    }
    // After fine-tuning: a larger rate turns upward no later, for each λ.
    for l2 in [0.0, 1.0] {
        let mut curves: Vec<_> = r.finetune.iter().filter(|c| c.l2 == l2).collect();
        curves.sort_by(|a, b| a.lr.total_cmp(&b.lr));
        let at: Vec<_> = curves.iter().map(|c| (c.lr, finetuned(c))).collect();
        let known: Vec<_> = at.iter().filter_map(|(lr, w)| w.map(|w| (lr, w))).collect();
        for w in known.windows(2) {
            assert!(
                w[1].1 <= w[0].1,
                "λ={l2}: a larger η inflects later: {at:?}"
            );
        }
    }
    // λ > 0 turns upward no earlier, at the price of fine-tuning loss.
    for c0 in r.finetune.iter().filter(|c| c.l2 == 0.0) {
        let c1 = r
            .finetune
            .iter()
            .find(|c| c.l2 > 0.0 && c.lr == c0.lr)
            .unwrap();
        if let (Some(w0), Some(w1)) = (finetuned(c0), finetuned(c1)) {
            assert!(w1 >= w0, "η={}: λ>0 inflects earlier", c0.lr);
        }
        let last = r.steps.len() - 1;
        assert!(c1.finetune_loss[last].unwrap() > c0.finetune_loss[last].unwrap());
    }
    // The smallest fine-tuning rate shows a clear U: its inflection is interior.
    let smallest = r
        .finetune
        .iter()
        .filter(|c| c.l2 == 0.0)
        .min_by(|a, b| a.lr.total_cmp(&b.lr))
        .unwrap();
    let s = smallest.inflection_step.expect("U-shaped");
    assert!(s > 0 && s < 2000);
    // Directions are learned one at a time: all 20 by the end, and in order of size.
    let learned = &r.theory.learned_directions;
    assert_eq!(*learned.last().unwrap(), 20);
    for w in learned.windows(2) {
        assert!(w[1] >= w[0]);
    }
}

#[test]
fn diverging_runs_are_reported_not_valued() {
    let mut config = LinearConfig::default();
    config.pretrain.steps = 300;
    config.finetune.lrs = vec![0.01, 5.0];
    let r = run(&config).unwrap();
    let bad = r
        .finetune
        .iter()
        .find(|c| c.lr == 5.0 && c.l2 == 0.0)
        .unwrap();
    let step = bad.diverged_at.expect("η = 5 diverges");
    assert!(step >= 1 && step <= config.finetune.steps);
    assert!(!bad.diverged_checkpoints.is_empty());
    for (i, s) in r.steps.iter().enumerate() {
        let diverged = bad.diverged_checkpoints.contains(s);
        assert_eq!(bad.pretrain_loss[i].is_none(), diverged);
    }
    let good = r.finetune.iter().find(|c| c.lr == 0.01).unwrap();
    assert_eq!(good.diverged_at, None);
    // Non-finite values never reach the JSON.
    let json = r.to_json();
    assert!(!json.contains("NaN") && !json.contains("Infinity"));

    // Pre-training that diverges stops at the last finite checkpoint.
    config.pretrain.lr = 9.0;
    let r = run(&config).unwrap();
    let at = r.pretrain_diverged_at.expect("η_pt = 9 diverges");
    assert!(r.steps.iter().all(|&s| s < at));
    assert!(r.pretrain_loss.iter().all(|l| l.is_finite()));
}

#[test]
fn every_invalid_field_is_rejected_with_its_name_and_range() {
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"dim": 0}"#, "dim", "1..=256"),
        (r#"{"dim": 257}"#, "dim", "1..=256"),
        (r#"{"dim": -3}"#, "dim", "1..=256"),
        (r#"{"dim": 2.5}"#, "dim", "1..=256"),
        (r#"{"hidden": 1000}"#, "hidden", "1..=256"),
        (r#"{"init_scale": 0}"#, "init_scale", "(0, 1]"),
        (r#"{"basis": "diagonal"}"#, "basis", "random"),
        (r#"{"pretrain": {"lr": -0.1}}"#, "pretrain.lr", "(0, 10]"),
        (r#"{"pretrain": {"lr": 0}}"#, "pretrain.lr", "(0, 10]"),
        (r#"{"pretrain": {"lr": 1e999}}"#, "pretrain.lr", ""),
        (
            r#"{"pretrain": {"steps": 0}}"#,
            "pretrain.steps",
            "1..=100000",
        ),
        (
            r#"{"pretrain": {"steps": 200000}}"#,
            "pretrain.steps",
            "1..=100000",
        ),
        (
            r#"{"pretrain": {"checkpoint_every": 0}}"#,
            "pretrain.checkpoint_every",
            "1..=2000",
        ),
        (
            r#"{"pretrain": {"steps": 50000, "checkpoint_every": 10}}"#,
            "pretrain.checkpoint_every",
            "at most 1000",
        ),
        (
            r#"{"pretrain": {"spectrum": {"kind": "zipf", "exponent": 1}}}"#,
            "pretrain.spectrum.kind",
            "power",
        ),
        (
            r#"{"pretrain": {"spectrum": {"kind": "power", "exponent": -1}}}"#,
            "pretrain.spectrum.exponent",
            "[0, 10]",
        ),
        (
            r#"{"finetune": {"spectrum": {"kind": "values", "values": [1, 2]}}}"#,
            "finetune.spectrum.values",
            "exactly dim = 20",
        ),
        (
            r#"{"dim": 2, "finetune": {"spectrum": {"kind": "values", "values": [1, -2]}}}"#,
            "finetune.spectrum.values[1]",
            "[0, 100]",
        ),
        (
            r#"{"finetune": {"spectrum": {"kind": "flat", "value": 1000}}}"#,
            "finetune.spectrum.value",
            "[0, 100]",
        ),
        (
            r#"{"finetune": {"lrs": []}}"#,
            "finetune.lrs",
            "must not be empty",
        ),
        (
            r#"{"finetune": {"lrs": [0.1, -1]}}"#,
            "finetune.lrs[1]",
            "(0, 10]",
        ),
        (
            r#"{"finetune": {"lrs": [1,2,3,4,5,6,7,8,9]}}"#,
            "finetune.lrs",
            "1 to 8 entries",
        ),
        (
            r#"{"finetune": {"steps": 20000}}"#,
            "finetune.steps",
            "1..=10000",
        ),
        (
            r#"{"finetune": {"l2": [-1]}}"#,
            "finetune.l2[0]",
            "[0, 1000]",
        ),
        (
            r#"{"finetune": {"l2": []}}"#,
            "finetune.l2",
            "must not be empty",
        ),
        (
            r#"{"perturb": {"gammas": []}}"#,
            "perturb.gammas",
            "must not be empty",
        ),
        (
            r#"{"perturb": {"gammas": [-0.1]}}"#,
            "perturb.gammas[0]",
            "[0, 10]",
        ),
        (
            r#"{"perturb": {"samples": 0}}"#,
            "perturb.samples",
            "1..=1000",
        ),
        (
            r#"{"perturb": {"samplez": 3}}"#,
            "perturb.samplez",
            "unknown field `samplez`",
        ),
        (
            r#"{"dim": 256, "hidden": 256, "pretrain": {"steps": 100000, "checkpoint_every": 1000}}"#,
            "",
            "multiply-adds",
        ),
        (r#"{"dim": 20,"#, "", "EOF"),
        (r#"[1, 2]"#, "", "must be a JSON object"),
    ];
    for (json, field, message) in cases {
        let err = LinearConfig::from_json(json).expect_err(json);
        assert_eq!(err.field, *field, "{json}: {err}");
        assert!(
            err.message.contains(message),
            "{json}: message {:?} lacks {message:?}",
            err.message
        );
    }
    // Omitted fields take the defaults; a full default config round-trips.
    assert_eq!(
        LinearConfig::from_json("{}").unwrap(),
        LinearConfig::default()
    );
    let text = serde_json::to_string(&LinearConfig::default()).unwrap();
    assert_eq!(
        LinearConfig::from_json(&text).unwrap(),
        LinearConfig::default()
    );
    // Spectrum kinds.
    let c = LinearConfig::from_json(
        r#"{"dim": 3, "pretrain": {"spectrum": {"kind": "values", "values": [3, 2, 1]}}}"#,
    )
    .unwrap();
    assert_eq!(
        c.pretrain.spectrum,
        Spectrum::Values {
            values: vec![3.0, 2.0, 1.0]
        }
    );
    assert!(limits::WORK_MAX > LinearConfig::default().work() * 100.0);
}

#[test]
fn balanced_init_handles_rectangular_factors() {
    let (w1, w2) = balanced_init(3, 5, 0.5);
    assert_eq!(w1.len(), 15);
    assert_eq!((w1[0], w1[6], w1[12], w1[3]), (0.5, 0.5, 0.5, 0.0));
    assert_eq!((w2[0], w2[4], w2[8], w2[9]), (0.5, 0.5, 0.5, 0.0));
    let mut config = LinearConfig {
        dim: 6,
        hidden: 3,
        ..LinearConfig::default()
    };
    config.pretrain.steps = 400;
    let r = run(&config).unwrap();
    // Rank 3 can learn only 3 directions.
    assert!(*r.theory.learned_directions.last().unwrap() <= 3);
}

#[test]
fn shards_merge_into_the_single_run() {
    use overtrain::linear::experiment::{merge_shards, run_shard};
    let mut config = LinearConfig::default();
    config.pretrain.steps = 700; // 15 checkpoints: shards of unequal size
    config.finetune.lrs = vec![0.03, 4.0]; // one diverging curve
    let whole = without_timing(&run_shard(&config, 0, 1).unwrap());
    assert_eq!(
        without_timing(&run(&config).unwrap()),
        whole,
        "the threaded run"
    );
    for n in [2, 3, 4, 15] {
        let parts: Vec<_> = (0..n).map(|k| run_shard(&config, k, n).unwrap()).collect();
        assert_eq!(
            without_timing(&merge_shards(parts).unwrap()),
            whole,
            "{n} shards"
        );
    }
    let mut parts: Vec<_> = (0..3).map(|k| run_shard(&config, k, 3).unwrap()).collect();
    parts.pop();
    assert!(merge_shards(parts).is_err(), "a missing shard is an error");
    let mut other = config.clone();
    other.seed = 9;
    let mixed = vec![
        run_shard(&config, 0, 2).unwrap(),
        run_shard(&other, 1, 2).unwrap(),
    ];
    assert!(merge_shards(mixed).is_err(), "shards of different runs");
    assert_eq!(run_shard(&config, 2, 2).unwrap_err().field, "shard");
}
