//! The CPU reference of every transformer layer against central finite differences:
//! for a random upstream gradient w, J(x) = Σ w ⊙ layer(x), and each analytic gradient of
//! J must match (J(x + h) − J(x − h)) / 2h.

use overtrain::cpu::layers::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * scale)
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Checks `analytic` = ∂J/∂x for J = objective(x), at every index of x (or a sample).
fn check(name: &str, x: &[f32], analytic: &[f32], objective: impl Fn(&[f32]) -> f64) {
    assert_eq!(x.len(), analytic.len(), "{name}");
    let h = 1e-2f32;
    let step = (x.len() / 64).max(1);
    for i in (0..x.len()).step_by(step) {
        let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
        xp[i] += h;
        xm[i] -= h;
        let fd = (objective(&xp) - objective(&xm)) / (2.0 * h as f64);
        let g = analytic[i] as f64;
        assert!(
            (fd - g).abs() <= 2e-2 * (1e-2 + fd.abs().max(g.abs())),
            "{name}[{i}]: analytic {g}, finite difference {fd}"
        );
    }
}

#[test]
fn encoder() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (t_len, d, v) = (5, 6, 11);
    let tokens: Vec<u8> = (0..2 * t_len)
        .map(|_| rng.random_range(0..v) as u8)
        .collect();
    let (wte, wpe) = (
        random(&mut rng, v * d, 1.0),
        random(&mut rng, t_len * d, 1.0),
    );
    let w = random(&mut rng, tokens.len() * d, 1.0);
    let (mut dwte, mut dwpe) = (vec![0.0; v * d], vec![0.0; t_len * d]);
    encoder_backward(&mut dwte, Some(&mut dwpe), &w, &tokens, t_len, d);
    let j = |wte: &[f32], wpe: &[f32]| {
        let mut out = vec![0.0; tokens.len() * d];
        encoder_forward(&mut out, &tokens, wte, Some(wpe), t_len, d);
        dot(&out, &w)
    };
    check("dwte", &wte, &dwte, |x| j(x, &wpe));
    check("dwpe", &wpe, &dwpe, |x| j(&wte, x));
}

#[test]
fn layernorm_and_rmsnorm() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (n, d) = (4, 7);
    let (x, g, b) = (
        random(&mut rng, n * d, 2.0),
        random(&mut rng, d, 1.5),
        random(&mut rng, d, 1.0),
    );
    let w = random(&mut rng, n * d, 1.0);
    let ln = |x: &[f32], g: &[f32], b: &[f32]| {
        let (mut out, mut mean, mut rstd) = (vec![0.0; n * d], vec![0.0; n], vec![0.0; n]);
        layernorm_forward(&mut out, &mut mean, &mut rstd, x, g, b, d);
        (out, mean, rstd)
    };
    let (_, mean, rstd) = ln(&x, &g, &b);
    let (mut dx, mut dg, mut db) = (vec![0.0; n * d], vec![0.0; d], vec![0.0; d]);
    layernorm_backward(&mut dx, &mut dg, &mut db, &w, &x, &g, &mean, &rstd, d);
    check("layernorm dx", &x, &dx, |x| dot(&ln(x, &g, &b).0, &w));
    check("layernorm dg", &g, &dg, |g| dot(&ln(&x, g, &b).0, &w));
    check("layernorm db", &b, &db, |b| dot(&ln(&x, &g, b).0, &w));

    let rms = |x: &[f32], g: &[f32]| {
        let (mut out, mut rstd) = (vec![0.0; n * d], vec![0.0; n]);
        rmsnorm_forward(&mut out, &mut rstd, x, g, d);
        (out, rstd)
    };
    let (_, rstd) = rms(&x, &g);
    let (mut dx, mut dg) = (vec![0.0; n * d], vec![0.0; d]);
    rmsnorm_backward(&mut dx, &mut dg, &w, &x, &g, &rstd, d);
    check("rmsnorm dx", &x, &dx, |x| dot(&rms(x, &g).0, &w));
    check("rmsnorm dg", &g, &dg, |g| dot(&rms(&x, g).0, &w));
}

#[test]
fn matmul_layer() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (n, c, oc) = (5, 7, 3);
    let (x, wt) = (random(&mut rng, n * c, 1.0), random(&mut rng, c * oc, 1.0));
    let w = random(&mut rng, n * oc, 1.0);
    let f = |x: &[f32], wt: &[f32]| {
        let mut out = vec![0.0; n * oc];
        matmul_forward(&mut out, x, wt, n, c, oc);
        dot(&out, &w)
    };
    let (mut dx, mut dwt) = (vec![0.0; n * c], vec![0.0; c * oc]);
    matmul_backward(&mut dx, &mut dwt, &w, &x, &wt, n, c, oc);
    check("matmul dinp", &x, &dx, |x| f(x, &wt));
    check("matmul dw", &wt, &dwt, |wt| f(&x, wt));
}

#[test]
fn activations() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let x = random(&mut rng, 40, 3.0);
    let w = random(&mut rng, 40, 1.0);
    let gelu = |x: &[f32]| {
        let mut out = vec![0.0; x.len()];
        gelu_forward(&mut out, x);
        dot(&out, &w)
    };
    let mut dx = vec![0.0; 40];
    gelu_backward(&mut dx, &x, &w);
    check("gelu", &x, &dx, gelu);

    let f = 5;
    let x = random(&mut rng, 3 * 2 * f, 3.0);
    let w = random(&mut rng, 3 * f, 1.0);
    let swiglu = |x: &[f32]| {
        let mut out = vec![0.0; 3 * f];
        swiglu_forward(&mut out, x, f);
        dot(&out, &w)
    };
    let mut dx = vec![0.0; x.len()];
    swiglu_backward(&mut dx, &x, &w, f);
    check("swiglu", &x, &dx, swiglu);
}

#[test]
fn attention_with_and_without_rope() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (b, t_len, d, h) = (2, 5, 8, 2);
    let qkv = random(&mut rng, b * t_len * 3 * d, 1.0);
    let w = random(&mut rng, b * t_len * d, 1.0);
    for rope in [false, true] {
        let f = |qkv: &[f32]| {
            let mut q = qkv.to_vec();
            if rope {
                rope_forward(&mut q, t_len, d, h, false);
            }
            let (mut out, mut att) = (vec![0.0; b * t_len * d], vec![0.0; b * h * t_len * t_len]);
            attention_forward(&mut out, &mut att, &q, b, t_len, d, h);
            (out, att, q)
        };
        let (out, att, q) = f(&qkv);
        // Causal: each row of weights sums to 1 over the past, 0 on the future.
        for row in att.chunks(t_len).take(t_len) {
            let s: f32 = row.iter().sum();
            assert!((s - 1.0).abs() < 1e-5);
        }
        assert_eq!(att[1], 0.0, "token 0 cannot see token 1");
        assert!(out.iter().all(|v| v.is_finite()));
        let mut dqkv = vec![0.0; qkv.len()];
        attention_backward(&mut dqkv, &w, &q, &att, b, t_len, d, h);
        if rope {
            rope_backward(&mut dqkv, t_len, d, h);
        }
        check(
            if rope {
                "attention+rope dqkv"
            } else {
                "attention dqkv"
            },
            &qkv,
            &dqkv,
            |x| dot(&f(x).0, &w),
        );
    }
    // RoPE preserves norms and its inverse undoes it.
    let mut r = qkv.clone();
    rope_forward(&mut r, t_len, d, h, false);
    assert!((dot(&r, &r) - dot(&qkv, &qkv)).abs() < 1e-3);
    rope_forward(&mut r, t_len, d, h, true);
    for (a, b) in r.iter().zip(&qkv) {
        assert!((a - b).abs() < 1e-5);
    }
}

#[test]
fn crossentropy() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let (n, v) = (4, 9);
    let logits = random(&mut rng, n * v, 3.0);
    let targets: Vec<u8> = (0..n).map(|_| rng.random_range(0..v) as u8).collect();
    let mut probs = vec![0.0; n * v];
    let loss = crossentropy_forward(&mut probs, &logits, &targets, v);
    // Uniform logits give ln V.
    let mut p2 = vec![0.0; n * v];
    let uniform = crossentropy_forward(&mut p2, &vec![0.5; n * v], &targets, v);
    assert!((uniform - (v as f64).ln()).abs() < 1e-6);
    assert!(loss > 0.0);
    let mut dlogits = vec![0.0; n * v];
    crossentropy_backward(&mut dlogits, &probs, &targets, v, targets.len());
    check("crossentropy", &logits, &dlogits, |z| {
        let mut p = vec![0.0; n * v];
        crossentropy_forward(&mut p, z, &targets, v)
    });
}
