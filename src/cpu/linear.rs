//! The two-layer linear network f(x) = W₁W₂x on flat row-major f32 buffers, llm.c style:
//! each operation is a plain function over slices, and the GPU kernels of the WGSL backend
//! carry the same names so each test pairs them.
//!
//! Shapes: W₁ is d×h, W₂ is h×d, θ = W₁W₂ and every task matrix A are d×d.
//! The population loss with x ~ N(0, I) is L = ‖θ − A‖²_F (science.md §2).

use crate::{matmul, matmul_tn, transpose};

/// Scratch buffers of one forward/backward pass, allocated once per run.
pub struct Workspace {
    pub d: usize,
    pub h: usize,
    /// θ = W₁W₂ (d×d).
    pub theta: Vec<f32>,
    /// dL/dθ (d×d).
    pub grad_theta: Vec<f32>,
    /// W₂ᵀ, so that G W₂ᵀ runs as a plain row-major product.
    w2t: Vec<f32>,
    /// dL/dW₁ (d×h) and dL/dW₂ (h×d).
    pub grad_w1: Vec<f32>,
    pub grad_w2: Vec<f32>,
}

impl Workspace {
    pub fn new(d: usize, h: usize) -> Self {
        Workspace {
            d,
            h,
            theta: vec![0.0; d * d],
            grad_theta: vec![0.0; d * d],
            w2t: vec![0.0; d * h],
            grad_w1: vec![0.0; d * h],
            grad_w2: vec![0.0; h * d],
        }
    }
}

/// θ = W₁W₂ into `ws.theta`.
#[inline(never)]
pub fn linear_forward(ws: &mut Workspace, w1: &[f32], w2: &[f32]) {
    let (d, h) = (ws.d, ws.h);
    matmul(&mut ws.theta, w1, w2, d, h, d);
}

/// Squared Frobenius distance ‖θ − A‖², accumulated in f64.
#[inline(never)]
pub fn squared_distance(theta: &[f32], a: &[f32]) -> f64 {
    theta
        .iter()
        .zip(a)
        .map(|(&t, &x)| {
            let r = (t - x) as f64;
            r * r
        })
        .sum()
}

/// dL/dθ for L = ‖θ − A‖² + λ‖θ − θ₀‖², written as 2((1+λ)θ − B) with B = A + λθ₀
/// precomputed by the caller (B = A when λ = 0). Returns ‖dL/dθ‖², which is non-finite
/// as soon as the run has diverged.
#[inline(never)]
pub fn loss_backward(ws: &mut Workspace, b: &[f32], lambda: f32) -> f32 {
    let scale = 1.0 + lambda;
    let mut norm = 0.0f32;
    for ((g, &t), &bb) in ws.grad_theta.iter_mut().zip(&ws.theta).zip(b) {
        *g = 2.0 * (scale * t - bb);
        norm += *g * *g;
    }
    norm
}

/// Back-propagates dL/dθ (in `ws.grad_theta`) through θ = W₁W₂:
/// dL/dW₁ = G W₂ᵀ and dL/dW₂ = W₁ᵀ G.
#[inline(never)]
pub fn linear_backward(ws: &mut Workspace, w1: &[f32], w2: &[f32]) {
    let (d, h) = (ws.d, ws.h);
    transpose(&mut ws.w2t, w2, h, d);
    matmul(&mut ws.grad_w1, &ws.grad_theta, &ws.w2t, d, d, h);
    matmul_tn(&mut ws.grad_w2, w1, &ws.grad_theta, h, d, d);
}

/// Plain gradient descent: w ← w − η·g.
#[inline(never)]
pub fn sgd_update(w: &mut [f32], g: &[f32], lr: f32) {
    for (x, &gx) in w.iter_mut().zip(g) {
        *x -= lr * gx;
    }
}

/// One full-batch gradient-descent step on ‖θ − A‖² + λ‖θ − θ₀‖² (B = A + λθ₀).
/// Returns false when the gradient turned non-finite (the run diverged); the weights are
/// then left as they were before the step.
#[inline(never)]
pub fn gd_step(
    ws: &mut Workspace,
    w1: &mut [f32],
    w2: &mut [f32],
    b: &[f32],
    lambda: f32,
    lr: f32,
) -> bool {
    linear_forward(ws, w1, w2);
    let norm = loss_backward(ws, b, lambda);
    if !norm.is_finite() {
        return false;
    }
    linear_backward(ws, w1, w2);
    sgd_update(w1, &ws.grad_w1, lr);
    sgd_update(w2, &ws.grad_w2, lr);
    true
}

/// Balanced small initialisation: W₁ (d×h) and W₂ (h×d) with ε on the diagonal.
#[inline(never)]
pub fn balanced_init(d: usize, h: usize, eps: f32) -> (Vec<f32>, Vec<f32>) {
    let mut w1 = vec![0.0; d * h];
    let mut w2 = vec![0.0; h * d];
    for i in 0..d.min(h) {
        w1[i * h + i] = eps;
        w2[i * d + i] = eps;
    }
    (w1, w2)
}
