//! Sharpness: the top eigenvalue of the Hessian of the loss — the curvature along the
//! direction where the loss bends most — estimated by power iteration on Hessian-vector
//! products, each from a central difference of two gradients:
//! Hv ≈ (∇L(w + εv) − ∇L(w − εv)) / 2ε, with ‖v‖ = 1. Deterministic: the start vector comes
//! from a seeded Philox stream and the iteration count is fixed; on either backend (the
//! engine computes the gradients).

use super::engine::Engine;
use crate::cpu::gaussian;
use crate::error::Error;

/// The finite-difference step along the unit vector v (over all parameters): small enough
/// that the loss is close to quadratic over it, large enough that f32 gradients resolve the
/// difference.
pub const EPSILON: f32 = 1e-2;

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// H·v at `params` over `batches`, by a central difference of gradients.
async fn hessian_vector(
    engine: &mut Engine<'_>,
    params: &[f32],
    v: &[f32],
    batches: &[Vec<u8>],
) -> Result<Vec<f32>, Error> {
    let shifted = |sign: f32| -> Vec<f32> {
        params
            .iter()
            .zip(v)
            .map(|(&w, &d)| w + sign * EPSILON * d)
            .collect()
    };
    let plus = engine.gradient(&shifted(1.0), batches).await?;
    let minus = engine.gradient(&shifted(-1.0), batches).await?;
    Ok(plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * EPSILON))
        .collect())
}

/// Power iteration on (H − shift·I) from `v`: its dominant eigenvalue after `iterations`
/// steps (the Rayleigh quotient v·(H − shift)v of the last unit vector), `NaN` when the
/// gradients are not finite.
async fn power_iteration(
    engine: &mut Engine<'_>,
    params: &[f32],
    batches: &[Vec<u8>],
    mut v: Vec<f32>,
    iterations: usize,
    shift: f64,
) -> Result<f64, Error> {
    let mut lambda = f64::NAN;
    for _ in 0..iterations.max(1) {
        let n = norm(&v);
        if !(n.is_finite() && n > 0.0) {
            return Ok(f64::NAN);
        }
        v.iter_mut().for_each(|x| *x = (*x as f64 / n) as f32);
        let mut hv = hessian_vector(engine, params, &v, batches).await?;
        if shift != 0.0 {
            hv.iter_mut()
                .zip(&v)
                .for_each(|(h, &x)| *h = (*h as f64 - shift * x as f64) as f32);
        }
        lambda = dot(&v, &hv);
        v = hv;
    }
    Ok(lambda)
}

/// The top (largest) eigenvalue of the Hessian at `params`: `iterations` steps of power
/// iteration from a start drawn from `seed` give the eigenvalue of largest magnitude; when
/// that one is negative (a model away from a minimum), as many steps on H − μI, whose
/// dominant eigenvalue is then the top one minus μ. `NaN` when the gradients are not
/// finite.
pub async fn sharpness(
    engine: &mut Engine<'_>,
    params: &[f32],
    batches: &[Vec<u8>],
    iterations: usize,
    seed: u64,
) -> Result<f64, Error> {
    let start = gaussian(seed, 0, 1.0, params.len());
    let dominant = power_iteration(engine, params, batches, start.clone(), iterations, 0.0).await?;
    if dominant.is_nan() || dominant >= 0.0 {
        return Ok(dominant);
    }
    let shifted = power_iteration(engine, params, batches, start, iterations, dominant).await?;
    Ok(shifted + dominant)
}
