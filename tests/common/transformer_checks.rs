//! The transformer on the GPU against its CPU reference, shared by the native tests
//! (tests/gpu.rs, lavapipe) and the browser tests (tests/web.rs, SwiftShader): logits, loss
//! and every parameter gradient for configs covering each norm / mlp / pos choice with
//! widths and lengths that are not multiples of any tile; 20 training steps, plain and with
//! SAM; the memory check; the divergence guard; micro experiments with every protocol and
//! lever.
#![allow(dead_code)]

use overtrain::experiment::Engines;
use overtrain::gpu::kernels;
use overtrain::gpu::{Gpu, GpuError, Products};
use overtrain::transformer::config::{Mlp, ModelConfig, Norm, Pos};
use overtrain::transformer::gpu::{memory_estimate, GpuModel};
use overtrain::transformer::micro::DEFAULT_COUNT;
use overtrain::transformer::model::{backward, forward};
use overtrain::transformer::optim::{Hyper, StepValues};
use overtrain::transformer::train::{train_cpu, train_gpu, Schedule, TrainConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Documented tolerance (README): GPU and CPU agree to this fraction of each tensor's
/// largest magnitude (f32 sums in a different order, f32 vs f64 statistics).
pub const TOLERANCE: f32 = 1e-3;

fn log(message: &str) {
    #[cfg(target_arch = "wasm32")]
    web_sys::console::log_1(&message.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{message}");
}

/// Worst |gpu − cpu| relative to the largest |cpu| of the tensor.
fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-12);
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            if g.is_finite() {
                (g - w).abs() / scale
            } else {
                f32::INFINITY
            }
        })
        .fold(0.0, f32::max)
}

/// The configs the checks run: every norm, mlp and pos choice, tied and untied heads,
/// widths, head sizes and lengths off the 16-wide tiles.
pub fn configs() -> Vec<(ModelConfig, usize)> {
    vec![
        (
            ModelConfig {
                n_layer: 2,
                d_model: 20,
                n_head: 4,
                d_ff: 36,
                ctx: 7,
                norm: Norm::Layernorm,
                mlp: Mlp::Gelu,
                pos: Pos::Learned,
                tie_embeddings: true,
            },
            3,
        ),
        (
            ModelConfig {
                n_layer: 2,
                d_model: 24,
                n_head: 3,
                d_ff: 20,
                ctx: 9,
                norm: Norm::Rmsnorm,
                mlp: Mlp::Swiglu,
                pos: Pos::Rope,
                tie_embeddings: false,
            },
            2,
        ),
        (
            ModelConfig {
                n_layer: 1,
                d_model: 12,
                n_head: 2,
                d_ff: 17,
                ctx: 33,
                norm: Norm::Layernorm,
                mlp: Mlp::Swiglu,
                pos: Pos::Rope,
                tie_embeddings: false,
            },
            2,
        ),
        (
            ModelConfig {
                n_layer: 1,
                d_model: 18,
                n_head: 1,
                d_ff: 40,
                ctx: 17,
                norm: Norm::Rmsnorm,
                mlp: Mlp::Gelu,
                pos: Pos::Learned,
                tie_embeddings: true,
            },
            2,
        ),
    ]
}

/// Parameters away from init (gains ≠ 1, biases ≠ 0) so every path carries signal.
fn random_params(cfg: &ModelConfig, seed: u64) -> Vec<f32> {
    let layout = overtrain::transformer::params::Layout::new(cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    layout
        .init(seed)
        .iter()
        .map(|&x| x + 0.3 * (rng.random::<f32>() - 0.5))
        .collect()
}

fn random_batch(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A small alphabet, so tokens repeat (the embedding gradient sums over them).
    let mut bytes = || (0..n).map(|_| b'a' + rng.random_range(0..12u8)).collect();
    (bytes(), bytes())
}

/// On the default device, then on one whose matrix products (and their fused epilogues)
/// read their operands the other way (see gpu_checks' matmul check).
pub async fn transformer_forward_and_gradients_match_the_cpu_reference(g: &Gpu) {
    forward_and_gradients_match(g).await;
    let other = match g.products {
        Products::Tiles => Products::Direct,
        Products::Direct => Products::Tiles,
    };
    let device = Gpu::with_products(other).await.expect("a second device");
    forward_and_gradients_match(&device).await;
}

/// A batch of 512 tokens: long enough that the tiled products cut the weight gradients'
/// sums in slices (split-K, `kernels::split_k_slices`).
fn split_k_config() -> (ModelConfig, usize) {
    let cfg = ModelConfig {
        n_layer: 1,
        d_model: 16,
        n_head: 2,
        d_ff: 32,
        ctx: 32,
        norm: Norm::Layernorm,
        mlp: Mlp::Gelu,
        pos: Pos::Learned,
        tie_embeddings: true,
    };
    let spec = kernels::MatmulSpec {
        trans_a: true,
        beta: 1.0,
        ..kernels::MatmulSpec::new(cfg.d_model, 16 * cfg.ctx, cfg.d_ff)
    };
    assert_eq!(kernels::split_k_slices(&spec, Products::Tiles), 2);
    (cfg, 16)
}

async fn forward_and_gradients_match(g: &Gpu) {
    for (i, (cfg, b)) in configs().into_iter().chain([split_k_config()]).enumerate() {
        let t = cfg.ctx;
        let model = GpuModel::new(g, &cfg, b, 1).unwrap();
        let layout = model.layout();
        let params = random_params(&cfg, 40 + i as u64);
        let (x, y) = random_batch(b * t, 50 + i as u64);
        model.load(g, &params).unwrap();
        model.write_batch(g, &x, &y).unwrap();
        model.run_forward(g, 0).unwrap();
        let logits = g.read(model.logits()).await.unwrap();
        let loss = g.read(model.losses()).await.unwrap()[0] as f64;
        model.run_backward(g).unwrap();
        let grads = g.read(model.grads()).await.unwrap();

        let (cpu_loss, acts) = forward(&cfg, layout, &params, &x, &y, b, t);
        let mut cpu_grads = vec![0.0; layout.total];
        backward(&cfg, layout, &params, &mut cpu_grads, &acts, &x, &y);

        let what = format!(
            "config {i} ({:?} {:?} {:?}; products {:?})",
            cfg.norm, cfg.mlp, cfg.pos, g.products
        );
        let logit_err = relative_error(&logits, &acts.logits);
        let loss_err = ((loss - cpu_loss) / cpu_loss).abs() as f32;
        assert!(
            logit_err <= TOLERANCE,
            "{what}: logits differ by {logit_err}"
        );
        assert!(loss_err <= TOLERANCE, "{what}: loss {loss} vs {cpu_loss}");
        let mut worst = (0.0f32, String::new());
        for tensor in &layout.tensors {
            let r = tensor.range();
            let err = relative_error(&grads[r.clone()], &cpu_grads[r]);
            assert!(
                err <= TOLERANCE,
                "{what}: gradient of {} differs by {err}",
                tensor.name
            );
            if err > worst.0 {
                worst = (err, tensor.name.clone());
            }
        }
        log(&format!(
            "{what}: logits {logit_err:.1e}, loss {loss_err:.1e}, worst gradient {:.1e} ({})",
            worst.0, worst.1
        ));
    }
}

fn micro_train_config(cfg: ModelConfig) -> TrainConfig {
    TrainConfig {
        seed: 3,
        model: cfg,
        batch: 3,
        micro_batches: DEFAULT_COUNT,
        steps: 20,
        lr: 1e-2,
        warmup_fraction: 0.1,
        schedule: Schedule::Cosine,
        weight_decay: 0.1,
        grad_clip: 0.5,
        eval_every: 10,
        eval_batches: 2,
    }
}

pub async fn transformer_training_on_the_gpu_matches_the_cpu_for_20_steps(g: &Gpu) {
    for (cfg, _) in configs().into_iter().take(2) {
        let train = micro_train_config(cfg);
        let (cpu_state, cpu) = train_cpu(&train, None, &mut |_, _| Ok(())).unwrap();
        let cpu_params = cpu_state.params;
        let mut seen = Vec::new();
        let (gpu_state, gpu) = train_gpu(g, &train, None, &mut |s, _| {
            seen.push(s);
            Ok(())
        })
        .await
        .unwrap();
        let gpu_params = gpu_state.params;
        assert_eq!(
            seen,
            (1..=20).collect::<Vec<_>>(),
            "progress for every step"
        );
        assert_eq!(gpu.steps, cpu.steps);
        assert_eq!(gpu.eval_steps, [10, 20]);
        assert_eq!(gpu.diverged_at, None);
        let rel = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| ((x - y) / y).abs())
                .fold(0.0, f64::max)
        };
        let train_err = rel(&gpu.train_loss, &cpu.train_loss);
        let eval_err = rel(&gpu.eval_loss, &cpu.eval_loss);
        let param_err = relative_error(&gpu_params, &cpu_params);
        log(&format!(
            "20 steps ({:?} {:?} {:?}): train loss {train_err:.1e}, held-out {eval_err:.1e}, \
             parameters {param_err:.1e}; loss {:.4} → {:.4}",
            train.model.norm,
            train.model.mlp,
            train.model.pos,
            cpu.train_loss[0],
            cpu.train_loss[19]
        ));
        assert!(train_err <= TOLERANCE as f64, "train losses {train_err}");
        assert!(eval_err <= TOLERANCE as f64, "held-out losses {eval_err}");
        assert!(param_err <= 1e-2, "parameters {param_err}");
        assert!(cpu.train_loss[19] < cpu.train_loss[0], "it learns");
    }
}

pub async fn transformer_memory_beyond_the_adapter_limits_is_refused(g: &Gpu) {
    let cfg = ModelConfig {
        n_head: 64,
        d_model: 1024,
        ctx: 2048,
        ..ModelConfig::default()
    };
    let estimate = memory_estimate(&cfg, 64, 1);
    assert_eq!(estimate.largest_buffer, "attention");
    match GpuModel::new(g, &cfg, 64, 1) {
        Err(GpuError::Limit {
            limit, requested, ..
        }) => {
            assert!(limit.starts_with("max_"), "{limit}");
            assert_eq!(requested, estimate.largest_bytes);
        }
        Err(e) => panic!("expected a limit error, got {e}"),
        Ok(_) => panic!("a {} buffer was accepted", estimate.describe()),
    }
    let small = memory_estimate(&ModelConfig::default(), 32, 8);
    assert!(small.check(&g.limits).is_ok(), "{}", small.describe());
}

pub async fn transformer_updates_stop_at_a_non_finite_step(g: &Gpu) {
    let (cfg, b) = configs().remove(0);
    let train = micro_train_config(cfg.clone());
    let model = GpuModel::new(g, &cfg, b, 1).unwrap();
    let mut params = random_params(&cfg, 7);
    let (x, y) = random_batch(b * cfg.ctx, 8);
    model.write_batch(g, &x, &y).unwrap();
    // One good step updates; then a NaN weight poisons the loss and nothing moves.
    model.load(g, &params).unwrap();
    model
        .run_step(g, &StepValues::new(0, 0, 1e-2, &train.hyper(), 0.0), false)
        .unwrap();
    assert_eq!(model.read_guard(g).await.unwrap().status, 0);
    assert_ne!(
        g.read(model.params()).await.unwrap(),
        params,
        "a finite step updates"
    );
    let qkv = model.layout().layers[0].qkv.offset;
    params[qkv] = f32::NAN;
    model.load(g, &params).unwrap();
    for step in 0..2 {
        model
            .run_step(
                g,
                &StepValues::new(step, step, 1e-2, &train.hyper(), 0.0),
                false,
            )
            .unwrap();
    }
    let guard = model.read_guard(g).await.unwrap();
    assert_eq!(
        guard.status, 1,
        "the first step (index 0) diverged: {guard:?}"
    );
    let after = g.read(model.params()).await.unwrap();
    assert!(after[qkv].is_nan());
    after
        .iter()
        .zip(&params)
        .enumerate()
        .filter(|(i, _)| *i != qkv)
        .for_each(|(i, (a, p))| assert_eq!(a, p, "parameter {i} changed after divergence"));
}

/// A byte stream that replays fixed bytes (rows of T + 1 bytes, one batch after another).
struct Replay {
    bytes: Vec<u8>,
    pos: usize,
}

impl overtrain::data::ByteSource for Replay {
    fn fill(&mut self, out: &mut [u8]) {
        for o in out {
            *o = self.bytes[self.pos % self.bytes.len()];
            self.pos += 1;
        }
    }
}

/// Collects a stretch's losses.
#[derive(Default)]
struct Losses(Vec<f64>);

impl overtrain::transformer::engine::Observer for Losses {
    async fn losses(&mut self, _done: usize, losses: &[f64]) -> Result<(), overtrain::Error> {
        self.0.extend(losses);
        Ok(())
    }
}

/// Fine-tuning's pieces on both engines: a restored state (weights, moments, step), the
/// L2 pull toward an anchor, and continuing from a saved state reproduces the same steps.
pub async fn transformer_engine_state_and_l2_pull_match_the_cpu(g: &Gpu) {
    use overtrain::transformer::engine::{Engine, Stretch, TrainState};
    use overtrain::transformer::schedule::{Lr, Schedule};
    let (cfg, b) = configs().remove(1);
    let t = cfg.ctx;
    let h = Hyper {
        weight_decay: 0.1,
        grad_clip: 1.0,
        l2: 0.5,
        sam_rho: 0.0,
    };
    let params = random_params(&cfg, 60);
    let anchor = random_params(&cfg, 61);
    let mut start = TrainState::fresh(params);
    start.m.iter_mut().for_each(|m| *m = 1e-3);
    start.v.iter_mut().for_each(|v| *v = 1e-4);
    start.step = 7;
    let lr = Lr {
        schedule: Schedule::Constant,
        peak: 1e-2,
        warmup: 0,
        total: 6,
    };
    // Six batches of B rows of T + 1 bytes: three before the saved state, three after.
    let rows = random_batch(6 * b * (t + 1), 70).0;
    let source = |from_batch: usize| Replay {
        bytes: rows.clone(),
        pos: from_batch * b * (t + 1),
    };
    async fn run(
        engine: &mut Engine<'_>,
        mut source: Replay,
        lr: &Lr,
        steps: std::ops::Range<usize>,
        hyper: Hyper,
    ) -> Vec<f64> {
        let mut losses = Losses::default();
        let stretch = Stretch {
            source: &mut source,
            lr,
            steps,
            hyper,
            eval: None,
        };
        engine.train(stretch, &mut losses).await.unwrap();
        losses.0
    }
    let mut cpu = Engine::cpu(&cfg, b, DEFAULT_COUNT);
    let mut gpu = Engine::gpu(g, &cfg, b, 1).unwrap();
    let mut results = Vec::new();
    for engine in [&mut cpu, &mut gpu] {
        engine.load(&start).unwrap();
        engine.set_anchor(&anchor).unwrap();
        let first = run(engine, source(0), &lr, 0..3, h).await;
        let saved = engine.state().await.unwrap();
        assert_eq!(saved.step, 10);
        let mut again = Vec::new();
        for _ in 0..2 {
            engine.load(&saved).unwrap();
            again.push(run(engine, source(3), &lr, 3..6, h).await);
        }
        assert_eq!(again[0], again[1], "a restored state continues identically");
        results.push((first, again.remove(0), engine.state().await.unwrap()));
    }
    let (c, gg) = (&results[0], &results[1]);
    for (a, b) in [(&c.0, &gg.0), (&c.1, &gg.1)] {
        assert_eq!(a.len(), 3);
        for (x, y) in a.iter().zip(b) {
            assert!(((x - y) / x).abs() < TOLERANCE as f64, "loss {x} vs {y}");
        }
    }
    let err = relative_error(&gg.2.params, &c.2.params);
    assert!(err < 1e-2, "weights after 6 steps differ by {err}");
    assert!(relative_error(&gg.2.v, &c.2.v) < 1e-2);
    // The pull is real: without it the weights end elsewhere.
    let mut free = Engine::cpu(&cfg, b, DEFAULT_COUNT);
    free.load(&start).unwrap();
    let mut pulled = Engine::cpu(&cfg, b, DEFAULT_COUNT);
    pulled.load(&start).unwrap();
    pulled.set_anchor(&anchor).unwrap();
    run(&mut free, source(0), &lr, 0..3, Hyper { l2: 0.0, ..h }).await;
    run(&mut pulled, source(0), &lr, 0..3, h).await;
    let (free_w, pulled_w) = (free.params().await.unwrap(), pulled.params().await.unwrap());
    let dist = |w: &[f32]| {
        w.iter()
            .zip(&anchor)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
    };
    assert!(
        dist(&pulled_w) < dist(&free_w),
        "the L2 term pulls toward the anchor"
    );
    log(&format!("engine state + L2: weights agree to {err:.1e}"));
}

/// SAM training (ρ = 0.05, with clipping and weight decay) on both engines: 20 steps of a
/// two-block model agree in loss and weights, and SAM does change the run.
pub async fn transformer_sam_training_on_the_gpu_matches_the_cpu(g: &Gpu) {
    use overtrain::transformer::engine::{Engine, Stretch, TrainState};
    use overtrain::transformer::schedule::{Lr, Schedule};
    let (cfg, b) = configs().remove(0);
    let t = cfg.ctx;
    let sam = Hyper {
        weight_decay: 0.1,
        grad_clip: 0.5,
        l2: 0.0,
        sam_rho: 0.05,
    };
    let lr = Lr {
        schedule: Schedule::Cosine,
        peak: 1e-2,
        warmup: 2,
        total: 20,
    };
    let rows = random_batch(20 * b * (t + 1), 90).0;
    let start = TrainState::fresh(overtrain::transformer::params::Layout::new(&cfg).init(5));
    async fn run(engine: &mut Engine<'_>, rows: &[u8], lr: &Lr, hyper: Hyper) -> Vec<f64> {
        let mut losses = Losses::default();
        let mut source = Replay {
            bytes: rows.to_vec(),
            pos: 0,
        };
        let stretch = Stretch {
            source: &mut source,
            lr,
            steps: 0..20,
            hyper,
            eval: None,
        };
        engine.train(stretch, &mut losses).await.unwrap();
        losses.0
    }
    let mut cpu = Engine::cpu(&cfg, b, DEFAULT_COUNT);
    let mut gpu = Engine::gpu(g, &cfg, b, 1).unwrap();
    let mut runs = Vec::new();
    for engine in [&mut cpu, &mut gpu] {
        engine.load(&start).unwrap();
        let losses = run(engine, &rows, &lr, sam).await;
        runs.push((losses, engine.params().await.unwrap()));
    }
    let ((cpu_loss, cpu_w), (gpu_loss, gpu_w)) = (&runs[0], &runs[1]);
    assert_eq!(gpu_loss.len(), 20);
    let loss_err = gpu_loss
        .iter()
        .zip(cpu_loss)
        .map(|(x, y)| ((x - y) / y).abs())
        .fold(0.0, f64::max);
    let param_err = relative_error(gpu_w, cpu_w);
    log(&format!(
        "SAM, 20 steps: train loss {loss_err:.1e}, parameters {param_err:.1e}; loss {:.4} → {:.4}",
        cpu_loss[0], cpu_loss[19]
    ));
    assert!(loss_err <= TOLERANCE as f64, "SAM train losses {loss_err}");
    assert!(param_err <= 1e-2, "SAM parameters {param_err}");
    assert!(cpu_loss[19] < cpu_loss[0], "it learns");
    // The first loss is the loss at w (SAM changes only the update); the run goes elsewhere.
    let mut plain = Engine::cpu(&cfg, b, DEFAULT_COUNT);
    plain.load(&start).unwrap();
    let plain_loss = run(
        &mut plain,
        &rows,
        &lr,
        Hyper {
            sam_rho: 0.0,
            ..sam
        },
    )
    .await;
    assert_eq!(plain_loss[0], cpu_loss[0]);
    assert_ne!(plain.params().await.unwrap(), *cpu_w);
}

struct Quiet;

impl overtrain::experiment::Host for Quiet {
    async fn progress(
        &mut self,
        _: &overtrain::experiment::Progress,
    ) -> Result<(), overtrain::Error> {
        Ok(())
    }
    fn now_ms(&self) -> f64 {
        0.0
    }
}

/// A micro experiment (wsd protocol, perturbation, fine-tuning with L2) on the GPU gives
/// the CPU's curves.
pub async fn experiment_on_the_gpu_matches_the_cpu(g: &Gpu) {
    experiment_matches(
        g,
        r#"{"batch": 4, "eval_batches": 2,
            "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
            "pretrain": {"protocol": "wsd", "budgets": [320, 640, 1280]},
            "perturb": {"gammas": [1.0], "draws": 2},
            "finetune": {"lrs": [0.003], "l2": [0.0, 1.0], "steps": 5, "seeds": 2}}"#,
    )
    .await;
}

/// The levers on the GPU give the CPU's curves: the constant protocol pre-trained with SAM,
/// then fine-tuning with half of each batch replayed from the pre-training language.
pub async fn experiment_with_the_levers_on_the_gpu_matches_the_cpu(g: &Gpu) {
    experiment_matches(
        g,
        r#"{"batch": 4, "eval_batches": 2,
            "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
            "pretrain": {"protocol": "constant", "budgets": [320, 640, 1280], "sam_rho": 0.05},
            "perturb": {"gammas": [1.0], "draws": 2},
            "finetune": {"lrs": [0.003], "l2": [0.0], "steps": 5, "seeds": 2, "replay": 0.5}}"#,
    )
    .await;
}

async fn experiment_matches(g: &Gpu, config: &str) {
    use overtrain::experiment::{self, ExperimentConfig};
    use overtrain::transformer::engine::run_ready;
    let cfg = ExperimentConfig::from_json(config).unwrap();
    let cpu = run_ready(experiment::run(&cfg, &mut Engines::cpu(), &mut Quiet, None)).unwrap();
    let gpu = experiment::run(&cfg, &mut Engines::gpu(g), &mut Quiet, None)
        .await
        .unwrap();
    let close = |a: &[f64], b: &[f64], what: &str| {
        for (x, y) in a.iter().zip(b) {
            assert!(
                ((x - y) / y).abs() < TOLERANCE as f64,
                "{what}: GPU {x} vs CPU {y}"
            );
        }
    };
    close(&gpu.base.pretrain_ppl, &cpu.base.pretrain_ppl, "base");
    close(
        &gpu.perturb[0].pretrain_ppl_mean,
        &cpu.perturb[0].pretrain_ppl_mean,
        "perturbed",
    );
    for (a, b) in gpu.finetune.iter().zip(&cpu.finetune) {
        let flat = |v: &[Option<f64>]| v.iter().map(|x| x.unwrap()).collect::<Vec<_>>();
        close(&flat(&a.pretrain_ppl), &flat(&b.pretrain_ppl), "fine-tuned");
        close(&flat(&a.id_ppl), &flat(&b.id_ppl), "task");
    }
    assert!(gpu.backend.starts_with("GPU"), "{}", gpu.backend);
}

/// Set up once: after the first stretch (which compiles the pipelines and makes the step's
/// and the evaluation's bind groups and uniforms), more training steps, loss read-backs
/// and evaluations create no buffer, no bind group and no pipeline — the per-step values
/// (learning rate, step, loss slot, SAM's ρ) reach the GPU by `queue.write_buffer` — and
/// neither do SAM steps.
pub async fn transformer_steady_state_steps_create_nothing(_shared: &Gpu) {
    // A device of its own: the other tests create objects on the shared one meanwhile.
    let own = Gpu::new()
        .await
        .expect("a second device on the same adapter");
    let g = &own;
    use overtrain::transformer::engine::{Engine, Eval, Stretch};
    use overtrain::transformer::schedule::{Lr, Schedule};
    let (cfg, b) = configs().remove(0);
    let t = cfg.ctx;
    let h = Hyper {
        weight_decay: 0.1,
        grad_clip: 1.0,
        l2: 0.0,
        sam_rho: 0.0,
    };
    let lr = Lr {
        schedule: Schedule::Cosine,
        peak: 1e-2,
        warmup: 2,
        total: 80,
    };
    let rows = random_batch(8 * b * (t + 1), 80).0;
    let heldout = vec![rows[..b * (t + 1)].to_vec()];
    let mut source = Replay {
        bytes: rows,
        pos: 0,
    };
    let mut engine = Engine::gpu(g, &cfg, b, 1).unwrap();
    // Warm-up: 20 steps (pipelines, the step's and the evaluation's bind groups).
    {
        let stretch = Stretch {
            source: &mut source,
            lr: &lr,
            steps: 0..20,
            hyper: h,
            eval: Some(Eval {
                every: 10,
                batches: &heldout,
            }),
        };
        engine.train(stretch, &mut Losses::default()).await.unwrap();
    }
    let before = g.created();
    let submitted = g.submissions();
    let encoded = g.encoded();
    let mut losses = Losses::default();
    let stretch = Stretch {
        source: &mut source,
        lr: &lr,
        steps: 20..60,
        hyper: h,
        eval: Some(Eval {
            every: 10,
            batches: &heldout,
        }),
    };
    engine.train(stretch, &mut losses).await.unwrap();
    let after = g.created();
    assert_eq!(losses.0.len(), 40, "every step's loss came back");
    assert!(losses.0.iter().all(|l| l.is_finite()));
    assert_eq!(
        after, before,
        "40 steady-state steps, their loss read-backs and 4 evaluations created objects"
    );
    // Short submissions: a step in one part per block forward and backward plus the
    // head and update (2L + 1), an evaluation in one part per block plus the head (L + 1).
    let l = cfg.n_layer;
    assert!(l >= 2, "a model of several blocks");
    assert_eq!(
        g.submissions() - submitted,
        40 * (2 * l + 1) + 4 * (l + 1),
        "each step and evaluation submitted block by block"
    );
    // Built once: each step encodes exactly its program's dispatches and each evaluation
    // its forward pass's, nothing recorded anew (a model of the same config counts them).
    let model = GpuModel::new(g, &cfg, b, 1).unwrap();
    let (step, eval) = (
        model.dispatches(false).total(),
        model.dispatches(false).forward,
    );
    assert_eq!(
        g.encoded() - encoded,
        40 * step + 4 * eval,
        "40 steps of {step} dispatches and 4 evaluations of {eval}"
    );
    assert_eq!(
        model.parts(1, false),
        (2 * l + 1, l + 1),
        "the programs' parts"
    );
    // SAM steps, built with the rest: nothing created either, 4L + 1 parts each (the passes
    // at w + ε add a forward and a backward pass), exactly the SAM program's dispatches.
    let (before, submitted, encoded) = (g.created(), g.submissions(), g.encoded());
    let mut losses = Losses::default();
    let stretch = Stretch {
        source: &mut source,
        lr: &lr,
        steps: 60..80,
        hyper: Hyper { sam_rho: 0.05, ..h },
        eval: Some(Eval {
            every: 10,
            batches: &heldout,
        }),
    };
    engine.train(stretch, &mut losses).await.unwrap();
    assert_eq!(losses.0.len(), 20);
    assert!(losses.0.iter().all(|l| l.is_finite()));
    assert_eq!(
        g.created(),
        before,
        "20 SAM steps and 2 evaluations created objects"
    );
    assert_eq!(model.parts(1, true).0, 4 * l + 1);
    assert_eq!(
        g.submissions() - submitted,
        20 * (4 * l + 1) + 2 * (l + 1),
        "each SAM step submitted block by block"
    );
    let sam = model.dispatches_sam(false);
    assert_eq!(sam.total(), step + sam.sam);
    assert_eq!(g.encoded() - encoded, 20 * sam.total() + 2 * eval);
    log(&format!(
        "steady state: 40 steps and 20 SAM steps ({} extra dispatches each) created nothing \
         (set-up: {} buffers, {} bind groups, {} pipelines)",
        sam.sam, before.buffers, before.bind_groups, before.pipelines
    ));
}

/// Fused kernels: at most 8 dispatches per transformer block forward and 16 backward, for
/// every norm, MLP and position choice (measured as the difference between 2 blocks and 1).
pub async fn transformer_blocks_take_few_dispatches(g: &Gpu) {
    for (cfg, b) in configs() {
        let count = |layers: usize| {
            let c = ModelConfig {
                n_layer: layers,
                ..cfg.clone()
            };
            GpuModel::new(g, &c, b, 1).unwrap().dispatches(false)
        };
        let (one, two) = (count(1), count(2));
        let forward = two.forward - one.forward;
        let backward = two.backward - one.backward;
        log(&format!(
            "{:?} {:?} {:?}: per block {forward} forward, {backward} backward; a 2-block step {} ({} forward, {} backward, {} update)",
            cfg.norm, cfg.mlp, cfg.pos, two.total(), two.forward, two.backward, two.update
        ));
        assert!(forward <= 8, "{forward} dispatches per block forward");
        assert!(backward <= 16, "{backward} dispatches per block backward");
    }
}
