//! GPU checks shared by the native tests (tests/gpu.rs, lavapipe) and the browser tests
//! (tests/web.rs, SwiftShader): every kernel against its CPU reference, limits, and the
//! linear lab on the GPU against the CPU path.
#![allow(dead_code)]

#[path = "reference.rs"]
mod reference;

use overtrain::cpu;
use overtrain::gpu::kernels::{self, MatmulSpec};
use overtrain::gpu::{Gpu, GpuError, Products};
use overtrain::transformer::optim::{self, AdamW, Guard, Hyper, StepValues, DIVERGED_LOSS};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn log(message: &str) {
    #[cfg(target_arch = "wasm32")]
    web_sys::console::log_1(&message.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{message}");
}

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

fn assert_close(got: &[f32], want: &[f32], rel: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * (1.0 + w.abs()),
            "{what}[{i}]: GPU {g}, CPU {w}"
        );
    }
}

pub async fn adapter_is_described(g: &Gpu) {
    let a = &g.adapter;
    assert!(!a.name.is_empty());
    assert!(a.max_buffer_size > 0 && a.max_storage_buffer_binding_size > 0);
    log(&format!("adapter: {a:?}"));
}

/// The reductions share one `workgroup_sum`, which has two paths: with subgroups (the
/// default device, where the adapter offers them) and without (the reference). Both
/// against the CPU: row sums, the gradient norm and clip of the step guard, and the linear
/// lab's perturbed losses (in its whole run).
pub async fn reductions_match_the_cpu_on_both_paths(g: &Gpu) {
    assert_eq!(
        g.subgroups, g.adapter.subgroups,
        "the default device uses subgroups exactly where the adapter offers them"
    );
    let plain = Gpu::without_subgroups()
        .await
        .expect("a device without subgroups");
    assert!(!plain.subgroups);
    for (path, device) in [("without subgroups", &plain), ("default", g)] {
        reductions_match_reference(device).await;
        step_guard_matches_reference(device).await;
        assert_gpu_matches_cpu(device, &Default::default(), path).await;
    }
    log(&format!(
        "workgroup_sum: checked without subgroups and on the default device (subgroups: {})",
        g.subgroups
    ));
}

/// The matrix product has two ways of reading its operands (workgroup tiles on hardware,
/// straight from storage on software adapters): both against the CPU, each on a device
/// of its own, and the default device's is the one its adapter calls for.
pub async fn matmul_matches_reference_on_awkward_shapes(g: &Gpu) {
    assert_eq!(g.products, Products::for_adapter(&g.adapter));
    for products in [Products::Tiles, Products::Direct] {
        let device = Gpu::with_products(products)
            .await
            .expect("a device with either reading");
        assert_eq!(device.products, products);
        matmul_matches_reference(&device, &format!("{products:?}")).await;
    }
}

async fn matmul_matches_reference(g: &Gpu, path: &str) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let shapes = [
        (1, 1, 1),
        (7, 7, 7),
        (33, 65, 17),
        (65, 33, 257),
        (257, 7, 1),
        (1, 257, 65),
        (20, 20, 20),
    ];
    for &(m, k, n) in &shapes {
        for (trans_a, trans_b, batch, alpha, beta) in [
            (false, false, 1, 1.0, 0.0),
            (true, false, 3, 1.0, 0.0),
            (false, true, 2, -0.5, 1.0),
            (true, true, 1, 2.0, 0.5),
        ] {
            let s = MatmulSpec {
                m,
                k,
                n,
                batch,
                trans_a,
                trans_b,
                alpha,
                beta,
            };
            assert_eq!(matmul_matches(g, &mut rng, s, path).await, 1);
        }
    }
    // Weight-gradient shapes (Aᵀ·B, a small output over a long sum), which the tiled
    // product cuts into slices of its sum (split-K): the slices' partial products in one
    // dispatch, their sum in a second. A software adapter's products keep one slice.
    for &(m, k, n, tiled_slices) in &[(40, 2048, 72, 8), (64, 768, 64, 2), (130, 4096, 200, 4)] {
        let slices = match g.products {
            Products::Tiles => tiled_slices,
            Products::Direct => 1,
        };
        let s = MatmulSpec {
            trans_a: true,
            alpha: -0.5,
            beta: 1.0,
            ..MatmulSpec::new(m, k, n)
        };
        assert_eq!(kernels::split_k_slices(&s, g.products), slices, "{s:?}");
        assert_eq!(
            matmul_matches(g, &mut rng, s, path).await,
            if slices > 1 { 2 } else { 1 },
            "split-K: the partial products, then their sum"
        );
    }
}

/// One product `s` of random operands on the GPU against the CPU reference; returns the
/// dispatches it took.
async fn matmul_matches(g: &Gpu, rng: &mut ChaCha8Rng, s: MatmulSpec, path: &str) -> usize {
    let (m, k, n, batch) = (s.m, s.k, s.n, s.batch);
    let a = random(rng, batch * m * k);
    let b = random(rng, batch * k * n);
    let out0 = random(rng, batch * m * n);
    let (ta, tb) = (
        g.upload(&a, &[batch, m, k]).unwrap(),
        g.upload(&b, &[batch, k, n]).unwrap(),
    );
    let tout = g.upload(&out0, &[batch, m, n]).unwrap();
    let mut rec = g.recorder();
    kernels::matmul(&mut rec, &ta, &tb, &tout, s).unwrap();
    let dispatches = g.submit(rec).unwrap();
    let mut want = out0.clone();
    reference::matmul(&a, &b, &mut want, s);
    assert_close(
        &g.read(&tout).await.unwrap(),
        &want,
        1e-5 * (k as f32).sqrt(),
        &format!("matmul ({path}) {s:?}"),
    );
    dispatches
}

pub async fn elementwise_ops_match_reference(g: &Gpu) {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for n in [1, 7, 33, 65, 257, 70_001] {
        let (x, y) = (random(&mut rng, n), random(&mut rng, n));
        let (tx, ty) = (g.upload(&x, &[n]).unwrap(), g.upload(&y, &[n]).unwrap());
        let outs: Vec<_> = (0..5).map(|_| g.zeros(&[n]).unwrap()).collect();
        let acc0 = random(&mut rng, n);
        g.write(&outs[4], &acc0).unwrap();
        let mut rec = g.recorder();
        kernels::add(&mut rec, &tx, &ty, &outs[0]).unwrap();
        kernels::sub(&mut rec, &tx, &ty, &outs[1]).unwrap();
        kernels::mul(&mut rec, &tx, &ty, &outs[2]).unwrap();
        kernels::scale(&mut rec, -1.5, &tx, &outs[3]).unwrap();
        kernels::axpy(&mut rec, 0.25, &tx, &outs[4]).unwrap();
        assert_eq!(g.submit(rec).unwrap(), 5, "one dispatch each, one submit");
        let mut axpy = acc0.clone();
        reference::axpy(0.25, &x, &mut axpy);
        assert_close(
            &g.read(&outs[0]).await.unwrap(),
            &reference::add(&x, &y),
            1e-6,
            "add",
        );
        assert_close(
            &g.read(&outs[1]).await.unwrap(),
            &reference::sub(&x, &y),
            1e-6,
            "sub",
        );
        assert_close(
            &g.read(&outs[2]).await.unwrap(),
            &reference::mul(&x, &y),
            1e-6,
            "mul",
        );
        assert_close(
            &g.read(&outs[3]).await.unwrap(),
            &reference::scale(-1.5, &x),
            1e-6,
            "scale",
        );
        assert_close(&g.read(&outs[4]).await.unwrap(), &axpy, 1e-6, "axpy");
    }
}

pub async fn reductions_match_reference(g: &Gpu) {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for (rows, cols) in [(1, 1), (7, 33), (65, 257), (1, 70_001), (300, 7), (2, 65)] {
        let x = random(&mut rng, rows * cols);
        let tx = g.upload(&x, &[rows, cols]).unwrap();
        let (sum, sumsq) = (g.zeros(&[rows]).unwrap(), g.zeros(&[rows]).unwrap());
        let mut rec = g.recorder();
        kernels::sum_rows(&mut rec, &tx, rows, cols, &sum).unwrap();
        kernels::sumsq_rows(&mut rec, &tx, rows, cols, &sumsq).unwrap();
        g.submit(rec).unwrap();
        let want_sum: Vec<f32> = reference::sum_rows(&x, rows, cols)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let want_sq: Vec<f32> = reference::sumsq_rows(&x, rows, cols)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let tol = 1e-5 * (cols as f32).sqrt();
        assert_close(
            &g.read(&sum).await.unwrap(),
            &want_sum,
            tol,
            &format!("sum_rows {rows}x{cols}"),
        );
        assert_close(
            &g.read(&sumsq).await.unwrap(),
            &want_sq,
            tol,
            &format!("sumsq_rows {rows}x{cols}"),
        );
    }
}

pub async fn gaussian_noise_is_counter_based_and_matches_reference(g: &Gpu) {
    let (seed, n) = (0x1234_5678_9abc_def0u64, 100_003);
    let whole = g.zeros(&[n]).unwrap();
    let (first, second) = (g.zeros(&[40_000]).unwrap(), g.zeros(&[n - 40_000]).unwrap());
    let mut rec = g.recorder();
    kernels::gaussian(&mut rec, seed, 7, 1.0, &whole).unwrap();
    kernels::gaussian(&mut rec, seed, 7, 1.0, &first).unwrap();
    kernels::gaussian(&mut rec, seed, 7 + 40_000, 1.0, &second).unwrap();
    g.submit(rec).unwrap();
    let z = g.read(&whole).await.unwrap();
    // Deterministic given (seed, offset): split dispatches give the same numbers.
    let mut parts = g.read(&first).await.unwrap();
    parts.extend(g.read(&second).await.unwrap());
    assert_eq!(z, parts);
    // The CPU generator gives the same numbers up to the GPU's transcendental precision.
    assert_close(&z, &cpu::gaussian(seed, 7, 1.0, n), 2e-4, "gaussian");
    // And they are standard normal.
    let mean = z.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = z.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    assert!(mean.abs() < 4.0 / (n as f64).sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 0.02, "variance {var}");
    // Another seed, another stream; a scale multiplies.
    let other = g.zeros(&[8]).unwrap();
    let mut rec = g.recorder();
    kernels::gaussian(&mut rec, seed + 1, 7, 0.5, &other).unwrap();
    g.submit(rec).unwrap();
    let o = g.read(&other).await.unwrap();
    assert_ne!(o[..], z[..8]);
    assert_close(
        &o,
        &cpu::gaussian(seed + 1, 7, 0.5, 8),
        2e-4,
        "scaled gaussian",
    );
}

pub async fn optimizers_match_reference(g: &Gpu) {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    for n in [1, 33, 257, 5000] {
        let w0 = random(&mut rng, n);
        let (tw, tm, tv) = (
            g.upload(&w0, &[n]).unwrap(),
            g.zeros(&[n]).unwrap(),
            g.zeros(&[n]).unwrap(),
        );
        let ts = g.upload(&w0, &[n]).unwrap();
        let (mut w, mut m, mut v) = (w0.clone(), vec![0.0; n], vec![0.0; n]);
        let mut ws = w0.clone();
        // Every third element without weight decay; gradients halved by the guard.
        let decays = |i: usize| !i.is_multiple_of(3);
        let mask = g.storage(&optim::decay_bits((0..n).map(decays))).unwrap();
        let guard = Guard {
            scale: 0.5,
            ..Guard::OPEN
        }
        .buffer(g)
        .unwrap();
        for step in 1..=3 {
            let grad = random(&mut rng, n);
            let tg = g.upload(&grad, &[n]).unwrap();
            let h = AdamW {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-8,
                weight_decay: 0.1,
                step,
            };
            let values = StepValues::new(
                step as usize - 1,
                0,
                h.lr,
                &Hyper {
                    weight_decay: h.weight_decay as f64,
                    ..Hyper::default()
                },
                0.0,
            );
            let mut rec = g.recorder();
            let step_buffer = values.buffer(g);
            optim::adamw(&mut rec, &tw, &tg, &tm, &tv, &mask, &guard, &step_buffer).unwrap();
            optim::sgd(&mut rec, 0.1, &ts, &tg).unwrap();
            g.submit(rec).unwrap();
            for i in 0..n {
                let hi = AdamW {
                    weight_decay: if decays(i) { 0.1 } else { 0.0 },
                    ..h
                };
                let gi = [grad[i] * 0.5];
                let (wi, mi, vi) = (&mut w[i..=i], &mut m[i..=i], &mut v[i..=i]);
                cpu::adamw(hi, wi, &gi, mi, vi);
            }
            reference::sgd(0.1, &mut ws, &grad);
        }
        assert_close(&g.read(&tw).await.unwrap(), &w, 1e-5, "adamw w");
        assert_close(&g.read(&tm).await.unwrap(), &m, 1e-5, "adamw m");
        assert_close(&g.read(&tv).await.unwrap(), &v, 1e-5, "adamw v");
        assert_close(&g.read(&ts).await.unwrap(), &ws, 1e-6, "sgd");
    }
}

/// SAM's ascent and restore against the CPU's: w + (ρ/‖g‖)·g with the norm over every
/// value (sizes across the partial sums' strides), the saved weights exact, no move for a
/// zero gradient, and w back bit for bit.
pub async fn sam_matches_reference(g: &Gpu) {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    for (n, rho, zero) in [
        (1, 0.05, false),
        (300, 0.5, false),
        (70_000, 0.05, false),
        (500, 0.1, true),
    ] {
        let w0 = random(&mut rng, n);
        let grad = if zero {
            vec![0.0; n]
        } else {
            random(&mut rng, n)
        };
        let (tw, tg, saved) = (
            g.upload(&w0, &[n]).unwrap(),
            g.upload(&grad, &[n]).unwrap(),
            g.zeros(&[n]).unwrap(),
        );
        let partials = g.zeros(&[optim::sumsq_partials(n)]).unwrap();
        let scale = g.zeros(&[1]).unwrap();
        let values = StepValues::new(
            3,
            0,
            1e-3,
            &Hyper {
                sam_rho: rho,
                ..Hyper::default()
            },
            0.0,
        );
        let step_buffer = values.buffer(g);
        let mut rec = g.recorder();
        optim::sam_ascent(&mut rec, &tw, &tg, &saved, &partials, &scale, &step_buffer).unwrap();
        g.submit(rec).unwrap();
        let (mut w, mut kept) = (w0.clone(), vec![0.0; n]);
        cpu::sam_ascent(rho as f32, &mut w, &grad, &mut kept);
        assert_eq!(
            g.read(&saved).await.unwrap(),
            w0,
            "n {n}: the saved weights"
        );
        let moved = g.read(&tw).await.unwrap();
        assert_close(&moved, &w, 1e-6, "sam_ascent");
        if zero {
            assert_eq!(moved, w0, "no move without a gradient");
        } else {
            let step = moved
                .iter()
                .zip(&w0)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                (step - rho).abs() < 1e-3 * rho,
                "n {n}: a step of ‖ε‖ = {step}, ρ = {rho}"
            );
        }
        let mut rec = g.recorder();
        optim::sam_restore(&mut rec, &tw, &saved).unwrap();
        g.submit(rec).unwrap();
        assert_eq!(g.read(&tw).await.unwrap(), w0, "n {n}: restored exactly");
    }
}

pub async fn step_guard_matches_reference(g: &Gpu) {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for (n, clip, loss) in [
        (1, 0.0, 2.0f32),
        (300, 0.5, 1.0),
        (70_000, 100.0, 3.0),
        (1000, 1.0, f32::INFINITY),
        (1000, 1.0, 30.0),
    ] {
        let grad = random(&mut rng, n);
        let tg = g.upload(&grad, &[n]).unwrap();
        let partials = g.zeros(&[optim::sumsq_partials(n)]).unwrap();
        let losses = g.upload(&[0.0, loss], &[2]).unwrap();
        let guard = Guard::OPEN.buffer(g).unwrap();
        let values = StepValues::new(
            6,
            1,
            0.0,
            &Hyper {
                grad_clip: clip,
                ..Hyper::default()
            },
            0.0,
        );
        let step_buffer = values.buffer(g);
        let mut rec = g.recorder();
        optim::step_guard(&mut rec, &tg, &partials, &losses, &guard, &step_buffer).unwrap();
        g.submit(rec).unwrap();
        let words = g.read_u32(&guard, 4).await.unwrap();
        let got: Guard = bytemuck::cast_slice::<u32, Guard>(&words)[0];
        let (scale, diverged, norm) =
            cpu::step_guard(&grad, loss as f64, clip, DIVERGED_LOSS as f64);
        assert!(
            ((got.norm as f64 - norm) / norm).abs() < 1e-5,
            "norm {got:?} vs {norm}"
        );
        assert!((got.scale - scale).abs() < 1e-5, "scale {got:?} vs {scale}");
        assert_eq!(got.status, if diverged { 7 } else { 0 }, "{got:?}");
    }
}

pub async fn limits_are_checked_before_submitting(g: &Gpu) {
    let too_big = (g.limits.max_buffer_size / 4 + 1) as usize;
    match g.zeros(&[too_big]) {
        Err(GpuError::Limit {
            limit,
            requested,
            max,
        }) => {
            assert!(limit == "max_buffer_size" || limit == "max_storage_buffer_binding_size");
            assert!(requested > max);
        }
        other => panic!("expected a limit error, got {:?}", other.map(|t| t.shape)),
    }
    let binding = g.limits.max_storage_buffer_binding_size;
    if binding < g.limits.max_buffer_size {
        let len = (binding / 4 + 1) as usize;
        assert!(matches!(
            g.zeros(&[len]),
            Err(GpuError::Limit {
                limit: "max_storage_buffer_binding_size",
                ..
            })
        ));
    }
    // A batch beyond the workgroup grid's limit fails before anything is recorded.
    let batch = g.limits.max_compute_workgroups_per_dimension as usize + 1;
    let (a, b, out) = (
        g.zeros(&[batch]).unwrap(),
        g.zeros(&[batch]).unwrap(),
        g.zeros(&[batch]).unwrap(),
    );
    let mut rec = g.recorder();
    let s = MatmulSpec {
        batch,
        ..MatmulSpec::new(1, 1, 1)
    };
    match kernels::matmul(&mut rec, &a, &b, &out, s) {
        Err(GpuError::Limit {
            limit, requested, ..
        }) => {
            assert_eq!(limit, "max_compute_workgroups_per_dimension");
            assert_eq!(requested, batch as u64);
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
    assert_eq!(rec.dispatches, 0);
    // Mismatched shapes are refused, also before recording.
    let x = g.zeros(&[3]).unwrap();
    let y = g.zeros(&[4]).unwrap();
    assert!(matches!(
        kernels::add(&mut rec, &x, &y, &x),
        Err(GpuError::Invalid(_))
    ));
    let msg = GpuError::Limit {
        limit: "max_buffer_size",
        requested: 10,
        max: 5,
    }
    .to_string();
    assert!(msg.contains("max_buffer_size") && msg.contains("10") && msg.contains('5'));
    g.submit(rec).unwrap();
    g.check().expect("no WebGPU error reached the device");
}

/// Max |gpu − cpu| over a curve, relative to the curve's largest |cpu| value.
fn curve_error(gpu: &[Option<f64>], cpu: &[Option<f64>]) -> f64 {
    assert_eq!(gpu.len(), cpu.len());
    let scale = cpu
        .iter()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-30);
    gpu.iter()
        .zip(cpu)
        .map(|(g, c)| match (g, c) {
            (Some(g), Some(c)) => (g - c).abs() / scale,
            (None, None) => 0.0,
            _ => f64::INFINITY,
        })
        .fold(0.0, f64::max)
}

pub async fn assert_gpu_matches_cpu(g: &Gpu, config: &overtrain::linear::LinearConfig, what: &str) {
    use overtrain::linear::gpu::{run_gpu, TOLERANCE};
    let cpu = overtrain::linear::run(config).unwrap();
    let (gpu_r, stats) = run_gpu(config, g).await.unwrap();
    assert!(
        stats.dispatches <= 100,
        "{what}: {} dispatches",
        stats.dispatches
    );
    assert_eq!(gpu_r.steps, cpu.steps, "{what}: checkpoints");
    assert_eq!(
        gpu_r.pretrain_diverged_at, cpu.pretrain_diverged_at,
        "{what}"
    );
    let some = |v: &[f64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
    let mut worst = 0.0f64;
    let mut check = |name: String, g: &[Option<f64>], c: &[Option<f64>]| {
        let e = curve_error(g, c);
        worst = worst.max(e);
        assert!(e <= TOLERANCE, "{what}: {name} differs by {e:e} (relative)");
    };
    check(
        "pretrain_loss".into(),
        &some(&gpu_r.pretrain_loss),
        &some(&cpu.pretrain_loss),
    );
    for (j, (g, c)) in gpu_r
        .singular_values
        .iter()
        .zip(&cpu.singular_values)
        .enumerate()
    {
        check(format!("singular_values[{j}]"), &some(g), &some(c));
    }
    for (g, c) in gpu_r.perturb.iter().zip(&cpu.perturb) {
        check(
            format!("perturb γ={} mean", c.gamma),
            &some(&g.mean_loss),
            &some(&c.mean_loss),
        );
        check(
            format!("perturb γ={} expected", c.gamma),
            &some(&g.expected_loss),
            &some(&c.expected_loss),
        );
    }
    for (g, c) in gpu_r.finetune.iter().zip(&cpu.finetune) {
        assert_eq!(
            g.diverged_checkpoints, c.diverged_checkpoints,
            "{what}: η={} λ={}",
            c.lr, c.l2
        );
        check(
            format!("finetune η={} λ={} pre", c.lr, c.l2),
            &g.pretrain_loss,
            &c.pretrain_loss,
        );
        check(
            format!("finetune η={} λ={} ft", c.lr, c.l2),
            &g.finetune_loss,
            &c.finetune_loss,
        );
    }
    log(&format!(
        "{what}: worst relative curve difference GPU vs CPU {worst:e}, {} dispatches",
        stats.dispatches
    ));
}

pub async fn linear_lab_on_the_gpu_matches_the_cpu_default_config(g: &Gpu) {
    assert_gpu_matches_cpu(
        g,
        &overtrain::linear::LinearConfig::default(),
        "default config",
    )
    .await;
}

pub async fn linear_lab_on_the_gpu_matches_the_cpu_identity_basis_and_dim_64(g: &Gpu) {
    use overtrain::linear::{Basis, LinearConfig};
    let mut identity = LinearConfig {
        basis: Basis::Identity,
        ..LinearConfig::default()
    };
    identity.pretrain.steps = 1000;
    identity.finetune.lrs = vec![0.01, 0.1, 3.0]; // 3.0 diverges
    assert_gpu_matches_cpu(g, &identity, "identity basis").await;
    let mut big = LinearConfig {
        dim: 64,
        hidden: 48,
        ..LinearConfig::default()
    };
    big.pretrain.steps = 300; // more steps than llvmpipe's loop guard allows in one dispatch
    big.pretrain.checkpoint_every = 100;
    big.pretrain.lr = 0.02;
    big.finetune.lrs = vec![0.01, 0.03];
    big.finetune.l2 = vec![0.5];
    big.finetune.steps = 60;
    big.perturb.samples = 8;
    assert_gpu_matches_cpu(g, &big, "dim 64, hidden 48").await;
}
