//! The CPU reference model: every parameter tensor's gradient against finite differences,
//! for each norm, MLP and position choice, tied and untied heads.

use overtrain::transformer::config::{Mlp, ModelConfig, Norm, Pos};
use overtrain::transformer::model::{backward, forward};
use overtrain::transformer::params::Layout;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn tiny(norm: Norm, mlp: Mlp, pos: Pos, tie: bool) -> ModelConfig {
    ModelConfig {
        n_layer: 2,
        d_model: 8,
        n_head: 2,
        d_ff: 12,
        ctx: 6,
        norm,
        mlp,
        pos,
        tie_embeddings: tie,
    }
}

#[test]
fn gradients_of_every_tensor_match_finite_differences() {
    let configs = [
        tiny(Norm::Layernorm, Mlp::Gelu, Pos::Learned, true),
        tiny(Norm::Rmsnorm, Mlp::Swiglu, Pos::Rope, false),
        tiny(Norm::Layernorm, Mlp::Swiglu, Pos::Rope, true),
        tiny(Norm::Rmsnorm, Mlp::Gelu, Pos::Learned, false),
    ];
    for cfg in configs {
        cfg.validate().unwrap();
        let layout = Layout::new(&cfg);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        // Larger weights than the real init, so that every path carries gradient.
        let mut params = layout.init(1);
        for p in params.iter_mut() {
            *p = *p * 3.0 + (rng.random::<f32>() - 0.5) * 0.1;
        }
        let (b, t) = (2, 5);
        // Few distinct bytes, so that the tied embedding rows get gradients from both ends.
        let tokens: Vec<u8> = (0..b * t).map(|_| rng.random_range(0..6) as u8).collect();
        let targets: Vec<u8> = (0..b * t).map(|_| rng.random_range(0..6) as u8).collect();
        let (loss, acts) = forward(&cfg, &layout, &params, &tokens, &targets, b, t);
        assert!(loss.is_finite());
        let mut grads = vec![0.0f32; layout.total];
        backward(&cfg, &layout, &params, &mut grads, &acts, &tokens, &targets);
        let h = 2e-3f32;
        for tensor in &layout.tensors {
            let r = tensor.range();
            // The rows of wte for the bytes used, and a spread of entries elsewhere.
            let picks: Vec<usize> = if tensor.name == "wte" {
                (0..6 * cfg.d_model)
                    .step_by(5)
                    .map(|i| r.start + i)
                    .collect()
            } else {
                (0..tensor.len())
                    .step_by((tensor.len() / 6).max(1))
                    .map(|i| r.start + i)
                    .collect()
            };
            for i in picks {
                let central = |h: f32| {
                    let mut p = params.clone();
                    p[i] += h;
                    let up = forward(&cfg, &layout, &p, &tokens, &targets, b, t).0;
                    p[i] -= 2.0 * h;
                    let down = forward(&cfg, &layout, &p, &tokens, &targets, b, t).0;
                    (up - down) / (2.0 * h as f64)
                };
                // Richardson extrapolation cancels the h² error of the central difference.
                let fd = (4.0 * central(h / 2.0) - central(h)) / 3.0;
                let g = grads[i] as f64;
                assert!(
                    (fd - g).abs() <= 2e-2 * fd.abs().max(g.abs()) + 1e-3,
                    "{cfg:?}\n{}[{}]: analytic {g}, finite difference {fd}",
                    tensor.name,
                    i - r.start
                );
            }
        }
    }
}

#[test]
fn layout_names_shapes_and_init() {
    let cfg = ModelConfig::default();
    let layout = Layout::new(&cfg);
    let params = layout.init(0);
    assert_eq!(params.len(), layout.total);
    let qkv = layout.get("h.0.attn.qkv");
    assert_eq!(qkv.shape, vec![32, 96]);
    assert!(qkv.decay && !layout.get("wte").decay && !layout.get("h.1.ln2.g").decay);
    assert!(
        (layout.get("h.0.attn.proj").init_std - 0.02 / 2.0).abs() < 1e-7,
        "1/√(2·n_layer) scaling"
    );
    assert!(params[layout.get("lnf.g").range()]
        .iter()
        .all(|&g| g == 1.0));
    let w = &params[layout.get("h.1.mlp.fc").range()];
    let std = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
    assert!((std - 0.02).abs() < 0.002, "init std {std}");
    // About 35k parameters, as in the pilot runs.
    assert!((30_000..40_000).contains(&layout.total), "{}", layout.total);
    assert!(
        ModelConfig {
            d_model: 30,
            n_head: 4,
            ..cfg.clone()
        }
        .validate()
        .unwrap_err()
        .field
            == "model.d_model"
    );
    assert!(
        ModelConfig {
            n_layer: 0,
            ..cfg.clone()
        }
        .validate()
        .unwrap_err()
        .field
            == "model.n_layer"
    );
    assert!(
        ModelConfig {
            d_model: 12,
            n_head: 4,
            pos: Pos::Rope,
            ..cfg
        }
        .validate()
        .unwrap_err()
        .field
            == "model.pos"
    );
}

mod training {
    use overtrain::transformer::config::ModelConfig;
    use overtrain::transformer::train::{train_cpu, Schedule, TrainConfig};

    fn micro() -> TrainConfig {
        TrainConfig {
            model: ModelConfig {
                n_layer: 1,
                d_model: 16,
                n_head: 2,
                d_ff: 32,
                ctx: 32,
                ..ModelConfig::default()
            },
            batch: 16,
            steps: 300,
            lr: 1e-2,
            eval_every: 100,
            eval_batches: 4,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn schedules() {
        let mut c = TrainConfig {
            steps: 100,
            warmup_fraction: 0.1,
            lr: 1.0,
            ..TrainConfig::default()
        };
        assert!(
            (c.lr_at(0) - 0.1).abs() < 1e-9 && (c.lr_at(9) - 1.0).abs() < 1e-9,
            "linear warmup"
        );
        assert!(
            c.lr_at(99) < 1e-3 && c.lr_at(50) < c.lr_at(20),
            "cosine to zero"
        );
        c.schedule = Schedule::Wsd {
            decay_fraction: 0.2,
        };
        assert_eq!(c.lr_at(50), 1.0);
        assert!(
            c.lr_at(89) < 1.0 && c.lr_at(99) < 1e-9,
            "decay over the last 20%"
        );
        c.schedule = Schedule::Constant;
        assert_eq!(c.lr_at(99), 1.0);
    }

    #[test]
    fn training_is_deterministic() {
        let c = TrainConfig {
            steps: 4,
            eval_every: 2,
            ..micro()
        };
        let a = train_cpu(&c, &mut |_, _| Ok(())).unwrap();
        let b = train_cpu(&c, &mut |_, _| Ok(())).unwrap();
        assert_eq!(a, b);
        let other = train_cpu(&TrainConfig { seed: 1, ..c }, &mut |_, _| Ok(())).unwrap();
        assert_ne!(a.0, other.0);
    }

    #[test]
    fn training_brings_heldout_loss_well_below_uniform() {
        let c = micro();
        let mut seen = 0;
        let (_, log) = train_cpu(&c, &mut |_, _| {
            seen += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, c.steps);
        assert_eq!(log.eval_steps, vec![100, 200, 300]);
        let uniform = 256f64.ln();
        let last = *log.eval_loss.last().unwrap();
        assert!(
            last < 0.6 * uniform,
            "held-out loss {last:.3} nats/byte after {} bytes (uniform {uniform:.3})",
            log.tokens.last().unwrap()
        );
        assert!(log.eval_loss[0] > last, "{:?}", log.eval_loss);
        assert_eq!(log.diverged_at, None);
    }

    #[test]
    fn a_diverging_run_stops_and_keeps_finite_weights() {
        let c = TrainConfig {
            steps: 30,
            lr: 1.0,
            grad_clip: 0.0,
            warmup_fraction: 0.0,
            schedule: Schedule::Constant,
            eval_every: 30,
            ..micro()
        };
        let (params, log) = train_cpu(&c, &mut |_, _| Ok(())).unwrap();
        if let Some(step) = log.diverged_at {
            assert!((1..=30).contains(&step));
            assert_eq!(log.train_loss.len(), step - 1);
        }
        assert!(params.iter().all(|p| p.is_finite()));
        assert!(
            TrainConfig { lr: 0.0, ..micro() }
                .validate()
                .unwrap_err()
                .field
                == "lr"
        );
    }
}
