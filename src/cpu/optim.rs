//! The optimizer's pieces on the CPU: one AdamW step, the L2 pull toward anchor weights,
//! the step guard (global-norm clipping and the divergence check) and SAM's ascent and
//! restore. The GPU kernels of the
//! same names (`shaders/optimizer.wgsl`) compute the same updates.

/// AdamW hyper-parameters for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// The step number t ≥ 1 (for the bias corrections 1 − β^t).
    pub step: u32,
}

/// One AdamW step over a slice: moments m and v updated in place, then
/// w ← w − lr·(m̂ / (√v̂ + ε) + weight_decay·w). Every element decays; callers apply it per
/// tensor with that tensor's weight decay (the GPU kernel selects with a bit mask instead).
#[inline(never)]
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

/// The step guard: (clip scale, diverged, global norm) of a gradient and its step's loss.
/// The clip scale is min(1, clip/‖g‖) (clip 0: none); the step counts as diverged when the
/// norm or the loss is not finite, or the loss exceeds `max_loss`.
#[inline(never)]
pub fn step_guard(g: &[f32], loss: f64, clip: f64, max_loss: f64) -> (f32, bool, f64) {
    let norm = g.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let scale = if clip > 0.0 && norm > clip {
        (clip / norm) as f32
    } else {
        1.0
    };
    let blown_up = loss > max_loss;
    (
        scale,
        !(norm.is_finite() && loss.is_finite()) || blown_up,
        norm,
    )
}

/// g = g + alpha·(w − anchor): the gradient of (alpha/2)·‖w − anchor‖² added in place.
#[inline(never)]
pub fn l2_pull(alpha: f32, w: &[f32], anchor: &[f32], g: &mut [f32]) {
    for ((g, &w), &a) in g.iter_mut().zip(w).zip(anchor) {
        *g += alpha * (w - a);
    }
}

/// SAM's ascent (sharpness-aware minimization, Foret et al. 2021): saves w in `saved`, then
/// moves w uphill by ρ along the gradient, w ← w + (ρ/‖g‖)·g, with ‖g‖ the global norm of
/// `g` (in f64, like [`step_guard`]'s); w stays where it is when ‖g‖ is 0.
#[inline(never)]
pub fn sam_ascent(rho: f32, w: &mut [f32], g: &[f32], saved: &mut [f32]) {
    let norm = g.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let scale = if norm > 0.0 {
        (rho as f64 / norm) as f32
    } else {
        0.0
    };
    saved.copy_from_slice(w);
    for (w, &g) in w.iter_mut().zip(g) {
        *w += scale * g;
    }
}

/// SAM's restore: w ← the weights [`sam_ascent`] saved, exactly.
#[inline(never)]
pub fn sam_restore(w: &mut [f32], saved: &[f32]) {
    w.copy_from_slice(saved);
}
