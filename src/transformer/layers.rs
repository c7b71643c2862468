//! The CPU reference of every transformer layer: `*_forward` and `*_backward` pairs over
//! flat row-major f32 buffers. Shapes: B sequences of T tokens, model width D = H heads ×
//! head size, N = B·T rows. Backward functions *accumulate* into parameter gradients (as
//! llm.c does, so shared weights sum their gradients) and *overwrite* input gradients
//! unless stated otherwise.

use crate::cpu::{matmul, matmul_tn};

/// out[b,t,:] = wte[token] (+ wpe[t] when positions are learned).
pub fn encoder_forward(
    out: &mut [f32],
    tokens: &[u8],
    wte: &[f32],
    wpe: Option<&[f32]>,
    t_len: usize,
    d: usize,
) {
    for (n, &tok) in tokens.iter().enumerate() {
        let row = &mut out[n * d..(n + 1) * d];
        row.copy_from_slice(&wte[tok as usize * d..(tok as usize + 1) * d]);
        if let Some(wpe) = wpe {
            let t = n % t_len;
            for (o, p) in row.iter_mut().zip(&wpe[t * d..(t + 1) * d]) {
                *o += p;
            }
        }
    }
}

/// Accumulates dwte (and dwpe) from dout.
pub fn encoder_backward(
    dwte: &mut [f32],
    dwpe: Option<&mut [f32]>,
    dout: &[f32],
    tokens: &[u8],
    t_len: usize,
    d: usize,
) {
    for (n, &tok) in tokens.iter().enumerate() {
        let g = &dout[n * d..(n + 1) * d];
        for (w, x) in dwte[tok as usize * d..(tok as usize + 1) * d]
            .iter_mut()
            .zip(g)
        {
            *w += x;
        }
    }
    if let Some(dwpe) = dwpe {
        for n in 0..tokens.len() {
            let t = n % t_len;
            for (w, x) in dwpe[t * d..(t + 1) * d]
                .iter_mut()
                .zip(&dout[n * d..(n + 1) * d])
            {
                *w += x;
            }
        }
    }
}

const NORM_EPS: f32 = 1e-5;

/// LayerNorm over each row of D: out = (x − mean)·rstd·g + b; keeps mean and rstd.
pub fn layernorm_forward(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    g: &[f32],
    b: &[f32],
    d: usize,
) {
    for n in 0..mean.len() {
        let x = &inp[n * d..(n + 1) * d];
        let m = x.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
        let var = x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / d as f64;
        let s = 1.0 / (var + NORM_EPS as f64).sqrt();
        for i in 0..d {
            out[n * d + i] = ((x[i] as f64 - m) * s) as f32 * g[i] + b[i];
        }
        mean[n] = m as f32;
        rstd[n] = s as f32;
    }
}

/// LayerNorm backward: overwrites dinp, accumulates dg and db.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward(
    dinp: &mut [f32],
    dg: &mut [f32],
    db: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    g: &[f32],
    mean: &[f32],
    rstd: &[f32],
    d: usize,
) {
    for n in 0..mean.len() {
        let (x, dy) = (&inp[n * d..(n + 1) * d], &dout[n * d..(n + 1) * d]);
        let (m, s) = (mean[n], rstd[n]);
        let (mut dnorm_mean, mut dnorm_norm_mean) = (0.0f32, 0.0f32);
        for i in 0..d {
            let norm = (x[i] - m) * s;
            let dnorm = g[i] * dy[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= d as f32;
        dnorm_norm_mean /= d as f32;
        for i in 0..d {
            let norm = (x[i] - m) * s;
            let dnorm = g[i] * dy[i];
            db[i] += dy[i];
            dg[i] += norm * dy[i];
            dinp[n * d + i] = (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

/// RMSNorm over each row of D: out = x·rstd·g with rstd = 1/√(mean(x²) + ε).
pub fn rmsnorm_forward(out: &mut [f32], rstd: &mut [f32], inp: &[f32], g: &[f32], d: usize) {
    for n in 0..rstd.len() {
        let x = &inp[n * d..(n + 1) * d];
        let ms = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / d as f64;
        let s = (1.0 / (ms + NORM_EPS as f64).sqrt()) as f32;
        for i in 0..d {
            out[n * d + i] = x[i] * s * g[i];
        }
        rstd[n] = s;
    }
}

/// RMSNorm backward: overwrites dinp, accumulates dg.
pub fn rmsnorm_backward(
    dinp: &mut [f32],
    dg: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    g: &[f32],
    rstd: &[f32],
    d: usize,
) {
    for n in 0..rstd.len() {
        let (x, dy) = (&inp[n * d..(n + 1) * d], &dout[n * d..(n + 1) * d]);
        let s = rstd[n];
        // d/dx_j of x_i·s: s·δij − x_i·x_j·s³/D.
        let dot: f32 = (0..d).map(|i| dy[i] * g[i] * x[i]).sum();
        for i in 0..d {
            dg[i] += dy[i] * x[i] * s;
            dinp[n * d + i] = dy[i] * g[i] * s - x[i] * s * s * s * dot / d as f32;
        }
    }
}

/// out (N×OC) = inp (N×C) · w (C×OC).
pub fn matmul_forward(out: &mut [f32], inp: &[f32], w: &[f32], n: usize, c: usize, oc: usize) {
    matmul(out, inp, w, n, c, oc);
}

/// dinp = dout·wᵀ (overwritten); dw += inpᵀ·dout.
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward(
    dinp: &mut [f32],
    dw: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    w: &[f32],
    n: usize,
    c: usize,
    oc: usize,
) {
    // dinp[i, k] = Σ_j dout[i, j] w[k, j]: a product with wᵀ, formed explicitly.
    let mut wt = vec![0.0f32; oc * c];
    crate::cpu::transpose(&mut wt, w, c, oc);
    matmul(dinp, dout, &wt, n, oc, c);
    let mut dw_step = vec![0.0f32; c * oc];
    matmul_tn(&mut dw_step, inp, dout, c, n, oc);
    for (a, b) in dw.iter_mut().zip(&dw_step) {
        *a += b;
    }
}

/// GELU, tanh approximation (GPT-2): 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
pub fn gelu_forward(out: &mut [f32], inp: &[f32]) {
    const S: f32 = 0.797_884_6; // √(2/π)
    for (o, &x) in out.iter_mut().zip(inp) {
        *o = 0.5 * x * (1.0 + (S * (x + 0.044715 * x * x * x)).tanh());
    }
}

pub fn gelu_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32]) {
    const S: f32 = 0.797_884_6;
    for ((di, &x), &dy) in dinp.iter_mut().zip(inp).zip(dout) {
        let u = S * (x + 0.044715 * x * x * x);
        let t = u.tanh();
        let du = S * (1.0 + 3.0 * 0.044715 * x * x);
        *di = dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du);
    }
}

/// SwiGLU: each input row is [gate (F) | up (F)]; out = silu(gate)·up (N×F).
pub fn swiglu_forward(out: &mut [f32], inp: &[f32], f: usize) {
    for (n, row) in out.chunks_mut(f).enumerate() {
        let (gate, up) = inp[n * 2 * f..(n + 1) * 2 * f].split_at(f);
        for i in 0..f {
            let sig = 1.0 / (1.0 + (-gate[i]).exp());
            row[i] = gate[i] * sig * up[i];
        }
    }
}

pub fn swiglu_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32], f: usize) {
    for (n, dy) in dout.chunks(f).enumerate() {
        let (gate, up) = inp[n * 2 * f..(n + 1) * 2 * f].split_at(f);
        let (dgate, dup) = dinp[n * 2 * f..(n + 1) * 2 * f].split_at_mut(f);
        for i in 0..f {
            let sig = 1.0 / (1.0 + (-gate[i]).exp());
            let silu = gate[i] * sig;
            dup[i] = dy[i] * silu;
            dgate[i] = dy[i] * up[i] * sig * (1.0 + gate[i] * (1.0 - sig));
        }
    }
}

/// Rotary position embedding of q and k in place within qkv (B·T rows of [q | k | v],
/// each D = H × hs wide): pairs (2i, 2i+1) of each head rotate by t·10000^(−2i/hs).
/// `inverse` rotates back, which is also the backward pass (rotations are orthogonal).
pub fn rope_forward(qkv: &mut [f32], t_len: usize, d: usize, h: usize, inverse: bool) {
    let hs = d / h;
    for (n, row) in qkv.chunks_mut(3 * d).enumerate() {
        let t = n % t_len;
        for part in 0..2 {
            for head in 0..h {
                let base = part * d + head * hs;
                for i in 0..hs / 2 {
                    let (sin, cos) = rope_sin_cos(t, i, hs);
                    let sin = if inverse { -sin } else { sin };
                    let (a, b) = (row[base + 2 * i], row[base + 2 * i + 1]);
                    row[base + 2 * i] = a * cos - b * sin;
                    row[base + 2 * i + 1] = a * sin + b * cos;
                }
            }
        }
    }
}

/// sin and cos of the rotation of pair i of a head of size hs at position t (shared with
/// the GPU's table, so both paths rotate by the same f32 values).
pub fn rope_sin_cos(t: usize, i: usize, hs: usize) -> (f32, f32) {
    let theta = t as f32 * 10000f32.powf(-2.0 * i as f32 / hs as f32);
    theta.sin_cos()
}

/// The backward of [`rope_forward`]: rotates the q and k gradients back.
pub fn rope_backward(dqkv: &mut [f32], t_len: usize, d: usize, h: usize) {
    rope_forward(dqkv, t_len, d, h, true);
}

/// Causal multi-head self-attention. qkv: N rows of [q | k | v] (3D); out: N×D;
/// att: B×H×T×T softmax weights (kept for the backward pass).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    out: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    b: usize,
    t_len: usize,
    d: usize,
    h: usize,
) {
    let hs = d / h;
    let scale = 1.0 / (hs as f32).sqrt();
    for bi in 0..b {
        for head in 0..h {
            for t in 0..t_len {
                let q = &qkv[(bi * t_len + t) * 3 * d + head * hs..][..hs];
                let a = &mut att[((bi * h + head) * t_len + t) * t_len..][..t_len];
                let mut max = f32::NEG_INFINITY;
                for t2 in 0..=t {
                    let k = &qkv[(bi * t_len + t2) * 3 * d + d + head * hs..][..hs];
                    let s: f32 = q.iter().zip(k).map(|(x, y)| x * y).sum::<f32>() * scale;
                    a[t2] = s;
                    max = max.max(s);
                }
                let mut sum = 0.0f32;
                for v in a.iter_mut().take(t + 1) {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                for (t2, v) in a.iter_mut().enumerate() {
                    *v = if t2 <= t { *v / sum } else { 0.0 };
                }
                let o = &mut out[(bi * t_len + t) * d + head * hs..][..hs];
                o.fill(0.0);
                for t2 in 0..=t {
                    let v = &qkv[(bi * t_len + t2) * 3 * d + 2 * d + head * hs..][..hs];
                    for (oi, vi) in o.iter_mut().zip(v) {
                        *oi += a[t2] * vi;
                    }
                }
            }
        }
    }
}

/// Attention backward: overwrites dqkv.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    dqkv: &mut [f32],
    dout: &[f32],
    qkv: &[f32],
    att: &[f32],
    b: usize,
    t_len: usize,
    d: usize,
    h: usize,
) {
    let hs = d / h;
    let scale = 1.0 / (hs as f32).sqrt();
    dqkv.fill(0.0);
    let mut datt = vec![0.0f32; t_len];
    let mut dq = vec![0.0f32; hs];
    // Whole-slice loops (no per-element index arithmetic, so no bounds checks in the inner
    // loops); every sum keeps its order, so the results are unchanged to the bit.
    for bi in 0..b {
        for head in 0..h {
            // Offset of token t's q (then k at +d, v at +2d) for this head.
            let row = |t: usize| (bi * t_len + t) * 3 * d + head * hs;
            for t in 0..t_len {
                let a = &att[((bi * h + head) * t_len + t) * t_len..][..=t];
                let dy = &dout[(bi * t_len + t) * d + head * hs..][..hs];
                // out = Σ a·v: gradients of a and v.
                for (t2, &at) in a.iter().enumerate() {
                    let vo = row(t2) + 2 * d;
                    let v = &qkv[vo..][..hs];
                    datt[t2] = dy.iter().zip(v).map(|(x, y)| x * y).sum();
                    for (g, &y) in dqkv[vo..][..hs].iter_mut().zip(dy) {
                        *g += at * y;
                    }
                }
                // softmax backward: ds = a ⊙ (datt − Σ a·datt).
                let dot: f32 = a.iter().zip(&datt).map(|(x, y)| x * y).sum();
                let qo = row(t);
                let q = &qkv[qo..][..hs];
                dq.fill(0.0);
                for (t2, &at) in a.iter().enumerate() {
                    let ds = at * (datt[t2] - dot) * scale;
                    let ko = row(t2) + d;
                    for (g, &k) in dq.iter_mut().zip(&qkv[ko..][..hs]) {
                        *g += ds * k;
                    }
                    for (g, &x) in dqkv[ko..][..hs].iter_mut().zip(q) {
                        *g += ds * x;
                    }
                }
                for (g, &x) in dqkv[qo..][..hs].iter_mut().zip(&dq) {
                    *g += x;
                }
            }
        }
    }
}

/// Softmax cross-entropy of each row of logits (N×V) against its target; keeps probs.
/// Returns the mean loss (nats per token).
pub fn crossentropy_forward(probs: &mut [f32], logits: &[f32], targets: &[u8], v: usize) -> f64 {
    let mut total = 0.0f64;
    let mut e = vec![0.0f64; v]; // exp(z − max) of one row, computed once
    for (n, &target) in targets.iter().enumerate() {
        let z = &logits[n * v..(n + 1) * v];
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (e, &x) in e.iter_mut().zip(z) {
            *e = ((x - max) as f64).exp();
        }
        let sum: f64 = e.iter().sum();
        for (p, &e) in probs[n * v..(n + 1) * v].iter_mut().zip(&e) {
            *p = (e / sum) as f32;
        }
        total += sum.ln() - (z[target as usize] - max) as f64;
    }
    total / targets.len() as f64
}

/// dlogits (overwritten) of the mean cross-entropy: (probs − onehot(target)) / N.
pub fn crossentropy_backward(dlogits: &mut [f32], probs: &[f32], targets: &[u8], v: usize) {
    let scale = 1.0 / targets.len() as f32;
    for (n, &target) in targets.iter().enumerate() {
        for (i, (dl, &p)) in dlogits[n * v..(n + 1) * v]
            .iter_mut()
            .zip(&probs[n * v..(n + 1) * v])
            .enumerate()
        {
            *dl = (p - if i == target as usize { 1.0 } else { 0.0 }) * scale;
        }
    }
}
