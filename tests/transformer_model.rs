//! The CPU reference model: every parameter tensor's gradient against finite differences,
//! for each norm, MLP and position choice, tied and untied heads; SAM's gradient against
//! finite differences at the ascent point, and the engine's SAM step.

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
    use overtrain::transformer::train::{train_cpu, Resume, RunStatus, Schedule, TrainConfig};
    use overtrain::Error;

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
        let a = train_cpu(&c, None, &mut |_, _| Ok(())).unwrap();
        let b = train_cpu(&c, None, &mut |_, _| Ok(())).unwrap();
        assert_eq!(a, b);
        let other = train_cpu(&TrainConfig { seed: 1, ..c }, None, &mut |_, _| Ok(())).unwrap();
        assert_ne!(a.0.params, other.0.params);
    }

    /// Stopped at any step (through `progress`, as Ctrl-C or SIGTERM stop the CLI) and
    /// resumed from the state and log it returned, a run ends with the very weights, AdamW
    /// state and log of an uninterrupted one, evaluations included.
    #[test]
    fn training_stopped_and_resumed_equals_an_uninterrupted_run() {
        let c = TrainConfig {
            steps: 40,
            eval_every: 6,
            ..micro()
        };
        let whole = train_cpu(&c, None, &mut |_, _| Ok(())).unwrap();
        assert_eq!(whole.1.eval_steps, [6, 12, 18, 24, 30, 36, 40]);
        for stop in [1, 6, 17, 39] {
            let mut stop_at = |s: usize, _: f64| {
                if s == stop {
                    Err(Error::Cancelled)
                } else {
                    Ok(())
                }
            };
            let (state, log) = train_cpu(&c, None, &mut stop_at).unwrap();
            assert_eq!(log.status, RunStatus::Interrupted);
            assert!(
                state.step >= stop && state.step < c.steps,
                "stopped after {}",
                state.step
            );
            assert_eq!(log.train_loss.len(), state.step);
            let resumed = train_cpu(&c, Some(Resume { state, log }), &mut |_, _| Ok(())).unwrap();
            assert_eq!(resumed, whole, "stopped at step {stop}");
        }
        // A state that does not go with its log is refused, naming `resume`.
        let (mut state, log) = train_cpu(&c, None, &mut |s, _| {
            if s == 5 {
                Err(Error::Cancelled)
            } else {
                Ok(())
            }
        })
        .unwrap();
        state.step += 1;
        let err = train_cpu(&c, Some(Resume { state, log }), &mut |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("resume"), "{err}");
    }

    #[test]
    fn training_brings_heldout_loss_well_below_uniform() {
        let c = micro();
        let mut seen = 0;
        let (_, log) = train_cpu(&c, None, &mut |_, _| {
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
        let (state, log) = train_cpu(&c, None, &mut |_, _| Ok(())).unwrap();
        let params = state.params;
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

mod sam {
    use super::tiny;
    use overtrain::cpu::{adamw, AdamW};
    use overtrain::data::ByteSource;
    use overtrain::transformer::config::{Mlp, Norm, Pos};
    use overtrain::transformer::engine::{run_ready, Engine, Stretch, TrainState};
    use overtrain::transformer::model::{
        backward, backward_with, forward, forward_into, sam_gradient, Activations, Scratch,
    };
    use overtrain::transformer::optim::{Hyper, BETA1, BETA2, EPS};
    use overtrain::transformer::params::Layout;
    use overtrain::transformer::schedule::{Lr, Schedule};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The gradient the update uses is the one at w + ρ·g/‖g‖ — the ascent taken from the
    /// gradient at w, then held fixed — against central finite differences of the loss
    /// there; the weights come back exactly.
    #[test]
    fn sams_gradient_is_the_gradient_at_the_ascent_point() {
        for cfg in [
            tiny(Norm::Layernorm, Mlp::Gelu, Pos::Learned, true),
            tiny(Norm::Rmsnorm, Mlp::Swiglu, Pos::Rope, false),
        ] {
            let layout = Layout::new(&cfg);
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let params: Vec<f32> = layout
                .init(2)
                .iter()
                .map(|p| p * 3.0 + (rng.random::<f32>() - 0.5) * 0.1)
                .collect();
            let (b, t) = (2, 5);
            let tokens: Vec<u8> = (0..b * t).map(|_| rng.random_range(0..6) as u8).collect();
            let targets: Vec<u8> = (0..b * t).map(|_| rng.random_range(0..6) as u8).collect();
            let loss_at = |p: &[f32]| forward(&cfg, &layout, p, &tokens, &targets, b, t).0;
            let (_, mut acts) = forward(&cfg, &layout, &params, &tokens, &targets, b, t);
            let mut g = vec![0.0f32; layout.total];
            backward(&cfg, &layout, &params, &mut g, &acts, &tokens, &targets);
            let rho = 0.3f32;
            // The ascent point, computed here in f64.
            let norm = g.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
            let ascent: Vec<f32> = params
                .iter()
                .zip(&g)
                .map(|(&w, &g)| (w as f64 + rho as f64 * g as f64 / norm) as f32)
                .collect();
            assert!(loss_at(&ascent) > loss_at(&params), "ε goes uphill");

            let mut scratch = Scratch::new(&cfg, b, t);
            let mut w = params.clone();
            let mut sam = g.clone();
            let mut saved = vec![0.0; layout.total];
            sam_gradient(&mut saved, &mut w, &mut sam, rho, |w, g| {
                forward_into(&mut acts, &cfg, &layout, w, &tokens, &targets, b, t);
                g.fill(0.0);
                backward_with(
                    &mut scratch,
                    &cfg,
                    &layout,
                    w,
                    g,
                    &acts,
                    &tokens,
                    &targets,
                    b * t,
                );
            });
            assert_eq!(w, params, "the weights are restored exactly");
            let moved = sam
                .iter()
                .zip(&g)
                .filter(|(a, b)| (*a - *b).abs() > 1e-3 * b.abs().max(1e-4))
                .count();
            assert!(
                moved > layout.total / 2,
                "the gradient at w + ε differs from g's"
            );
            let h = 2e-3f32;
            for tensor in &layout.tensors {
                let r = tensor.range();
                for i in r.clone().step_by((tensor.len() / 5).max(1)) {
                    let central = |h: f32| {
                        let mut p = ascent.clone();
                        p[i] += h;
                        let up = loss_at(&p);
                        p[i] -= 2.0 * h;
                        let down = loss_at(&p);
                        (up - down) / (2.0 * h as f64)
                    };
                    let fd = (4.0 * central(h / 2.0) - central(h)) / 3.0;
                    let got = sam[i] as f64;
                    assert!(
                        (fd - got).abs() <= 2e-2 * fd.abs().max(got.abs()) + 1e-3,
                        "{cfg:?}\n{}[{}]: SAM gradient {got}, finite difference {fd}",
                        tensor.name,
                        i - r.start
                    );
                }
            }
        }
    }

    /// Fixed bytes, one batch after another.
    struct Fixed(Vec<u8>, usize);

    impl ByteSource for Fixed {
        fn fill(&mut self, out: &mut [u8]) {
            for o in out {
                *o = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
        }
    }

    /// The engine's step, by hand: the gradient (SAM's when ρ > 0), then AdamW on it (no
    /// clipping or decay here, so that the step is one AdamW over the flat buffer).
    fn by_hand(
        cfg: &overtrain::transformer::config::ModelConfig,
        w: &mut [f32],
        rows: &[u8],
        b: usize,
        rho: f32,
        lr: f32,
    ) -> f64 {
        let layout = Layout::new(cfg);
        let t = cfg.ctx;
        let (x, y) = overtrain::data::inputs_and_targets(rows, b, t);
        let mut acts = Activations::new(cfg, b, t);
        let loss = forward_into(&mut acts, cfg, &layout, w, &x, &y, b, t);
        let mut g = vec![0.0; layout.total];
        let mut scratch = Scratch::new(cfg, b, t);
        backward_with(&mut scratch, cfg, &layout, w, &mut g, &acts, &x, &y, b * t);
        if rho > 0.0 {
            let mut saved = vec![0.0; layout.total];
            sam_gradient(&mut saved, w, &mut g, rho, |w, g| {
                forward_into(&mut acts, cfg, &layout, w, &x, &y, b, t);
                g.fill(0.0);
                backward_with(&mut scratch, cfg, &layout, w, g, &acts, &x, &y, b * t);
            });
        }
        let (mut m, mut v) = (vec![0.0; layout.total], vec![0.0; layout.total]);
        let h = AdamW {
            lr,
            beta1: BETA1,
            beta2: BETA2,
            eps: EPS,
            weight_decay: 0.0,
            step: 1,
        };
        adamw(h, w, &g, &mut m, &mut v);
        loss
    }

    /// One engine step with SAM is AdamW on SAM's gradient, its reported loss the one at w;
    /// with ρ = 0 it is plain AdamW, bit for bit.
    #[test]
    fn the_engines_sam_step_is_adamw_on_sams_gradient_and_rho_0_is_adamw() {
        let cfg = tiny(Norm::Layernorm, Mlp::Gelu, Pos::Learned, true);
        let b = 3;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let rows: Vec<u8> = (0..b * (cfg.ctx + 1))
            .map(|_| rng.random_range(97..110))
            .collect();
        let init = Layout::new(&cfg).init(4);
        let lr = Lr {
            schedule: Schedule::Constant,
            peak: 1e-2,
            warmup: 0,
            total: 1,
        };
        let mut results = Vec::new();
        for rho in [0.0f32, 0.05] {
            // One micro-batch: the whole batch, as by hand.
            let mut engine = Engine::cpu(&cfg, b, 1);
            engine.load(&TrainState::fresh(init.clone())).unwrap();
            let mut losses = Vec::new();
            struct Keep<'a>(&'a mut Vec<f64>);
            impl overtrain::transformer::engine::Observer for Keep<'_> {
                async fn losses(&mut self, _: usize, l: &[f64]) -> Result<(), overtrain::Error> {
                    self.0.extend(l);
                    Ok(())
                }
            }
            let stretch = Stretch {
                source: &mut Fixed(rows.clone(), 0),
                lr: &lr,
                steps: 0..1,
                hyper: Hyper {
                    grad_clip: 0.0,
                    weight_decay: 0.0,
                    l2: 0.0,
                    sam_rho: rho as f64,
                },
                eval: None,
            };
            run_ready(engine.train(stretch, &mut Keep(&mut losses))).unwrap();
            let mut want = init.clone();
            let loss = by_hand(&cfg, &mut want, &rows, b, rho, 1e-2);
            assert_eq!(losses, [loss], "ρ = {rho}: the loss at w");
            let got = run_ready(engine.params()).unwrap();
            assert_eq!(got, want, "ρ = {rho}: AdamW on the gradient, bit for bit");
            results.push(got);
        }
        assert_ne!(results[0], results[1], "SAM moves the weights elsewhere");
    }
}
