//! The CPU reference of every transformer layer: `*_forward` and `*_backward` pairs over
//! flat row-major f32 buffers. Shapes: B sequences of T tokens, model width D = H heads ×
//! head size, N = B·T rows. Backward functions *accumulate* into parameter gradients (as
//! llm.c does, so shared weights sum their gradients) and *overwrite* input gradients
//! unless stated otherwise.

use crate::{math, matmul, matmul_tn_acc, par, simd};

/// out[b,t,:] = wte[token] (+ wpe[t] when positions are learned).
#[inline(never)]
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
#[inline(never)]
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
#[inline(never)]
pub fn layernorm_forward(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    g: &[f32],
    b: &[f32],
    d: usize,
) {
    // Rows are independent: split over the cores allowed.
    let ranges = par::ranges(mean.len(), 8 * d);
    let parts = par::chunks(out, d, &ranges)
        .into_iter()
        .zip(par::chunks(mean, 1, &ranges))
        .zip(par::chunks(rstd, 1, &ranges))
        .zip(&ranges)
        .map(|(((out, mean), rstd), r)| {
            let inp = &inp[r.start * d..r.end * d];
            move || layernorm_forward_rows(out, mean, rstd, inp, g, b, d)
        });
    par::run(parts);
}

fn layernorm_forward_rows(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    g: &[f32],
    b: &[f32],
    d: usize,
) {
    simd::run(
        #[inline(always)]
        || {
            let mut finish = |n: usize, m: f64, var: f64| {
                let x = &inp[n * d..(n + 1) * d];
                let s = 1.0 / (var + NORM_EPS as f64).sqrt();
                for i in 0..d {
                    out[n * d + i] = ((x[i] as f64 - m) * s) as f32 * g[i] + b[i];
                }
                mean[n] = m as f32;
                rstd[n] = s as f32;
            };
            // Four rows at a time: each row's sums are its own, in order (from the value
            // Iterator::sum starts at), but the four advance together, so that their
            // additions overlap instead of each waiting on the one before.
            let zero: f64 = std::iter::empty::<f64>().sum();
            let rows = inp.len() / d;
            let mut n = 0;
            while n + 4 <= rows {
                let x = |r: usize| &inp[(n + r) * d..][..d];
                let (x0, x1, x2, x3) = (x(0), x(1), x(2), x(3));
                let mut sum = [zero; 4];
                for (((&a, &b), &c), &e) in x0.iter().zip(x1).zip(x2).zip(x3) {
                    sum[0] += a as f64;
                    sum[1] += b as f64;
                    sum[2] += c as f64;
                    sum[3] += e as f64;
                }
                let m = sum.map(|s| s / d as f64);
                let mut var = [zero; 4];
                for (((&a, &b), &c), &e) in x0.iter().zip(x1).zip(x2).zip(x3) {
                    var[0] += (a as f64 - m[0]).powi(2);
                    var[1] += (b as f64 - m[1]).powi(2);
                    var[2] += (c as f64 - m[2]).powi(2);
                    var[3] += (e as f64 - m[3]).powi(2);
                }
                for r in 0..4 {
                    finish(n + r, m[r], var[r] / d as f64);
                }
                n += 4;
            }
            for n in n..rows {
                let x = &inp[n * d..(n + 1) * d];
                let m = x.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
                let var = x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / d as f64;
                finish(n, m, var);
            }
        },
    )
}

/// LayerNorm backward: overwrites dinp, accumulates dg and db.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
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
    // The input gradient row by row, split over the cores allowed; then dg and db, summed
    // over the rows in order on this thread (cheap), so their sums never depend on the split.
    par::rows(dinp, d, 8 * d, |n0, dinp| {
        let rows = n0..n0 + dinp.len() / d;
        simd::run(
            #[inline(always)]
            || {
                for (n, dinp) in rows.zip(dinp.chunks_exact_mut(d)) {
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
                        dinp[i] = (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
                    }
                }
            },
        )
    });
    simd::run(
        #[inline(always)]
        || {
            for n in 0..mean.len() {
                let (x, dy) = (&inp[n * d..(n + 1) * d], &dout[n * d..(n + 1) * d]);
                let (m, s) = (mean[n], rstd[n]);
                for i in 0..d {
                    let norm = (x[i] - m) * s;
                    db[i] += dy[i];
                    dg[i] += norm * dy[i];
                }
            }
        },
    )
}

/// RMSNorm over each row of D: out = x·rstd·g with rstd = 1/√(mean(x²) + ε).
#[inline(never)]
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
#[inline(never)]
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
#[inline(never)]
pub fn matmul_forward(out: &mut [f32], inp: &[f32], w: &[f32], n: usize, c: usize, oc: usize) {
    matmul(out, inp, w, n, c, oc);
}

/// dinp = dout·wᵀ (overwritten); dw += inpᵀ·dout. The model uses [`matmul_backward_t`]
/// with a transposed weight kept across layers; this is the tests' plain reference.
#[cfg(any(test, feature = "test-kernels"))]
#[allow(clippy::too_many_arguments)]
#[inline(never)]
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
    let mut wt = vec![0.0f32; oc * c];
    crate::transpose(&mut wt, w, c, oc);
    matmul_backward_t(dinp, dw, dout, inp, &wt, n, c, oc);
}

/// [`matmul_backward`] given wᵀ (OC×C) instead of w: dinp = dout·wt (overwritten);
/// dw += inpᵀ·dout, each element `dw + (inpᵀ·dout)`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn matmul_backward_t(
    dinp: &mut [f32],
    dw: &mut [f32],
    dout: &[f32],
    inp: &[f32],
    wt: &[f32],
    n: usize,
    c: usize,
    oc: usize,
) {
    // dinp[i, k] = Σ_j dout[i, j] w[k, j]: a product with wᵀ, formed explicitly.
    matmul(dinp, dout, wt, n, oc, c);
    matmul_tn_acc(dw, inp, dout, c, n, oc);
}

/// √(2/π), GELU's constant (the tanh approximation of GPT-2; shaders/gelu.wgsl has it too).
const GELU_S: f32 = 0.797_884_6;

/// GELU, tanh approximation (GPT-2): 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))). The model
/// uses [`gelu_forward_keep`]; this is the tests' plain reference.
#[cfg(any(test, feature = "test-kernels"))]
#[inline(never)]
pub fn gelu_forward(out: &mut [f32], inp: &[f32]) {
    for (o, &x) in out.iter_mut().zip(inp) {
        *o = 0.5 * x * (1.0 + math::tanh(GELU_S * (x + 0.044715 * x * x * x)));
    }
}

/// [`gelu_forward`] that also keeps each tanh for [`gelu_backward_kept`] (the same values
/// the backward pass would compute again).
#[inline(never)]
pub fn gelu_forward_keep(out: &mut [f32], tanh: &mut [f32], inp: &[f32]) {
    // Element by element: split over the cores allowed, in runs of 64.
    par::rows2(out, 64, tanh, 64, 64 * 16, |i0, out, tanh| {
        gelu_forward_keep_part(out, tanh, &inp[i0 * 64..][..out.len()])
    })
}

fn gelu_forward_keep_part(out: &mut [f32], tanh: &mut [f32], inp: &[f32]) {
    simd::run(
        #[inline(always)]
        || {
            for (t, &x) in tanh.iter_mut().zip(inp) {
                *t = GELU_S * (x + 0.044715 * x * x * x);
            }
            for t in tanh.iter_mut() {
                *t = math::tanh(*t);
            }
            for ((o, &x), &t) in out.iter_mut().zip(inp).zip(tanh.iter()) {
                *o = 0.5 * x * (1.0 + t);
            }
        },
    )
}

/// GELU's gradient (the tests' plain reference; the model uses [`gelu_backward_kept`]).
#[cfg(any(test, feature = "test-kernels"))]
#[inline(never)]
pub fn gelu_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32]) {
    for ((di, &x), &dy) in dinp.iter_mut().zip(inp).zip(dout) {
        let u = GELU_S * (x + 0.044715 * x * x * x);
        let t = math::tanh(u);
        let du = GELU_S * (1.0 + 3.0 * 0.044715 * x * x);
        *di = dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du);
    }
}

/// [`gelu_backward`] with the tanh values kept by [`gelu_forward_keep`].
#[inline(never)]
pub fn gelu_backward_kept(dinp: &mut [f32], inp: &[f32], tanh: &[f32], dout: &[f32]) {
    // Element by element: split over the cores allowed, in runs of 64.
    par::rows(dinp, 64, 64 * 8, |i0, dinp| {
        let r = i0 * 64..i0 * 64 + dinp.len();
        let (inp, tanh, dout) = (&inp[r.clone()], &tanh[r.clone()], &dout[r]);
        simd::run(
            #[inline(always)]
            || {
                for (((di, &x), &t), &dy) in dinp.iter_mut().zip(inp).zip(tanh).zip(dout) {
                    let du = GELU_S * (1.0 + 3.0 * 0.044715 * x * x);
                    *di = dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du);
                }
            },
        )
    })
}

/// SwiGLU: each input row is [gate (F) | up (F)]; out = silu(gate)·up (N×F).
#[inline(never)]
pub fn swiglu_forward(out: &mut [f32], inp: &[f32], f: usize) {
    for (n, row) in out.chunks_mut(f).enumerate() {
        let (gate, up) = inp[n * 2 * f..(n + 1) * 2 * f].split_at(f);
        for i in 0..f {
            let sig = 1.0 / (1.0 + math::exp(-gate[i]));
            row[i] = gate[i] * sig * up[i];
        }
    }
}

#[inline(never)]
pub fn swiglu_backward(dinp: &mut [f32], inp: &[f32], dout: &[f32], f: usize) {
    for (n, dy) in dout.chunks(f).enumerate() {
        let (gate, up) = inp[n * 2 * f..(n + 1) * 2 * f].split_at(f);
        let (dgate, dup) = dinp[n * 2 * f..(n + 1) * 2 * f].split_at_mut(f);
        for i in 0..f {
            let sig = 1.0 / (1.0 + math::exp(-gate[i]));
            let silu = gate[i] * sig;
            dup[i] = dy[i] * silu;
            dgate[i] = dy[i] * up[i] * sig * (1.0 + gate[i] * (1.0 - sig));
        }
    }
}

/// Rotary position embedding of q and k in place within qkv (B·T rows of [q | k | v],
/// each D = H × hs wide): pairs (2i, 2i+1) of each head rotate by t·10000^(−2i/hs).
/// `inverse` rotates back, which is also the backward pass (rotations are orthogonal).
#[inline(never)]
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
    let theta = t as f32 * libm::powf(10000.0, -2.0 * i as f32 / hs as f32);
    libm::sincosf(theta)
}

/// The backward of [`rope_forward`]: rotates the q and k gradients back.
#[inline(never)]
pub fn rope_backward(dqkv: &mut [f32], t_len: usize, d: usize, h: usize) {
    rope_forward(dqkv, t_len, d, h, true);
}

/// Causal multi-head self-attention. qkv: N rows of [q | k | v] (3D); out: N×D;
/// att: B×H×T×T softmax weights (kept for the backward pass).
///
/// Head sizes that are multiples of 4 run a version with a width (4 or 8 dimensions) known
/// at compile time ([`attention_forward_lanes`], [`attention_backward_lanes`]): the same bits
/// as the general one. The kernels for each head size (4, 8, 16, 32) that these replaced
/// made a training step of the default model 1.27× faster than the general one (2026-12-05);
/// these run the page's training as fast as they did, in a third of the wasm (README,
/// "Size").
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn attention_forward(
    out: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    b: usize,
    t_len: usize,
    d: usize,
    h: usize,
) {
    // Each sequence's attention is its own: split by sequence over the cores allowed.
    let qkv_len = t_len * 3 * d;
    assert!(
        out.len() == b * t_len * d
            && att.len() == b * h * t_len * t_len
            && qkv.len() == b * qkv_len
    );
    par::rows2(
        out,
        t_len * d,
        att,
        h * t_len * t_len,
        t_len * t_len * d,
        |b0, out, att| {
            let bs = out.len() / (t_len * d);
            attention_forward_seqs(
                out,
                att,
                &qkv[b0 * qkv_len..][..bs * qkv_len],
                bs,
                t_len,
                d,
                h,
            )
        },
    )
}

/// [`attention_forward`] of `b` sequences on this thread.
fn attention_forward_seqs(
    out: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    b: usize,
    t_len: usize,
    d: usize,
    h: usize,
) {
    simd::run(
        #[inline(always)]
        || match d / h {
            hs if hs.is_multiple_of(8) => {
                attention_forward_lanes::<8>(out, att, qkv, b, t_len, d, h)
            }
            hs if hs.is_multiple_of(4) => {
                attention_forward_lanes::<4>(out, att, qkv, b, t_len, d, h)
            }
            _ => attention_forward_impl(out, att, qkv, b, t_len, d, h),
        },
    )
}

/// The sums of `g` (≤ ROWS) rows of `buf`, row r at `r · stride` holding t0 + r + 1 values,
/// each added in order from `init`: the rows advance together over their common part, so
/// that their chains of additions overlap instead of waiting on one another (a row's sum
/// alone is bound by the latency of an addition), then each adds its own tail. Scalar
/// chains need no vector instructions: one copy serves every kernel (not inlined, which
/// keeps the wasm smaller).
#[inline(never)]
fn sums_in_order(buf: &[f32], stride: usize, t0: usize, g: usize, init: f32) -> [f32; ROWS] {
    const _: () = assert!(ROWS == 4, "sums_in_order advances 4 rows together");
    let mut sums = [init; ROWS];
    if g == ROWS {
        let n = t0 + 1;
        let row = |r: usize| &buf[r * stride..][..n];
        for (((&a, &b), &c), &d) in row(0).iter().zip(row(1)).zip(row(2)).zip(row(3)) {
            sums[0] += a;
            sums[1] += b;
            sums[2] += c;
            sums[3] += d;
        }
        for (r, sum) in sums.iter_mut().enumerate().skip(1) {
            for &x in &buf[r * stride + n..][..r] {
                *sum += x;
            }
        }
    } else {
        for (r, sum) in sums.iter_mut().enumerate().take(g) {
            for &x in &buf[r * stride..][..t0 + r + 1] {
                *sum += x;
            }
        }
    }
    sums
}

/// Keeps the compiler from vectorizing the loop this is called in across its iterations:
/// each iteration of the attention's block loops is already 16 lanes wide (its inner loops
/// unrolled), and vectorizing across the blocks as well made AVX-512 builds gather and
/// scatter every value (`vgatherqps`, `vscatterqps`: microcoded, slow), which took most of
/// the attention's time. A compiler fence emits no instruction; loops holding one are not
/// vectorized, while the straight-line 16 lanes inside still are.
#[inline(always)]
fn no_vectorize_across() {
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Query rows that [`attention_forward_lanes`] and [`attention_backward_lanes`] handle together:
/// their sums are independent, so they advance side by side.
const ROWS: usize = 4;

/// The weighted sums of ROWS causal rows at once, `W` dimensions of them: row r (query
/// t0 + r) is Σ_{t2 ≤ t0 + r} w(r, t2)·x(t2), added from 0 in t2 order. The attention's
/// output (weights a, values v) and its dq (score gradients ds, keys k) are both this.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // constant bounds, unrolled
fn causal_rows<'x, const W: usize>(
    t0: usize,
    w: impl Fn(usize, usize) -> f32,
    x: impl Fn(usize) -> &'x [f32; W],
) -> [[f32; W]; ROWS] {
    let mut acc = [[0.0f32; W]; ROWS];
    for t2 in 0..=t0 {
        let x = x(t2);
        for r in 0..ROWS {
            let w = w(r, t2);
            for i in 0..W {
                acc[r][i] += w * x[i];
            }
        }
    }
    // The triangle: key t0 + j only for rows r ≥ j (constant bounds, unrolled).
    for j in 1..ROWS {
        let x = x(t0 + j);
        for r in 0..ROWS {
            if r >= j {
                let w = w(r, t0 + j);
                for i in 0..W {
                    acc[r][i] += w * x[i];
                }
            }
        }
    }
    acc
}

/// [`causal_rows`] for one row, query t: Σ_{t2 ≤ t} w(t2)·x(t2) from 0 in t2 order.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // constant bounds, unrolled
fn causal_row<'x, const W: usize>(
    t: usize,
    w: impl Fn(usize) -> f32,
    x: impl Fn(usize) -> &'x [f32; W],
) -> [f32; W] {
    let mut acc = [0.0f32; W];
    for t2 in 0..=t {
        let (w, x) = (w(t2), x(t2));
        for i in 0..W {
            acc[i] += w * x[i];
        }
    }
    acc
}

/// [`attention_forward`] for a head size `hs` that is a multiple of `W` (4 or 8, known at
/// compile time): the scores of a query for all keys at once (keys transposed and padded to
/// 16), and the weighted sums of ROWS queries at once, `W` of a head's dimensions at a time
/// (a few whole vectors, held in registers). Every element is the same sum, in the same
/// order, as in [`attention_forward_impl`]. Two widths rather than one kernel per head size:
/// two copies of this code in the wasm serve every head size that is a multiple of 4
/// (README, "Size").
#[inline(always)]
#[allow(clippy::needless_range_loop)] // constant bounds, unrolled
fn attention_forward_lanes<const W: usize>(
    out: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    b: usize,
    t_len: usize,
    d: usize,
    h: usize,
) {
    let hs = d / h;
    debug_assert!(hs.is_multiple_of(W));
    let scale = 1.0 / (hs as f32).sqrt();
    let tp = t_len.next_multiple_of(16);
    let mut kt = vec![0.0f32; hs * tp]; // padding stays 0
    let mut srow = vec![0.0f32; tp];
    for bi in 0..b {
        for head in 0..h {
            let row = |t: usize| (bi * t_len + t) * 3 * d + head * hs;
            // Keys in blocks of 16, each transposed: kt[(c·hs + i)·16 + j] = k[16c + j][i].
            for t2 in 0..t_len {
                let (c, j) = (t2 / 16, t2 % 16);
                for (i, &k) in qkv[row(t2) + d..][..hs].iter().enumerate() {
                    kt[(c * hs + i) * 16 + j] = k;
                }
            }
            let att = &mut att[(bi * h + head) * t_len * t_len..][..t_len * t_len];
            // Rows in groups of ROWS: each row's scores, maximum and exponentials, then the
            // group's sums (each its own, in order, advancing together), then the divisions.
            let mut t0 = 0;
            while t0 < t_len {
                let group = ROWS.min(t_len - t0);
                for t in t0..t0 + group {
                    // s = q·k summed over i from −0.0 (as Iterator::sum adds), then scaled;
                    // the padding's lanes are computed and never read.
                    let w = (t + 1).next_multiple_of(16);
                    for (sc, kc) in srow[..w].chunks_exact_mut(16).zip(kt.chunks_exact(16 * hs)) {
                        no_vectorize_across();
                        let q = &qkv[row(t)..][..hs];
                        let mut acc = [-0.0f32; 16];
                        // W dimensions a step (unrolled), i ascending.
                        for (q, k) in q.chunks_exact(W).zip(kc.chunks_exact(16 * W)) {
                            let q: &[f32; W] = q.try_into().unwrap();
                            for i in 0..W {
                                for j in 0..16 {
                                    acc[j] += q[i] * k[i * 16 + j];
                                }
                            }
                        }
                        for j in 0..16 {
                            sc[j] = acc[j] * scale;
                        }
                    }
                    let s = &srow[..=t];
                    let max = max_of(s);
                    let (past, future) = att[t * t_len..][..t_len].split_at_mut(t + 1);
                    // The exponentials apart from their sum: in one loop the sum's chain kept
                    // them from being vectorized.
                    for (v, &x) in past.iter_mut().zip(s) {
                        *v = math::exp(x - max);
                    }
                    future.fill(0.0);
                }
                let sums = sums_in_order(&att[t0 * t_len..], t_len, t0, group, 0.0);
                for (r, &sum) in sums.iter().enumerate().take(group) {
                    for v in &mut att[(t0 + r) * t_len..][..=t0 + r] {
                        *v /= sum;
                    }
                }
                t0 += group;
            }
            // out[t] = Σ_{t2 ≤ t} a[t, t2]·v[t2] from 0, in t2 order; W dimensions at a time
            // (each element's sum is its own: the order of the dimensions does not matter).
            let att = &*att;
            let out_row = |t: usize| (bi * t_len + t) * d + head * hs;
            for lane in (0..hs).step_by(W) {
                let v = |t2: usize| -> &[f32; W] {
                    qkv[row(t2) + 2 * d + lane..][..W].try_into().unwrap()
                };
                let mut t0 = 0;
                while t0 + ROWS <= t_len {
                    let acc = causal_rows(t0, |r, t2| att[(t0 + r) * t_len + t2], v);
                    for (r, acc) in acc.iter().enumerate() {
                        out[out_row(t0 + r) + lane..][..W].copy_from_slice(acc);
                    }
                    t0 += ROWS;
                }
                for t in t0..t_len {
                    let acc = causal_row(t, |t2| att[t * t_len + t2], v);
                    out[out_row(t) + lane..][..W].copy_from_slice(&acc);
                }
            }
        }
    }
}

/// The general case of [`attention_forward`] (any head size), row by row.
#[inline(always)]
fn attention_forward_impl(
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
                    max = larger(max, s);
                }
                let mut sum = 0.0f32;
                for v in a.iter_mut().take(t + 1) {
                    *v = math::exp(*v - max);
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
#[inline(never)]
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
    // Split by sequence, as the forward pass.
    let (qkv_len, out_len, att_len) = (t_len * 3 * d, t_len * d, h * t_len * t_len);
    assert!(dqkv.len() == b * qkv_len && dout.len() == b * out_len && att.len() == b * att_len);
    par::rows(dqkv, qkv_len, 2 * t_len * t_len * d, |b0, dqkv| {
        let bs = dqkv.len() / qkv_len;
        attention_backward_seqs(
            dqkv,
            &dout[b0 * out_len..][..bs * out_len],
            &qkv[b0 * qkv_len..][..bs * qkv_len],
            &att[b0 * att_len..][..bs * att_len],
            bs,
            t_len,
            d,
            h,
        )
    })
}

/// [`attention_backward`] of `b` sequences on this thread.
#[allow(clippy::too_many_arguments)]
fn attention_backward_seqs(
    dqkv: &mut [f32],
    dout: &[f32],
    qkv: &[f32],
    att: &[f32],
    b: usize,
    t_len: usize,
    d: usize,
    h: usize,
) {
    simd::run(
        #[inline(always)]
        || match d / h {
            hs if hs.is_multiple_of(8) => {
                attention_backward_lanes::<8>(dqkv, dout, qkv, att, b, t_len, d, h)
            }
            hs if hs.is_multiple_of(4) => {
                attention_backward_lanes::<4>(dqkv, dout, qkv, att, b, t_len, d, h)
            }
            _ => attention_backward_impl(dqkv, dout, qkv, att, b, t_len, d, h),
        },
    )
}

/// [`attention_backward`] for a head size `hs` that is a multiple of `W` (as
/// [`attention_forward_lanes`]), in three passes per head: the score gradients ds of each
/// query (over all keys at once, values transposed and padded to 16), then dq = ds·k for
/// ROWS queries at once, then dk = dsᵀ·q and dv = aᵀ·dy for ROWS keys at once, the last two
/// `W` dimensions at a time. Every element is the same sum, in the same order, as in
/// [`attention_backward_impl`]: dq over keys, dk and dv over queries, each ascending from 0.
#[inline(always)]
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)] // constant bounds, unrolled
fn attention_backward_lanes<const W: usize>(
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
    debug_assert!(hs.is_multiple_of(W));
    let scale = 1.0 / (hs as f32).sqrt();
    let tp = t_len.next_multiple_of(16);
    dqkv.fill(0.0);
    let mut vt = vec![0.0f32; hs * tp]; // padding stays 0
    let mut drows = vec![0.0f32; ROWS * tp];
    let mut prods = vec![0.0f32; ROWS * tp];
    let mut ds = vec![0.0f32; t_len * t_len];
    for bi in 0..b {
        for head in 0..h {
            let row = |t: usize| (bi * t_len + t) * 3 * d + head * hs;
            let dy_row = |t: usize| (bi * t_len + t) * d + head * hs;
            // Values in blocks of 16, each transposed (as the keys in the forward pass).
            for t2 in 0..t_len {
                let (c, j) = (t2 / 16, t2 % 16);
                for (i, &v) in qkv[row(t2) + 2 * d..][..hs].iter().enumerate() {
                    vt[(c * hs + i) * 16 + j] = v;
                }
            }
            let att = &att[(bi * h + head) * t_len * t_len..][..t_len * t_len];
            // Rows in groups of ROWS: each row's datt and its products with the row's
            // weights, then the group's sums of products (each in order, advancing
            // together), then each row's ds.
            let mut t0 = 0;
            while t0 < t_len {
                let group = ROWS.min(t_len - t0);
                for r in 0..group {
                    let t = t0 + r;
                    // datt = dy·v over i from −0.0 (as Iterator::sum adds), all keys at once.
                    let w = (t + 1).next_multiple_of(16);
                    let y = &dout[dy_row(t)..][..hs];
                    let drow = &mut drows[r * tp..][..tp];
                    for (sc, vc) in drow[..w].chunks_exact_mut(16).zip(vt.chunks_exact(16 * hs)) {
                        no_vectorize_across();
                        let mut acc = [-0.0f32; 16];
                        // W dimensions a step (unrolled), i ascending.
                        for (y, v) in y.chunks_exact(W).zip(vc.chunks_exact(16 * W)) {
                            let y: &[f32; W] = y.try_into().unwrap();
                            for i in 0..W {
                                for j in 0..16 {
                                    acc[j] += y[i] * v[i * 16 + j];
                                }
                            }
                        }
                        sc.copy_from_slice(&acc);
                    }
                    let a = &att[t * t_len..][..=t];
                    for ((p, &x), &y) in prods[r * tp..][..=t].iter_mut().zip(a).zip(&drow[..=t]) {
                        *p = x * y;
                    }
                }
                // softmax backward: ds = a ⊙ (datt − Σ a·datt), the sum from −0.0.
                let dots = sums_in_order(&prods, tp, t0, group, -0.0);
                for (r, &dot) in dots.iter().enumerate().take(group) {
                    let t = t0 + r;
                    let (a, datt) = (&att[t * t_len..][..=t], &drows[r * tp..][..=t]);
                    for ((g, &at), &dt) in ds[t * t_len..][..=t].iter_mut().zip(a).zip(datt) {
                        *g = at * (dt - dot) * scale;
                    }
                }
                t0 += group;
            }
            for lane in (0..hs).step_by(W) {
                let part =
                    |start: usize| -> &[f32; W] { qkv[start + lane..][..W].try_into().unwrap() };
                // dq[t] = Σ_{t2 ≤ t} ds[t, t2]·k[t2], added to dqkv's zero.
                let k = |t2: usize| part(row(t2) + d);
                let mut t0 = 0;
                while t0 + ROWS <= t_len {
                    let acc = causal_rows(t0, |r, t2| ds[(t0 + r) * t_len + t2], k);
                    for (r, acc) in acc.iter().enumerate() {
                        for (g, &x) in dqkv[row(t0 + r) + lane..][..W].iter_mut().zip(acc) {
                            *g += x;
                        }
                    }
                    t0 += ROWS;
                }
                for t in t0..t_len {
                    let acc = causal_row(t, |t2| ds[t * t_len + t2], k);
                    for (g, &x) in dqkv[row(t) + lane..][..W].iter_mut().zip(&acc) {
                        *g += x;
                    }
                }
                // dk[t2] = Σ_{t ≥ t2} ds[t, t2]·q[t] and dv[t2] = Σ_{t ≥ t2} a[t, t2]·dy[t],
                // from 0 in t order (dqkv's k and v parts get nothing else).
                let q = |t: usize| part(row(t));
                let dy =
                    |t: usize| -> &[f32; W] { dout[dy_row(t) + lane..][..W].try_into().unwrap() };
                let mut c0 = 0;
                while c0 + ROWS <= t_len {
                    let mut acc_k = [[0.0f32; W]; ROWS];
                    let mut acc_v = [[0.0f32; W]; ROWS];
                    // Query c0 + j only for keys c0 + r with r ≤ j (constant bounds, unrolled).
                    for j in 0..ROWS - 1 {
                        let t = c0 + j;
                        let (q, y) = (q(t), dy(t));
                        for r in 0..ROWS {
                            if r <= j {
                                let (g, a) = (ds[t * t_len + c0 + r], att[t * t_len + c0 + r]);
                                for i in 0..W {
                                    acc_k[r][i] += g * q[i];
                                    acc_v[r][i] += a * y[i];
                                }
                            }
                        }
                    }
                    for t in c0 + ROWS - 1..t_len {
                        let (q, y) = (q(t), dy(t));
                        // The ROWS scores as arrays, bounds checked once, so that the loop
                        // over r unrolls and the accumulators stay in registers.
                        let gs: &[f32; ROWS] = ds[t * t_len + c0..][..ROWS].try_into().unwrap();
                        let as_: &[f32; ROWS] = att[t * t_len + c0..][..ROWS].try_into().unwrap();
                        for r in 0..ROWS {
                            let (g, a) = (gs[r], as_[r]);
                            for i in 0..W {
                                acc_k[r][i] += g * q[i];
                                acc_v[r][i] += a * y[i];
                            }
                        }
                    }
                    for r in 0..ROWS {
                        dqkv[row(c0 + r) + d + lane..][..W].copy_from_slice(&acc_k[r]);
                        dqkv[row(c0 + r) + 2 * d + lane..][..W].copy_from_slice(&acc_v[r]);
                    }
                    c0 += ROWS;
                }
                for t2 in c0..t_len {
                    let mut acc_k = [0.0f32; W];
                    let mut acc_v = [0.0f32; W];
                    for t in t2..t_len {
                        let (q, y) = (q(t), dy(t));
                        let (g, a) = (ds[t * t_len + t2], att[t * t_len + t2]);
                        for i in 0..W {
                            acc_k[i] += g * q[i];
                            acc_v[i] += a * y[i];
                        }
                    }
                    dqkv[row(t2) + d + lane..][..W].copy_from_slice(&acc_k);
                    dqkv[row(t2) + 2 * d + lane..][..W].copy_from_slice(&acc_v);
                }
            }
        }
    }
}

/// The general case of [`attention_backward`] (any head size), row by row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attention_backward_impl(
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
#[inline(never)]
pub fn crossentropy_forward(probs: &mut [f32], logits: &[f32], targets: &[u8], v: usize) -> f64 {
    // Each row's loss on the cores allowed, then their sum in row order on this thread.
    let mut losses = vec![0.0f64; targets.len()];
    par::rows2(probs, v, &mut losses, 1, 4 * v, |n0, probs, losses| {
        let rows = n0..n0 + losses.len();
        simd::run(
            #[inline(always)]
            || {
                crossentropy_forward_impl(
                    probs,
                    losses,
                    &logits[rows.start * v..rows.end * v],
                    &targets[rows],
                    v,
                )
            },
        )
    });
    let total = losses.iter().fold(0.0f64, |t, &l| t + l);
    total / targets.len() as f64
}

/// Each row's probabilities and loss (`losses`, in nats).
#[inline(always)]
fn crossentropy_forward_impl(
    probs: &mut [f32],
    losses: &mut [f64],
    logits: &[f32],
    targets: &[u8],
    v: usize,
) {
    // Rows in groups of G: each row's normalizer is its own sum in order, but the G sums
    // advance together, so their additions overlap instead of waiting on one another.
    const G: usize = 4;
    let mut e = vec![0.0f32; G * v]; // exp(z − max) of each row of the group, computed once
    for (group, targets) in targets.chunks(G).enumerate() {
        let rows = targets.len();
        let mut max = [0.0f32; G];
        for (r, (max, e)) in max.iter_mut().zip(e.chunks_exact_mut(v)).enumerate() {
            if r == rows {
                break;
            }
            let n = group * G + r;
            let z = &logits[n * v..(n + 1) * v];
            *max = max_of(z);
            for (e, &x) in e.iter_mut().zip(z) {
                *e = math::exp(x - *max);
            }
        }
        // Σ e from −0.0, as Iterator::sum adds.
        let mut sum = [-0.0f32; G];
        if rows == G {
            let (e0, rest) = e.split_at(v);
            let (e1, rest) = rest.split_at(v);
            let (e2, e3) = rest.split_at(v);
            for (((&a, &b), &c), &d) in e0.iter().zip(e1).zip(e2).zip(e3) {
                sum[0] += a;
                sum[1] += b;
                sum[2] += c;
                sum[3] += d;
            }
        } else {
            for (sum, e) in sum.iter_mut().zip(e.chunks_exact(v)).take(rows) {
                *sum = e.iter().sum();
            }
        }
        for (r, &target) in targets.iter().enumerate() {
            let n = group * G + r;
            let e = &e[r * v..(r + 1) * v];
            let inv = 1.0 / sum[r];
            for (p, &e) in probs[n * v..(n + 1) * v].iter_mut().zip(e) {
                *p = e * inv;
            }
            losses[n] =
                libm::log(sum[r] as f64) - (logits[n * v + target as usize] - max[r]) as f64;
        }
    }
}

/// The largest of `z` (−∞ if empty), taken 16 lanes at a time: a maximum does not depend on
/// the order it is taken in, except for which zero of ±0 it returns, and z − max is then the
/// same for every element but a zero, whose exponential is 1 either way.
#[inline(always)]
fn max_of(z: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let chunks = z.chunks_exact(16);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (l, &x) in lanes.iter_mut().zip(chunk) {
            *l = larger(*l, x);
        }
    }
    for (l, &x) in lanes.iter_mut().zip(rest) {
        *l = larger(*l, x);
    }
    lanes.iter().fold(f32::NEG_INFINITY, |m, &l| larger(m, l))
}

/// The larger of `a` and `b` (`a` when they are equal or `b` is NaN). Not `f32::max`: its
/// NaN rule is not WebAssembly's `f32.max`, so in wasm it is a call to libm's `fmaxf` per
/// element (a seventh of a training step in the page's worker); a comparison is one
/// vector instruction natively and in wasm, and gives the same bits on both.
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}

/// dlogits (overwritten) of the mean cross-entropy over `mean_over` rows: (probs −
/// onehot(target)) / mean_over (these rows' count, or a whole batch's of which they are a
/// micro-batch).
#[inline(never)]
pub fn crossentropy_backward(
    dlogits: &mut [f32],
    probs: &[f32],
    targets: &[u8],
    v: usize,
    mean_over: usize,
) {
    let scale = 1.0 / mean_over as f32;
    par::rows(dlogits, v, v, |n0, dlogits| {
        let rows = n0..n0 + dlogits.len() / v;
        let (probs, targets) = (&probs[rows.start * v..rows.end * v], &targets[rows]);
        simd::run(
            #[inline(always)]
            || crossentropy_backward_impl(dlogits, probs, targets, v, scale),
        )
    })
}

#[inline(always)]
fn crossentropy_backward_impl(
    dlogits: &mut [f32],
    probs: &[f32],
    targets: &[u8],
    v: usize,
    scale: f32,
) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `max_of` (a comparison per element, not `f32::max`) finds the largest element of
    /// rows of every length around its 16 lanes, also past −∞ and NaN entries (which
    /// `f32::max` skips, as the comparison does).
    #[test]
    fn max_of_is_the_largest_element() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for len in 0..50 {
            let mut z: Vec<f32> = (0..len).map(|_| rng.random_range(-9.0f32..9.0)).collect();
            if len > 3 {
                z[1] = f32::NEG_INFINITY;
                z[len - 2] = f32::NAN;
            }
            let want = z.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            assert_eq!(max_of(&z).to_bits(), want.to_bits(), "length {len}");
        }
        assert_eq!(larger(1.0, f32::NAN), 1.0);
        assert_eq!(larger(f32::NEG_INFINITY, -3.0), -3.0);
    }

    /// The attention kernels for head sizes in multiples of 4 (blocks of 16 keys, ROWS rows
    /// at once, 4 or 8 dimensions at a time, grouped sums) give exactly the bits of the
    /// plain row-by-row ones, for head sizes of one and of several widths, and for lengths
    /// that fill and do not fill their groups.
    #[test]
    fn attention_kernels_give_the_plain_kernels_bits() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for hs in [4, 8, 12, 16, 24, 32] {
            for t_len in [1, 3, 5, 16, 17, 64] {
                let (b, h) = (2, 2);
                let d = hs * h;
                let mut random = |n: usize| {
                    (0..n)
                        .map(|_| rng.random_range(-2.0f32..2.0))
                        .collect::<Vec<_>>()
                };
                let qkv = random(b * t_len * 3 * d);
                let dout = random(b * t_len * d);
                let (mut out, mut att) =
                    (vec![0.0; b * t_len * d], vec![0.0; b * h * t_len * t_len]);
                let (mut out_ref, mut att_ref) = (out.clone(), att.clone());
                attention_forward_seqs(&mut out, &mut att, &qkv, b, t_len, d, h);
                attention_forward_impl(&mut out_ref, &mut att_ref, &qkv, b, t_len, d, h);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&att),
                    bits(&att_ref),
                    "weights, head size {hs}, length {t_len}"
                );
                assert_eq!(
                    bits(&out),
                    bits(&out_ref),
                    "output, head size {hs}, length {t_len}"
                );
                let (mut dqkv, mut dqkv_ref) = (vec![0.0; qkv.len()], vec![0.0; qkv.len()]);
                attention_backward_seqs(&mut dqkv, &dout, &qkv, &att, b, t_len, d, h);
                attention_backward_impl(&mut dqkv_ref, &dout, &qkv, &att, b, t_len, d, h);
                assert_eq!(
                    bits(&dqkv),
                    bits(&dqkv_ref),
                    "dqkv, head size {hs}, length {t_len}"
                );
            }
        }
    }
}
