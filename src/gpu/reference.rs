//! The CPU oracle of every kernel in [`super::kernels`], function for function, written
//! for clarity (f64 accumulation where it matters), not speed.

use super::kernels::{AdamW, MatmulSpec};

/// out[b] = alpha·op(A[b])·op(B[b]) + beta·out[b].
pub fn matmul(a: &[f32], b: &[f32], out: &mut [f32], s: MatmulSpec) {
    let (m, k, n) = (s.m, s.k, s.n);
    for bi in 0..s.batch {
        let (a, b) = (
            &a[bi * m * k..(bi + 1) * m * k],
            &b[bi * k * n..(bi + 1) * k * n],
        );
        let out = &mut out[bi * m * n..(bi + 1) * m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f64;
                for p in 0..k {
                    let x = if s.trans_a {
                        a[p * m + i]
                    } else {
                        a[i * k + p]
                    };
                    let y = if s.trans_b {
                        b[j * k + p]
                    } else {
                        b[p * n + j]
                    };
                    acc += x as f64 * y as f64;
                }
                let o = &mut out[i * n + j];
                *o = (s.alpha as f64 * acc
                    + if s.beta != 0.0 {
                        s.beta as f64 * *o as f64
                    } else {
                        0.0
                    }) as f32;
            }
        }
    }
}

pub fn add(x: &[f32], y: &[f32]) -> Vec<f32> {
    x.iter().zip(y).map(|(a, b)| a + b).collect()
}

pub fn sub(x: &[f32], y: &[f32]) -> Vec<f32> {
    x.iter().zip(y).map(|(a, b)| a - b).collect()
}

pub fn mul(x: &[f32], y: &[f32]) -> Vec<f32> {
    x.iter().zip(y).map(|(a, b)| a * b).collect()
}

pub fn scale(alpha: f32, x: &[f32]) -> Vec<f32> {
    x.iter().map(|a| alpha * a).collect()
}

pub fn axpy(alpha: f32, x: &[f32], out: &mut [f32]) {
    for (o, a) in out.iter_mut().zip(x) {
        *o += alpha * a;
    }
}

pub fn sum_rows(x: &[f32], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| x[r * cols..(r + 1) * cols].iter().map(|&v| v as f64).sum())
        .collect()
}

pub fn sumsq_rows(x: &[f32], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| {
            x[r * cols..(r + 1) * cols]
                .iter()
                .map(|&v| (v as f64) * (v as f64))
                .sum()
        })
        .collect()
}

/// Philox-4x32-10 of a 128-bit counter under a 64-bit key.
pub fn philox(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = 0xD2511F53u64 * c[0] as u64;
        let p1 = 0xCD9E8D57u64 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(0x9E3779B9), k[1].wrapping_add(0xBB67AE85)];
    }
    c
}

/// scale · z(seed, offset + i) for i in 0..n: the same numbers as the `gaussian` kernel
/// (up to the GPU's precision of log, sqrt and cos).
pub fn gaussian(seed: u64, offset: u64, scale: f32, n: usize) -> Vec<f32> {
    let unit = |bits: u32| ((bits >> 8) + 1) as f32 * (1.0 / 16_777_216.0);
    (0..n as u64)
        .map(|i| {
            let ctr = offset.wrapping_add(i);
            let r = philox(
                [ctr as u32, (ctr >> 32) as u32, 0, 0],
                [seed as u32, (seed >> 32) as u32],
            );
            let (u1, u2) = (unit(r[0]) as f64, unit(r[1]) as f64);
            (scale as f64 * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

pub fn sgd(lr: f32, w: &mut [f32], g: &[f32]) {
    for (x, gx) in w.iter_mut().zip(g) {
        *x -= lr * gx;
    }
}

/// Every element decays here; the GPU kernel's per-element mask selects (callers apply
/// this per tensor with its own weight decay).
pub fn adamw(h: AdamW, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    let bc1 = 1.0 - h.beta1.powi(h.step as i32);
    let bc2 = 1.0 - h.beta2.powi(h.step as i32);
    for i in 0..w.len() {
        m[i] = h.beta1 * m[i] + (1.0 - h.beta1) * g[i];
        v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * g[i] * g[i];
        let update = (m[i] / bc1) / ((v[i] / bc2).sqrt() + h.eps) + h.weight_decay * w[i];
        w[i] -= h.lr * update;
    }
}

/// The step guard: (clip scale, diverged, global norm) of a gradient and its step's loss
/// (diverged: a non-finite norm or loss, or a loss above [`super::kernels::DIVERGED_LOSS`]).
pub fn step_guard(g: &[f32], loss: f64, clip: f64) -> (f32, bool, f64) {
    let norm = g.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let scale = if clip > 0.0 && norm > clip {
        (clip / norm) as f32
    } else {
        1.0
    };
    let blown_up = loss > super::kernels::DIVERGED_LOSS as f64;
    (
        scale,
        !(norm.is_finite() && loss.is_finite()) || blown_up,
        norm,
    )
}

/// g = g + alpha·(w − anchor).
pub fn l2_pull(alpha: f32, w: &[f32], anchor: &[f32], g: &mut [f32]) {
    for ((g, &w), &a) in g.iter_mut().zip(w).zip(anchor) {
        *g += alpha * (w - a);
    }
}
