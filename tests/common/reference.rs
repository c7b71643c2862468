//! The tests' CPU oracle of the GPU's generic kernels that have no counterpart in the
//! library's CPU path (`overtrain::cpu` is the oracle of the others: `gaussian`, `adamw`,
//! `step_guard`, `l2_pull`): naive loops with f64 accumulation, written for clarity.
#![allow(dead_code)]

use overtrain::gpu::kernels::MatmulSpec;

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

/// w = w − lr·g.
pub fn sgd(lr: f32, w: &mut [f32], g: &[f32]) {
    for (x, gx) in w.iter_mut().zip(g) {
        *x -= lr * gx;
    }
}
