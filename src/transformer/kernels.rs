//! The transformer's layers on the GPU: one thin wrapper per kernel, each named like its
//! CPU reference in [`crate::cpu::layers`] (the tests pair them). Nothing is submitted here;
//! every wrapper records dispatches into a [`Recorder`]. Parameters and their gradients are
//! read and written in place inside the flat buffers, at the offsets of their [`Slot`]s.

use super::params::Slot;
use crate::data::VOCAB;
use crate::gpu::kernels::{expect_len, matmul, matmul_then, u32_of, Epilogue, MatmulSpec};
use crate::gpu::wgsl;
use crate::gpu::{grid_1d, grid_groups, GpuError, Recorder, Shader, Tensor, View};
use bytemuck::{Pod, Zeroable};

const ENCODER: Shader = Shader {
    name: "encoder",
    source: wgsl!("encoder.wgsl"),
    sums: false,
    products: false,
};
const NORM: Shader = Shader {
    name: "norm",
    source: wgsl!("norm.wgsl"),
    sums: false,
    products: false,
};
const ATTENTION: Shader = Shader {
    name: "attention",
    source: wgsl!("attention.wgsl"),
    sums: false,
    products: false,
};
const ACTIVATION: Shader = Shader {
    name: "activation",
    source: wgsl!("activation.wgsl"),
    sums: false,
    products: false,
};
/// The matmul with the transformer's epilogues (residual add, GELU and its gradient).
const MATMUL_EPILOGUE: Shader = Shader {
    name: "matmul_epilogue",
    source: concat!(
        wgsl!("matmul.wgsl"),
        wgsl!("gelu.wgsl"),
        wgsl!("matmul_epilogue.wgsl")
    ),
    sums: false,
    products: true,
};
const CROSSENTROPY: Shader = Shader {
    name: "crossentropy",
    source: concat!(wgsl!("step.wgsl"), wgsl!("crossentropy.wgsl")),
    sums: true,
    products: false,
};

/// Rows (or sorted token positions) one invocation sums at most; longer sums are split
/// into accumulating dispatches (software drivers stop an invocation after 65,535 loop
/// iterations).
pub const ROW_CHUNK: usize = 16_384;

/// Words of one batch in a u32 buffer: `[tokens N | targets N | order N | starts 257]`,
/// where `order` lists the positions sorted by token (stable) and bucket v of it is
/// `order[starts[v] .. starts[v + 1]]` (for the deterministic embedding gradient).
pub fn batch_words(tokens: &[u8], targets: &[u8]) -> Vec<u32> {
    let n = tokens.len();
    assert_eq!(targets.len(), n, "one target per token");
    let mut words = Vec::with_capacity(batch_words_len(n));
    words.extend(tokens.iter().map(|&t| t as u32));
    words.extend(targets.iter().map(|&t| t as u32));
    let mut starts = [0u32; VOCAB + 1];
    for &t in tokens {
        starts[t as usize + 1] += 1;
    }
    for v in 0..VOCAB {
        starts[v + 1] += starts[v];
    }
    let mut next = starts;
    let mut order = vec![0u32; n];
    for (pos, &t) in tokens.iter().enumerate() {
        order[next[t as usize] as usize] = pos as u32;
        next[t as usize] += 1;
    }
    words.extend(order);
    words.extend(starts);
    words
}

pub const fn batch_words_len(n: usize) -> usize {
    3 * n + VOCAB + 1
}

/// One batch of N positions inside a u32 buffer, at a word offset (see [`batch_words`]).
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: usize,
    pub n: usize,
}

impl Batch<'_> {
    fn tokens(&self) -> usize {
        self.offset
    }
    fn targets(&self) -> usize {
        self.offset + self.n
    }
    fn order(&self) -> usize {
        self.offset + 2 * self.n
    }
    fn starts(&self) -> usize {
        self.offset + 3 * self.n
    }
}

fn grid(rec: &Recorder, items: usize) -> [u32; 3] {
    grid_1d(items, rec.gpu.limits.max_compute_workgroups_per_dimension)
}

fn grid64(rec: &Recorder, items: usize) -> [u32; 3] {
    grid_groups(
        items.div_ceil(64),
        rec.gpu.limits.max_compute_workgroups_per_dimension,
    )
}

fn chunks(total: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..total.div_ceil(ROW_CHUNK).max(1))
        .map(move |c| (c * ROW_CHUNK, ((c + 1) * ROW_CHUNK).min(total)))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct EncoderParams {
    n: u32,
    t_len: u32,
    d: u32,
    learned: u32,
    off_wte: u32,
    off_wpe: u32,
    off_tokens: u32,
    off_order: u32,
    off_starts: u32,
    n_begin: u32,
    n_end: u32,
    b: u32,
}

fn encoder_params(
    batch: &Batch,
    wte: Slot,
    wpe: Option<Slot>,
    t_len: usize,
    d: usize,
) -> Result<EncoderParams, GpuError> {
    Ok(EncoderParams {
        n: u32_of("n", batch.n)?,
        t_len: u32_of("t", t_len)?,
        d: u32_of("d", d)?,
        learned: wpe.is_some() as u32,
        off_wte: u32_of("wte offset", wte.offset)?,
        off_wpe: u32_of("wpe offset", wpe.map_or(0, |w| w.offset))?,
        off_tokens: u32_of("tokens offset", batch.tokens())?,
        off_order: u32_of("order offset", batch.order())?,
        off_starts: u32_of("starts offset", batch.starts())?,
        n_begin: 0,
        n_end: u32_of("n", batch.n)?,
        b: u32_of("b", batch.n / t_len)?,
    })
}

/// out[n] = wte[token n] (+ wpe[n mod T]).
#[allow(clippy::too_many_arguments)]
pub fn encoder_forward(
    rec: &mut Recorder,
    out: &Tensor,
    batch: &Batch,
    params: &Tensor,
    wte: Slot,
    wpe: Option<Slot>,
    t_len: usize,
    d: usize,
) -> Result<(), GpuError> {
    expect_len("out", out, batch.n * d)?;
    let uniform = rec.uniform(&encoder_params(batch, wte, wpe, t_len, d)?);
    let g = grid(rec, batch.n * d);
    rec.dispatch(
        &rec.gpu.pipeline(&ENCODER, "encoder_forward"),
        &[
            (0, batch.buffer),
            (1, &params.buffer),
            (2, &out.buffer),
            (3, &uniform),
        ],
        g,
    )
}

/// Accumulates dwte (and dwpe) from dout.
#[allow(clippy::too_many_arguments)]
pub fn encoder_backward(
    rec: &mut Recorder,
    grads: &Tensor,
    wte: Slot,
    wpe: Option<Slot>,
    dout: &Tensor,
    batch: &Batch,
    t_len: usize,
    d: usize,
) -> Result<(), GpuError> {
    expect_len("dout", dout, batch.n * d)?;
    let base = encoder_params(batch, wte, wpe, t_len, d)?;
    for (begin, end) in chunks(batch.n) {
        let uniform = rec.uniform(&EncoderParams {
            n_begin: begin as u32,
            n_end: end as u32,
            ..base
        });
        let g = grid(rec, VOCAB * d);
        rec.dispatch(
            &rec.gpu.pipeline(&ENCODER, "encoder_backward_wte"),
            &[
                (0, batch.buffer),
                (3, &uniform),
                (4, &dout.buffer),
                (5, &grads.buffer),
            ],
            g,
        )?;
    }
    if wpe.is_some() {
        let uniform = rec.uniform(&base);
        let g = grid(rec, t_len * d);
        rec.dispatch(
            &rec.gpu.pipeline(&ENCODER, "encoder_backward_wpe"),
            &[(3, &uniform), (4, &dout.buffer), (5, &grads.buffer)],
            g,
        )?;
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NormParams {
    rows: u32,
    d: u32,
    off_g: u32,
    off_b: u32,
    r_begin: u32,
    r_end: u32,
    /// 1: the input gradient adds a residual gradient (binding 8).
    residual: u32,
    _pad: u32,
}

fn norm_params(rows: usize, d: usize, g: Slot, b: Option<Slot>) -> Result<NormParams, GpuError> {
    Ok(NormParams {
        rows: u32_of("rows", rows)?,
        d: u32_of("d", d)?,
        off_g: u32_of("gain offset", g.offset)?,
        off_b: u32_of("bias offset", b.map_or(0, |b| b.offset))?,
        r_begin: 0,
        r_end: 0,
        residual: 0,
        _pad: 0,
    })
}

/// LayerNorm (b = Some) or RMSNorm (b = None) forward; stats = [mean N | rstd N].
#[allow(clippy::too_many_arguments)]
fn norm_forward(
    rec: &mut Recorder,
    out: &Tensor,
    stats: &Tensor,
    inp: &Tensor,
    params: &Tensor,
    g: Slot,
    b: Option<Slot>,
    rows: usize,
    d: usize,
) -> Result<(), GpuError> {
    expect_len("out", out, rows * d)?;
    expect_len("inp", inp, rows * d)?;
    expect_len("stats", stats, 2 * rows)?;
    let uniform = rec.uniform(&norm_params(rows, d, g, b)?);
    let p = if b.is_some() {
        &rec.gpu.pipeline(&NORM, "layernorm_forward")
    } else {
        &rec.gpu.pipeline(&NORM, "rmsnorm_forward")
    };
    let g = grid64(rec, rows);
    rec.dispatch(
        p,
        &[
            (0, &inp.buffer),
            (1, &params.buffer),
            (2, &out.buffer),
            (3, &stats.buffer),
            (4, &uniform),
        ],
        g,
    )
}

/// Overwrites dinp with the input gradient, plus `residual` when given (the gradient that
/// reaches the norm's input around it, by the residual stream: the add fused); accumulates
/// the gain (and bias) gradients.
#[allow(clippy::too_many_arguments)]
fn norm_backward(
    rec: &mut Recorder,
    dinp: &Tensor,
    residual: Option<&Tensor>,
    grads: &Tensor,
    dout: &Tensor,
    inp: &Tensor,
    params: &Tensor,
    g: Slot,
    b: Option<Slot>,
    stats: &Tensor,
    rows: usize,
    d: usize,
) -> Result<(), GpuError> {
    expect_len("dinp", dinp, rows * d)?;
    expect_len("dout", dout, rows * d)?;
    expect_len("inp", inp, rows * d)?;
    expect_len("stats", stats, 2 * rows)?;
    let base = norm_params(rows, d, g, b)?;
    let (input, weights) = if b.is_some() {
        (
            &rec.gpu.pipeline(&NORM, "layernorm_backward"),
            &rec.gpu.pipeline(&NORM, "layernorm_backward_params"),
        )
    } else {
        (
            &rec.gpu.pipeline(&NORM, "rmsnorm_backward"),
            &rec.gpu.pipeline(&NORM, "rmsnorm_backward_params"),
        )
    };
    if let Some(r) = residual {
        expect_len("residual", r, rows * d)?;
    }
    let uniform = rec.uniform(&NormParams {
        residual: residual.is_some() as u32,
        ..base
    });
    let grid_rows = grid64(rec, rows);
    rec.dispatch(
        input,
        &[
            (0, &inp.buffer),
            (1, &params.buffer),
            (2, &dinp.buffer),
            (4, &uniform),
            (5, &dout.buffer),
            (6, &stats.buffer),
            // Without a residual, any read-only buffer (not read).
            (8, &residual.unwrap_or(dout).buffer),
        ],
        grid_rows,
    )?;
    for (begin, end) in chunks(rows) {
        let uniform = rec.uniform(&NormParams {
            r_begin: begin as u32,
            r_end: end as u32,
            ..base
        });
        rec.dispatch(
            weights,
            &[
                (0, &inp.buffer),
                (4, &uniform),
                (5, &dout.buffer),
                (6, &stats.buffer),
                (7, &grads.buffer),
            ],
            [d.div_ceil(64) as u32, 1, 1],
        )?;
    }
    Ok(())
}

/// LayerNorm over rows of D; stats = [mean N | rstd N].
#[allow(clippy::too_many_arguments)]
pub fn layernorm_forward(
    rec: &mut Recorder,
    out: &Tensor,
    stats: &Tensor,
    inp: &Tensor,
    params: &Tensor,
    g: Slot,
    b: Slot,
    rows: usize,
    d: usize,
) -> Result<(), GpuError> {
    norm_forward(rec, out, stats, inp, params, g, Some(b), rows, d)
}

/// LayerNorm backward: overwrites dinp, accumulates dg and db.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_backward(
    rec: &mut Recorder,
    dinp: &Tensor,
    residual: Option<&Tensor>,
    grads: &Tensor,
    dout: &Tensor,
    inp: &Tensor,
    params: &Tensor,
    g: Slot,
    b: Slot,
    stats: &Tensor,
    rows: usize,
    d: usize,
) -> Result<(), GpuError> {
    norm_backward(
        rec,
        dinp,
        residual,
        grads,
        dout,
        inp,
        params,
        g,
        Some(b),
        stats,
        rows,
        d,
    )
}

/// RMSNorm over rows of D; stats = [unused N | rstd N].
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_forward(
    rec: &mut Recorder,
    out: &Tensor,
    stats: &Tensor,
    inp: &Tensor,
    params: &Tensor,
    g: Slot,
    rows: usize,
    d: usize,
) -> Result<(), GpuError> {
    norm_forward(rec, out, stats, inp, params, g, None, rows, d)
}

/// RMSNorm backward: overwrites dinp, accumulates dg.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_backward(
    rec: &mut Recorder,
    dinp: &Tensor,
    residual: Option<&Tensor>,
    grads: &Tensor,
    dout: &Tensor,
    inp: &Tensor,
    params: &Tensor,
    g: Slot,
    stats: &Tensor,
    rows: usize,
    d: usize,
) -> Result<(), GpuError> {
    norm_backward(
        rec, dinp, residual, grads, dout, inp, params, g, None, stats, rows, d,
    )
}

/// out (N×OC) = inp (N×C) · w (C×OC).
pub fn matmul_forward<'a>(
    rec: &mut Recorder,
    out: impl Into<View<'a>>,
    inp: impl Into<View<'a>>,
    w: impl Into<View<'a>>,
    n: usize,
    c: usize,
    oc: usize,
) -> Result<(), GpuError> {
    matmul(rec, inp, w, out, MatmulSpec::new(n, c, oc))
}

/// dinp = dout·wᵀ (overwritten); dw += inpᵀ·dout.
#[allow(clippy::too_many_arguments)]
pub fn matmul_backward<'a>(
    rec: &mut Recorder,
    dinp: impl Into<View<'a>>,
    dw: impl Into<View<'a>>,
    dout: impl Into<View<'a>>,
    inp: impl Into<View<'a>>,
    w: impl Into<View<'a>>,
    n: usize,
    c: usize,
    oc: usize,
) -> Result<(), GpuError> {
    let dout = dout.into();
    matmul(
        rec,
        dout,
        w,
        dinp,
        MatmulSpec {
            trans_b: true,
            ..MatmulSpec::new(n, oc, c)
        },
    )?;
    weight_grad(rec, dw, inp, dout, n, c, oc)
}

/// out (N×OC) = residual + inp (N×C) · w (C×OC): a residual stream's update in the
/// product's dispatch (`matmul_forward` then an add, fused).
#[allow(clippy::too_many_arguments)]
pub fn matmul_residual_forward<'a>(
    rec: &mut Recorder,
    out: impl Into<View<'a>>,
    inp: impl Into<View<'a>>,
    w: impl Into<View<'a>>,
    residual: impl Into<View<'a>>,
    n: usize,
    c: usize,
    oc: usize,
) -> Result<(), GpuError> {
    let epilogue = Epilogue {
        shader: &MATMUL_EPILOGUE,
        entry: "matmul_residual",
        binding: 4,
        aux: residual.into(),
        first: true,
    };
    matmul_then(rec, inp, w, out, MatmulSpec::new(n, c, oc), Some(epilogue))
}

/// fc (N×OC) = inp (N×C) · w (C×OC) and act = gelu(fc), in one dispatch
/// (`matmul_forward` then `gelu_forward`, fused).
#[allow(clippy::too_many_arguments)]
pub fn matmul_gelu_forward<'a>(
    rec: &mut Recorder,
    fc: impl Into<View<'a>>,
    act: impl Into<View<'a>>,
    inp: impl Into<View<'a>>,
    w: impl Into<View<'a>>,
    n: usize,
    c: usize,
    oc: usize,
) -> Result<(), GpuError> {
    let epilogue = Epilogue {
        shader: &MATMUL_EPILOGUE,
        entry: "matmul_gelu",
        binding: 5,
        aux: act.into(),
        first: false,
    };
    matmul_then(rec, inp, w, fc, MatmulSpec::new(n, c, oc), Some(epilogue))
}

/// [`matmul_backward`] of a layer whose input is gelu(pre): dpre = gelu'(pre) ∘ (dout·wᵀ)
/// (overwritten; `matmul_backward` then `gelu_backward`, fused); dw += inpᵀ·dout.
#[allow(clippy::too_many_arguments)]
pub fn matmul_gelu_backward<'a>(
    rec: &mut Recorder,
    dpre: impl Into<View<'a>>,
    dw: impl Into<View<'a>>,
    dout: impl Into<View<'a>>,
    inp: impl Into<View<'a>>,
    w: impl Into<View<'a>>,
    pre: impl Into<View<'a>>,
    n: usize,
    c: usize,
    oc: usize,
) -> Result<(), GpuError> {
    let dout = dout.into();
    let epilogue = Epilogue {
        shader: &MATMUL_EPILOGUE,
        entry: "matmul_gelu_backward",
        binding: 4,
        aux: pre.into(),
        first: false,
    };
    let spec = MatmulSpec {
        trans_b: true,
        ..MatmulSpec::new(n, oc, c)
    };
    matmul_then(rec, dout, w, dpre, spec, Some(epilogue))?;
    weight_grad(rec, dw, inp, dout, n, c, oc)
}

/// dw (C×OC) += inpᵀ·dout: a linear layer's weight gradient, accumulated.
fn weight_grad<'a>(
    rec: &mut Recorder,
    dw: impl Into<View<'a>>,
    inp: impl Into<View<'a>>,
    dout: View<'a>,
    n: usize,
    c: usize,
    oc: usize,
) -> Result<(), GpuError> {
    let spec = MatmulSpec {
        trans_a: true,
        beta: 1.0,
        ..MatmulSpec::new(c, n, oc)
    };
    matmul(rec, inp, dout, dw, spec)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ActivationParams {
    n: u32,
    f: u32,
    _pad: [u32; 2],
}

fn activation(
    rec: &mut Recorder,
    pipeline: &wgpu::ComputePipeline,
    items: usize,
    f: usize,
    bindings: &[(u32, &wgpu::Buffer)],
) -> Result<(), GpuError> {
    let uniform = rec.uniform(&ActivationParams {
        n: u32_of("n", items)?,
        f: u32_of("f", f)?,
        _pad: [0; 2],
    });
    let mut all = bindings.to_vec();
    all.push((2, &uniform));
    let g = grid(rec, items);
    rec.dispatch(pipeline, &all, g)
}

/// SwiGLU: rows of [gate F | up F] → silu(gate)·up (N×F).
pub fn swiglu_forward(
    rec: &mut Recorder,
    out: &Tensor,
    inp: &Tensor,
    f: usize,
) -> Result<(), GpuError> {
    expect_len("inp", inp, 2 * out.len())?;
    let p = &rec.gpu.pipeline(&ACTIVATION, "swiglu_forward");
    activation(rec, p, out.len(), f, &[(0, &inp.buffer), (1, &out.buffer)])
}

pub fn swiglu_backward(
    rec: &mut Recorder,
    dinp: &Tensor,
    inp: &Tensor,
    dout: &Tensor,
    f: usize,
) -> Result<(), GpuError> {
    expect_len("inp", inp, dinp.len())?;
    expect_len("dout", dout, dinp.len() / 2)?;
    let p = &rec.gpu.pipeline(&ACTIVATION, "swiglu_backward");
    activation(
        rec,
        p,
        dout.len(),
        f,
        &[(0, &inp.buffer), (1, &dinp.buffer), (3, &dout.buffer)],
    )
}

/// The rotation table of rotary positions (`rope_forward` of the CPU layers, fused into
/// [`attention_forward`]): cos of every (t, i) of T × hs/2, then sin, from
/// the CPU reference's own [`crate::cpu::layers::rope_sin_cos`].
pub fn rope_table(t_len: usize, hs: usize) -> Vec<f32> {
    let half = hs / 2;
    let mut table = vec![0.0; 2 * t_len * half];
    for t in 0..t_len {
        for i in 0..half {
            let (sin, cos) = crate::cpu::layers::rope_sin_cos(t, i, hs);
            table[t * half + i] = cos;
            table[t_len * half + t * half + i] = sin;
        }
    }
    table
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct AttentionParams {
    b: u32,
    t_len: u32,
    h: u32,
    hs: u32,
    scale: f32,
    rope: u32,
    _pad: [u32; 2],
}

/// Rows of attention each invocation takes (`R` in shaders/attention.wgsl): every key,
/// value and query element it reads serves this many rows.
const ATTENTION_ROWS: usize = 4;

/// The shape of one attention call: B sequences of T positions, width D in H heads.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub b: usize,
    pub t: usize,
    pub d: usize,
    pub h: usize,
}

impl AttentionShape {
    fn hs(&self) -> usize {
        self.d / self.h
    }
    /// Values of one head-major block (B·H·T·hs = N·D).
    fn block(&self) -> usize {
        self.b * self.t * self.d
    }
    /// Rows of attention weights: one per batch, head and position.
    fn rows(&self) -> usize {
        self.b * self.h * self.t
    }
    /// Invocations of an attention dispatch: blocks of [`ATTENTION_ROWS`] positions of one
    /// batch and head.
    fn invocations(&self) -> usize {
        self.b * self.h * self.t.div_ceil(ATTENTION_ROWS)
    }
    fn params(&self, rope: bool) -> Result<AttentionParams, GpuError> {
        Ok(AttentionParams {
            b: u32_of("b", self.b)?,
            t_len: u32_of("t", self.t)?,
            h: u32_of("h", self.h)?,
            hs: u32_of("hs", self.hs())?,
            // The CPU reference's scale, bit for bit.
            scale: 1.0 / (self.hs() as f32).sqrt(),
            rope: rope as u32,
            _pad: [0; 2],
        })
    }
}

/// The rotary table's length for a shape (T × hs/2 cosines, then as many sines).
fn check_rope(rope: Option<&Tensor>, s: AttentionShape) -> Result<(), GpuError> {
    match rope {
        Some(table) => expect_len("rope table", table, s.t * s.hs()),
        None => Ok(()),
    }
}

/// Causal multi-head self-attention in one dispatch. qkv: N rows of [q | k | v]; out: N×D;
/// keeps the head-major q, k, v (`qkvh`, 3·N·D) and the softmax weights (`att`, B·H·T·T)
/// for the backward pass. `rope`: the rotary table ([`rope_table`]), when q and k are
/// rotated by position (`rope_forward` fused).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    rec: &mut Recorder,
    out: &Tensor,
    att: &Tensor,
    qkvh: &Tensor,
    qkv: &Tensor,
    rope: Option<&Tensor>,
    s: AttentionShape,
) -> Result<(), GpuError> {
    check_rope(rope, s)?;
    expect_len("qkv", qkv, 3 * s.block())?;
    expect_len("qkvh", qkvh, 3 * s.block())?;
    expect_len("att", att, s.rows() * s.t)?;
    expect_len("out", out, s.block())?;
    let uniform = rec.uniform(&s.params(rope.is_some())?);
    let p = rec.gpu.pipeline(&ATTENTION, "attention_forward");
    let g = grid64(rec, s.invocations());
    rec.dispatch(
        &p,
        &[
            (0, &uniform),
            (1, &qkv.buffer),
            (2, &qkvh.buffer),
            (3, &att.buffer),
            (4, &out.buffer),
            // Without rotary positions, any read-only buffer (not read).
            (6, &rope.unwrap_or(qkv).buffer),
        ],
        g,
    )
}

/// Attention backward in two dispatches (by query row, then by key row): overwrites dqkv
/// (N rows of [dq | dk | dv]); `datt` (B·H·T·T) is scratch for the scores' gradient. With
/// `rope`, dq and dk are rotated back (`rope_backward` fused).
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    rec: &mut Recorder,
    dqkv: &Tensor,
    datt: &Tensor,
    dout: &Tensor,
    qkvh: &Tensor,
    att: &Tensor,
    rope: Option<&Tensor>,
    s: AttentionShape,
) -> Result<(), GpuError> {
    check_rope(rope, s)?;
    expect_len("dqkv", dqkv, 3 * s.block())?;
    expect_len("datt", datt, s.rows() * s.t)?;
    expect_len("dout", dout, s.block())?;
    expect_len("qkvh", qkvh, 3 * s.block())?;
    expect_len("att", att, s.rows() * s.t)?;
    let uniform = rec.uniform(&s.params(rope.is_some())?);
    let g = grid64(rec, s.invocations());
    for entry in ["attention_backward_query", "attention_backward_key"] {
        let p = rec.gpu.pipeline(&ATTENTION, entry);
        rec.dispatch(
            &p,
            &[
                (0, &uniform),
                (1, &dout.buffer),
                (2, &qkvh.buffer),
                (3, &att.buffer),
                (4, &dqkv.buffer),
                (5, &datt.buffer),
                (6, &rope.unwrap_or(dout).buffer),
            ],
            g,
        )?;
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct CrossentropyParams {
    n: u32,
    v: u32,
    off_targets: u32,
    slot: u32,
}

fn ce_params(batch: &Batch, slot: usize) -> Result<CrossentropyParams, GpuError> {
    Ok(CrossentropyParams {
        n: u32_of("n", batch.n)?,
        v: VOCAB as u32,
        off_targets: u32_of("targets offset", batch.targets())?,
        slot: u32_of("slot", slot)?,
    })
}

/// Softmax cross-entropy of each row of logits (N×256) against its target: probs and the
/// per-row losses; then `losses[slot + step.slot]` = their mean (nats per byte), where
/// `step` holds the step's values ([`super::optim::StepValues`]: a training step's loss
/// goes to its slot of the ring, an evaluation's to `slot` with a step of slot 0).
#[allow(clippy::too_many_arguments)]
pub fn crossentropy_forward(
    rec: &mut Recorder,
    probs: &Tensor,
    row_losses: &Tensor,
    losses: &Tensor,
    slot: usize,
    logits: &Tensor,
    batch: &Batch,
    step: &wgpu::Buffer,
) -> Result<(), GpuError> {
    expect_len("logits", logits, batch.n * VOCAB)?;
    expect_len("probs", probs, batch.n * VOCAB)?;
    expect_len("row losses", row_losses, batch.n)?;
    if slot >= losses.len() {
        return Err(GpuError::Invalid(format!(
            "loss slot {slot} of {}",
            losses.len()
        )));
    }
    let uniform = rec.uniform(&ce_params(batch, slot)?);
    let g = grid64(rec, batch.n);
    rec.dispatch(
        &rec.gpu.pipeline(&CROSSENTROPY, "crossentropy_forward"),
        &[
            (0, &logits.buffer),
            (1, batch.buffer),
            (2, &probs.buffer),
            (3, &row_losses.buffer),
            (4, &uniform),
        ],
        g,
    )?;
    rec.dispatch(
        &rec.gpu.pipeline(&CROSSENTROPY, "loss_mean"),
        &[
            (4, &uniform),
            (5, &losses.buffer),
            (6, &row_losses.buffer),
            (8, step),
        ],
        [1, 1, 1],
    )
}

/// dlogits (overwritten; may be the logits buffer) = (probs − onehot(target)) / N.
pub fn crossentropy_backward(
    rec: &mut Recorder,
    dlogits: &Tensor,
    probs: &Tensor,
    batch: &Batch,
) -> Result<(), GpuError> {
    expect_len("dlogits", dlogits, batch.n * VOCAB)?;
    expect_len("probs", probs, batch.n * VOCAB)?;
    let uniform = rec.uniform(&ce_params(batch, 0)?);
    let g = grid(rec, batch.n * VOCAB);
    rec.dispatch(
        &rec.gpu.pipeline(&CROSSENTROPY, "crossentropy_backward"),
        &[
            (1, batch.buffer),
            (4, &uniform),
            (5, &dlogits.buffer),
            (7, &probs.buffer),
        ],
        g,
    )
}
