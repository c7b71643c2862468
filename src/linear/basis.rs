//! The shared singular vectors U, V of the pre-training and fine-tuning tasks, and the task
//! matrices A = U diag(s) Vᵀ built from them.

use super::config::Basis;
use ndarray::Array2;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A d×d orthogonal matrix distributed uniformly (Haar): QR of a Gaussian matrix, with the
/// sign fix Q ← Q·diag(sign(diag R)) that makes the distribution exactly uniform.
pub fn random_orthogonal(d: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    let mut a = Array2::<f64>::zeros((d, d));
    for x in a.iter_mut() {
        *x = rng.sample(StandardNormal);
    }
    // Householder QR: reflect column by column, accumulating Q explicitly.
    let mut q = Array2::<f64>::eye(d);
    let mut r = a;
    let mut v = vec![0.0f64; d];
    for k in 0..d.saturating_sub(1) {
        let norm: f64 = (k..d).map(|i| r[[i, k]] * r[[i, k]]).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        let alpha = if r[[k, k]] > 0.0 { -norm } else { norm };
        for i in 0..d {
            v[i] = if i < k { 0.0 } else { r[[i, k]] };
        }
        v[k] -= alpha;
        let vnorm2: f64 = (k..d).map(|i| v[i] * v[i]).sum();
        if vnorm2 == 0.0 {
            continue;
        }
        // R ← (I − 2vvᵀ/‖v‖²) R
        for j in 0..d {
            let dot: f64 = (k..d).map(|i| v[i] * r[[i, j]]).sum();
            let f = 2.0 * dot / vnorm2;
            for i in k..d {
                r[[i, j]] -= f * v[i];
            }
        }
        // Q ← Q (I − 2vvᵀ/‖v‖²)
        for i in 0..d {
            let dot: f64 = (k..d).map(|j| q[[i, j]] * v[j]).sum();
            let f = 2.0 * dot / vnorm2;
            for j in k..d {
                q[[i, j]] -= f * v[j];
            }
        }
    }
    for j in 0..d {
        if r[[j, j]] < 0.0 {
            q.column_mut(j).mapv_inplace(|x| -x);
        }
    }
    q
}

/// The pair (U, V) for a basis choice.
pub fn task_basis(basis: Basis, d: usize, rng: &mut ChaCha8Rng) -> (Array2<f64>, Array2<f64>) {
    match basis {
        Basis::Identity => (Array2::eye(d), Array2::eye(d)),
        Basis::Random => {
            let u = random_orthogonal(d, rng);
            let v = random_orthogonal(d, rng);
            (u, v)
        }
    }
}

/// A = U diag(s) Vᵀ as a flat row-major f32 buffer.
pub fn task_matrix(u: &Array2<f64>, v: &Array2<f64>, s: &[f64]) -> Vec<f32> {
    let d = s.len();
    let mut a = vec![0.0f32; d * d];
    for i in 0..d {
        for j in 0..d {
            let x: f64 = (0..d).map(|k| u[[i, k]] * s[k] * v[[j, k]]).sum();
            a[i * d + j] = x as f32;
        }
    }
    a
}

/// diag(Uᵀ θ V): the strength of θ along each task direction (u_j, v_j). For a θ that
/// shares the task's singular vectors these are its singular values.
pub fn singular_values_in_basis(theta: &[f32], u: &Array2<f64>, v: &Array2<f64>) -> Vec<f64> {
    let d = u.nrows();
    (0..d)
        .map(|j| {
            let mut s = 0.0f64;
            for i in 0..d {
                let ui = u[[i, j]];
                if ui == 0.0 {
                    continue;
                }
                let row = &theta[i * d..(i + 1) * d];
                let tv: f64 = row
                    .iter()
                    .enumerate()
                    .map(|(k, &t)| t as f64 * v[[k, j]])
                    .sum();
                s += ui * tv;
            }
            s
        })
        .collect()
}
