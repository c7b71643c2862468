//! The sharpness (src/transformer/sharpness.rs) against the Hessian of a micro model
//! assembled column by column (central differences of gradients along each coordinate,
//! symmetrized, its dominant eigenvalue by a long power iteration in f64), and the GPU's
//! estimate against the CPU's.
#![cfg(not(target_arch = "wasm32"))]

use overtrain::gpu::Gpu;
use overtrain::transformer::config::ModelConfig;
use overtrain::transformer::engine::{run_ready, Engine};
use overtrain::transformer::micro::DEFAULT_COUNT;
use overtrain::transformer::params::Layout;
use overtrain::transformer::sharpness::sharpness;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn micro() -> (ModelConfig, usize) {
    (
        ModelConfig {
            n_layer: 1,
            d_model: 4,
            n_head: 1,
            d_ff: 8,
            ctx: 4,
            ..ModelConfig::default()
        },
        2,
    )
}

/// Two held-out batches of B rows of T + 1 bytes over a small alphabet.
fn batches(b: usize, t: usize) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    (0..2)
        .map(|_| {
            (0..b * (t + 1))
                .map(|_| b'a' + rng.random_range(0..6u8))
                .collect()
        })
        .collect()
}

/// Parameters away from init, so every tensor carries curvature.
fn params(cfg: &ModelConfig) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    Layout::new(cfg)
        .init(1)
        .iter()
        .map(|&w| w + 0.2 * (rng.random::<f32>() - 0.5))
        .collect()
}

/// The dominant eigenvalue of the Hessian assembled column by column.
fn assembled(engine: &mut Engine, w: &[f32], batches: &[Vec<u8>]) -> f64 {
    let n = w.len();
    let h = 1e-2f32;
    let mut hess = vec![0.0f64; n * n];
    for j in 0..n {
        let mut plus = w.to_vec();
        plus[j] += h;
        let mut minus = w.to_vec();
        minus[j] -= h;
        let gp = run_ready(engine.gradient(&plus, batches)).unwrap();
        let gm = run_ready(engine.gradient(&minus, batches)).unwrap();
        for i in 0..n {
            hess[i * n + j] = (gp[i] as f64 - gm[i] as f64) / (2.0 * h as f64);
        }
    }
    for i in 0..n {
        for j in 0..i {
            let m = 0.5 * (hess[i * n + j] + hess[j * n + i]);
            hess[i * n + j] = m;
            hess[j * n + i] = m;
        }
    }
    // The dominant eigenvalue; if negative, the dominant one of H − μI, plus μ: the top.
    let power = |shift: f64| {
        let mut v: Vec<f64> = (0..n).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let mut lambda = 0.0;
        for _ in 0..3000 {
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            let hv: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| hess[i * n + j] * v[j]).sum::<f64>() - shift * v[i])
                .collect();
            lambda = v.iter().zip(&hv).map(|(a, b)| a * b).sum();
            v = hv;
        }
        lambda
    };
    let dominant = power(0.0);
    if dominant >= 0.0 {
        dominant
    } else {
        power(dominant) + dominant
    }
}

#[test]
fn sharpness_is_the_top_eigenvalue_of_the_hessian() {
    let (cfg, b) = micro();
    let held = batches(b, cfg.ctx);
    let w = params(&cfg);
    let mut engine = Engine::cpu(&cfg, b, DEFAULT_COUNT);
    let want = assembled(&mut engine, &w, &held);
    let got = run_ready(sharpness(&mut engine, &w, &held, 60, 7)).unwrap();
    eprintln!("sharpness {got:.5}, assembled Hessian's top eigenvalue {want:.5}");
    assert!(want > 1e-3, "a curved loss");
    assert!(
        ((got - want) / want).abs() < 0.02,
        "power iteration {got} vs the assembled Hessian {want}"
    );
    // Deterministic: the same seed and iterations give the same bits.
    let again = run_ready(sharpness(&mut engine, &w, &held, 60, 7)).unwrap();
    assert_eq!(got.to_bits(), again.to_bits());
}

#[test]
fn the_gpu_measures_the_cpu_sharpness() {
    let (cfg, b) = micro();
    let held = batches(b, cfg.ctx);
    let w = params(&cfg);
    let gpu =
        pollster::block_on(Gpu::new()).expect("a GPU adapter (lavapipe: mesa-vulkan-drivers)");
    let mut on_gpu = Engine::gpu(&gpu, &cfg, b, 1).unwrap();
    let mut on_cpu = Engine::cpu(&cfg, b, DEFAULT_COUNT);
    let c = run_ready(sharpness(&mut on_cpu, &w, &held, 20, 7)).unwrap();
    let g = pollster::block_on(sharpness(&mut on_gpu, &w, &held, 20, 7)).unwrap();
    eprintln!("sharpness: CPU {c:.6}, GPU {g:.6}");
    assert!(((g - c) / c).abs() < 1e-3, "GPU {g} vs CPU {c}");
}
