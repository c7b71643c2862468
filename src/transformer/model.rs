//! The whole model on the CPU (the reference of the GPU path and the fallback): forward to
//! the mean cross-entropy, backward to every parameter's gradient, built from the layer
//! pairs of [`super::layers`] over the flat buffers of [`super::params::Layout`].

use super::config::{Mlp, ModelConfig, Norm, Pos};
use super::layers::*;
use super::params::Layout;
use crate::cpu::{matmul, matmul_tn_acc, transpose};
use crate::data::VOCAB;

/// Everything the backward pass needs from the forward pass, for B sequences of T bytes.
/// [`forward_into`] reuses one across steps (no allocation, no zeroing).
pub struct Activations {
    pub b: usize,
    pub t: usize,
    /// Residual stream entering each layer, and leaving the last (n_layer + 1 entries).
    x: Vec<Vec<f32>>,
    layers: Vec<LayerActs>,
    lnf: Vec<f32>,
    lnf_stats: (Vec<f32>, Vec<f32>),
    /// The head as a D×V matrix (wteᵀ when tied).
    head: Vec<f32>,
    pub logits: Vec<f32>,
    pub probs: Vec<f32>,
}

struct LayerActs {
    ln1: Vec<f32>,
    ln1_stats: (Vec<f32>, Vec<f32>),
    qkv: Vec<f32>,
    att: Vec<f32>,
    atty: Vec<f32>,
    /// attn.proj's output, then MLP's (scratch).
    proj: Vec<f32>,
    x_mid: Vec<f32>,
    ln2: Vec<f32>,
    ln2_stats: (Vec<f32>, Vec<f32>),
    fc: Vec<f32>,
    act: Vec<f32>,
    /// GELU's tanh of each fc output, kept for the backward pass (empty for SwiGLU).
    tanh: Vec<f32>,
}

impl Activations {
    /// Buffers for `cfg` on batches of `b` sequences of `t` bytes.
    pub fn new(cfg: &ModelConfig, b: usize, t: usize) -> Activations {
        let (d, h, f) = (cfg.d_model, cfg.n_head, cfg.d_ff);
        let n = b * t;
        let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
        let z = |len: usize| vec![0.0f32; len];
        Activations {
            b,
            t,
            x: (0..=cfg.n_layer).map(|_| z(n * d)).collect(),
            layers: (0..cfg.n_layer)
                .map(|_| LayerActs {
                    ln1: z(n * d),
                    ln1_stats: (z(n), z(n)),
                    qkv: z(n * 3 * d),
                    att: z(b * h * t * t),
                    atty: z(n * d),
                    proj: z(n * d),
                    x_mid: z(n * d),
                    ln2: z(n * d),
                    ln2_stats: (z(n), z(n)),
                    fc: z(n * fc_out),
                    act: z(n * f),
                    tanh: z(if cfg.mlp == Mlp::Gelu { n * f } else { 0 }),
                })
                .collect(),
            lnf: z(n * d),
            lnf_stats: (z(n), z(n)),
            head: z(d * VOCAB),
            logits: z(n * VOCAB),
            probs: z(n * VOCAB),
        }
    }

    fn fits(&self, cfg: &ModelConfig, b: usize, t: usize) -> bool {
        self.b == b
            && self.t == t
            && self.layers.len() == cfg.n_layer
            && self.head.len() == cfg.d_model * VOCAB
            && self.layers.first().is_none_or(|l| {
                l.act.len() == b * t * cfg.d_ff
                    && l.fc.len() == l.act.len() * if cfg.mlp == Mlp::Swiglu { 2 } else { 1 }
                    && l.att.len() == b * cfg.n_head * t * t
                    && l.tanh.len() == if cfg.mlp == Mlp::Gelu { l.act.len() } else { 0 }
            })
    }
}

fn norm_forward(
    cfg: &ModelConfig,
    out: &mut [f32],
    stats: &mut (Vec<f32>, Vec<f32>),
    inp: &[f32],
    g: &[f32],
    b: Option<&[f32]>,
) {
    let d = cfg.d_model;
    match cfg.norm {
        Norm::Layernorm => layernorm_forward(
            out,
            &mut stats.0,
            &mut stats.1,
            inp,
            g,
            b.expect("layernorm bias"),
            d,
        ),
        Norm::Rmsnorm => rmsnorm_forward(out, &mut stats.1, inp, g, d),
    }
}

#[allow(clippy::too_many_arguments)]
fn norm_backward(
    cfg: &ModelConfig,
    dinp: &mut [f32],
    grads: &mut [f32],
    layout: &Layout,
    prefix: &str,
    dout: &[f32],
    inp: &[f32],
    params: &[f32],
    stats: &(Vec<f32>, Vec<f32>),
) {
    let d = cfg.d_model;
    let g = &params[layout.get(&format!("{prefix}.g")).range()];
    match cfg.norm {
        Norm::Layernorm => {
            let (mut dg, mut db) = (vec![0.0; d], vec![0.0; d]);
            layernorm_backward(dinp, &mut dg, &mut db, dout, inp, g, &stats.0, &stats.1, d);
            add_into(grads, layout, &format!("{prefix}.g"), &dg);
            add_into(grads, layout, &format!("{prefix}.b"), &db);
        }
        Norm::Rmsnorm => {
            let mut dg = vec![0.0; d];
            rmsnorm_backward(dinp, &mut dg, dout, inp, g, &stats.1, d);
            add_into(grads, layout, &format!("{prefix}.g"), &dg);
        }
    }
}

fn add_into(grads: &mut [f32], layout: &Layout, name: &str, g: &[f32]) {
    for (a, b) in grads[layout.get(name).range()].iter_mut().zip(g) {
        *a += b;
    }
}

fn param<'a>(params: &'a [f32], layout: &Layout, name: &str) -> &'a [f32] {
    &params[layout.get(name).range()]
}

fn param_mut<'a>(params: &'a mut [f32], layout: &Layout, name: &str) -> &'a mut [f32] {
    &mut params[layout.get(name).range()]
}

fn maybe<'a>(params: &'a [f32], layout: &Layout, name: &str) -> Option<&'a [f32]> {
    layout
        .tensors
        .iter()
        .find(|t| t.name == name)
        .map(|t| &params[t.range()])
}

/// out[i] = a[i] + b[i].
fn add(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

/// Forward pass over `tokens` (B×T); returns the mean cross-entropy against `targets`
/// (nats per byte) and the activations for [`backward`].
pub fn forward(
    cfg: &ModelConfig,
    layout: &Layout,
    params: &[f32],
    tokens: &[u8],
    targets: &[u8],
    b: usize,
    t: usize,
) -> (f64, Activations) {
    let mut acts = Activations::new(cfg, b, t);
    let loss = forward_into(&mut acts, cfg, layout, params, tokens, targets, b, t);
    (loss, acts)
}

/// [`forward`] into `acts`, which is reallocated only when it was made for another shape.
#[allow(clippy::too_many_arguments)]
pub fn forward_into(
    acts: &mut Activations,
    cfg: &ModelConfig,
    layout: &Layout,
    params: &[f32],
    tokens: &[u8],
    targets: &[u8],
    b: usize,
    t: usize,
) -> f64 {
    let (d, h, f) = (cfg.d_model, cfg.n_head, cfg.d_ff);
    let n = b * t;
    assert!(tokens.len() == n && targets.len() == n && t <= cfg.ctx);
    let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
    if !acts.fits(cfg, b, t) {
        *acts = Activations::new(cfg, b, t);
    }
    let wpe = if cfg.pos == Pos::Learned {
        Some(param(params, layout, "wpe"))
    } else {
        None
    };
    encoder_forward(
        &mut acts.x[0],
        tokens,
        param(params, layout, "wte"),
        wpe,
        t,
        d,
    );
    for l in 0..cfg.n_layer {
        let name = |s: &str| format!("h.{l}.{s}");
        let (done, next) = acts.x.split_at_mut(l + 1);
        let (x, x_next) = (&done[l], &mut next[0]);
        let la = &mut acts.layers[l];
        norm_forward(
            cfg,
            &mut la.ln1,
            &mut la.ln1_stats,
            x,
            param(params, layout, &name("ln1.g")),
            maybe(params, layout, &name("ln1.b")),
        );
        matmul_forward(
            &mut la.qkv,
            &la.ln1,
            param(params, layout, &name("attn.qkv")),
            n,
            d,
            3 * d,
        );
        if cfg.pos == Pos::Rope {
            rope_forward(&mut la.qkv, t, d, h, false);
        }
        attention_forward(&mut la.atty, &mut la.att, &la.qkv, b, t, d, h);
        matmul_forward(
            &mut la.proj,
            &la.atty,
            param(params, layout, &name("attn.proj")),
            n,
            d,
            d,
        );
        add(&mut la.x_mid, x, &la.proj);
        norm_forward(
            cfg,
            &mut la.ln2,
            &mut la.ln2_stats,
            &la.x_mid,
            param(params, layout, &name("ln2.g")),
            maybe(params, layout, &name("ln2.b")),
        );
        matmul_forward(
            &mut la.fc,
            &la.ln2,
            param(params, layout, &name("mlp.fc")),
            n,
            d,
            fc_out,
        );
        match cfg.mlp {
            Mlp::Gelu => gelu_forward_keep(&mut la.act, &mut la.tanh, &la.fc),
            Mlp::Swiglu => swiglu_forward(&mut la.act, &la.fc, f),
        }
        matmul_forward(
            &mut la.proj,
            &la.act,
            param(params, layout, &name("mlp.proj")),
            n,
            f,
            d,
        );
        add(x_next, &la.x_mid, &la.proj);
    }
    norm_forward(
        cfg,
        &mut acts.lnf,
        &mut acts.lnf_stats,
        &acts.x[cfg.n_layer],
        param(params, layout, "lnf.g"),
        maybe(params, layout, "lnf.b"),
    );
    // The language-model head as a D×V matrix: lm_head, or wteᵀ when tied.
    if cfg.tie_embeddings {
        transpose(&mut acts.head, param(params, layout, "wte"), VOCAB, d);
    } else {
        acts.head.copy_from_slice(param(params, layout, "lm_head"));
    }
    matmul_forward(&mut acts.logits, &acts.lnf, &acts.head, n, d, VOCAB);
    crossentropy_forward(&mut acts.probs, &acts.logits, targets, VOCAB)
}

/// The backward pass's buffers, reused across steps by [`backward_with`].
#[derive(Default)]
pub struct Scratch {
    dlogits: Vec<f32>,
    /// A weight transposed (OC×C) for its input gradient.
    wt: Vec<f32>,
    /// The gradient of the residual stream (N×D) and of its branch inputs.
    dx: Vec<f32>,
    dmid: Vec<f32>,
    dnorm: Vec<f32>,
    dbranch: Vec<f32>,
    dact: Vec<f32>,
    dfc: Vec<f32>,
    dqkv: Vec<f32>,
    dwte: Vec<f32>,
    dwpe: Vec<f32>,
}

/// `v` resized to `len` (its contents are overwritten by the caller).
fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.resize(len, 0.0);
    &mut v[..len]
}

/// Backward pass: accumulates every parameter's gradient of the mean cross-entropy into
/// `grads` (same layout as the parameters).
pub fn backward(
    cfg: &ModelConfig,
    layout: &Layout,
    params: &[f32],
    grads: &mut [f32],
    acts: &Activations,
    tokens: &[u8],
    targets: &[u8],
) {
    let mut scratch = Scratch::default();
    backward_with(
        &mut scratch,
        cfg,
        layout,
        params,
        grads,
        acts,
        tokens,
        targets,
    );
}

/// [`backward`] with buffers reused from earlier calls.
#[allow(clippy::too_many_arguments)]
pub fn backward_with(
    s: &mut Scratch,
    cfg: &ModelConfig,
    layout: &Layout,
    params: &[f32],
    grads: &mut [f32],
    acts: &Activations,
    tokens: &[u8],
    targets: &[u8],
) {
    let (d, h, f) = (cfg.d_model, cfg.n_head, cfg.d_ff);
    let (b, t) = (acts.b, acts.t);
    let n = b * t;
    let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
    let dlogits = sized(&mut s.dlogits, n * VOCAB);
    crossentropy_backward(dlogits, &acts.probs, targets, VOCAB);
    // The head: dlnf = dlogits·headᵀ, where headᵀ (V×D) is wte itself when tied; the head's
    // gradient lnfᵀ·dlogits, which for a tied head goes to wte transposed: dlogitsᵀ·lnf
    // (the same products, summed over the rows in the same order).
    let dlnf = sized(&mut s.dnorm, n * d);
    if cfg.tie_embeddings {
        matmul(dlnf, dlogits, param(params, layout, "wte"), n, VOCAB, d);
        matmul_tn_acc(
            param_mut(grads, layout, "wte"),
            dlogits,
            &acts.lnf,
            VOCAB,
            n,
            d,
        );
    } else {
        let wt = sized(&mut s.wt, VOCAB * d);
        transpose(wt, &acts.head, d, VOCAB);
        matmul_backward_t(
            dlnf,
            param_mut(grads, layout, "lm_head"),
            dlogits,
            &acts.lnf,
            wt,
            n,
            d,
            VOCAB,
        );
    }
    let dx = sized(&mut s.dx, n * d);
    norm_backward(
        cfg,
        dx,
        grads,
        layout,
        "lnf",
        dlnf,
        &acts.x[cfg.n_layer],
        params,
        &acts.lnf_stats,
    );
    // A linear layer's input gradient (overwritten) and weight gradient (accumulated).
    let linear = |wt: &mut Vec<f32>,
                  grads: &mut [f32],
                  name: &str,
                  dinp: &mut [f32],
                  dout: &[f32],
                  inp: &[f32],
                  c: usize,
                  oc: usize| {
        let wt = sized(wt, oc * c);
        transpose(wt, param(params, layout, name), c, oc);
        matmul_backward_t(
            dinp,
            param_mut(grads, layout, name),
            dout,
            inp,
            wt,
            n,
            c,
            oc,
        );
    };
    for l in (0..cfg.n_layer).rev() {
        let name = |s: &str| format!("h.{l}.{s}");
        let la = &acts.layers[l];
        // MLP branch: x_next = x_mid + mlp(norm2(x_mid)).
        let dact = sized(&mut s.dact, n * f);
        linear(&mut s.wt, grads, &name("mlp.proj"), dact, dx, &la.act, f, d);
        let dfc = sized(&mut s.dfc, n * fc_out);
        match cfg.mlp {
            Mlp::Gelu => gelu_backward_kept(dfc, &la.fc, &la.tanh, dact),
            Mlp::Swiglu => swiglu_backward(dfc, &la.fc, dact, f),
        }
        let dln2 = sized(&mut s.dnorm, n * d);
        linear(
            &mut s.wt,
            grads,
            &name("mlp.fc"),
            dln2,
            dfc,
            &la.ln2,
            d,
            fc_out,
        );
        let dmid = sized(&mut s.dmid, n * d);
        norm_backward(
            cfg,
            dmid,
            grads,
            layout,
            &format!("h.{l}.ln2"),
            dln2,
            &la.x_mid,
            params,
            &la.ln2_stats,
        );
        for (a, b) in dmid.iter_mut().zip(dx.iter()) {
            *a += b;
        }
        // Attention branch: x_mid = x + proj(attention(qkv(norm1(x)))).
        let datty = sized(&mut s.dbranch, n * d);
        linear(
            &mut s.wt,
            grads,
            &name("attn.proj"),
            datty,
            dmid,
            &la.atty,
            d,
            d,
        );
        let dqkv = sized(&mut s.dqkv, n * 3 * d);
        attention_backward(dqkv, datty, &la.qkv, &la.att, b, t, d, h);
        if cfg.pos == Pos::Rope {
            rope_backward(dqkv, t, d, h);
        }
        let dln1 = sized(&mut s.dnorm, n * d);
        linear(
            &mut s.wt,
            grads,
            &name("attn.qkv"),
            dln1,
            dqkv,
            &la.ln1,
            d,
            3 * d,
        );
        // dx ← norm1's input gradient + dmid.
        norm_backward(
            cfg,
            dx,
            grads,
            layout,
            &format!("h.{l}.ln1"),
            dln1,
            &acts.x[l],
            params,
            &la.ln1_stats,
        );
        for (a, b) in dx.iter_mut().zip(dmid.iter()) {
            *a += b;
        }
    }
    let dwte = sized(&mut s.dwte, VOCAB * d);
    dwte.fill(0.0);
    let dwpe = sized(&mut s.dwpe, cfg.ctx * d);
    dwpe.fill(0.0);
    let learned = cfg.pos == Pos::Learned;
    encoder_backward(
        dwte,
        if learned { Some(&mut *dwpe) } else { None },
        dx,
        tokens,
        t,
        d,
    );
    add_into(grads, layout, "wte", dwte);
    if learned {
        add_into(grads, layout, "wpe", dwpe);
    }
}

/// What the CPU path holds for this model trained on batches of `b` sequences, in bytes,
/// computed before anything is allocated (the CLI refuses what exceeds the machine):
/// the parameters; their gradients, AdamW's two moments and the copies a run keeps (the
/// anchor of fine-tuning, the pre-trained and initial weights, a saved state); the
/// activations the forward pass keeps for the backward pass, with the backward pass's
/// scratch; and the token batches.
pub fn cpu_memory_estimate(
    cfg: &ModelConfig,
    b: usize,
    eval_batches: usize,
) -> super::gpu::MemoryEstimate {
    let bytes = |floats: usize| (floats as u64).saturating_mul(4);
    let p = Layout::new(cfg).total;
    let (d, h, f, t) = (cfg.d_model, cfg.n_head, cfg.d_ff, cfg.ctx);
    let n = b.saturating_mul(t);
    let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
    let att = b.saturating_mul(h).saturating_mul(t).saturating_mul(t);
    let per_layer = n.saturating_mul(8 * d + 4 + fc_out + f).saturating_add(att);
    // Kept across steps as well: each layer's projection output and GELU's tanh, the head.
    let tanh = if cfg.mlp == Mlp::Gelu { f } else { 0 };
    let kept_extra = n
        .saturating_mul(d + tanh)
        .saturating_mul(cfg.n_layer)
        .saturating_add(d * VOCAB);
    let logits = n.saturating_mul(VOCAB);
    let kept = per_layer
        .saturating_mul(cfg.n_layer)
        .saturating_add(n.saturating_mul(d + 2))
        .saturating_add(logits.saturating_mul(2))
        .saturating_add(kept_extra);
    // The backward pass: a layer's worth of gradients, the logits' gradient, the head.
    let scratch = per_layer
        .saturating_add(logits)
        .saturating_add(2 * d * VOCAB);
    let (largest_buffer, largest) = [
        ("attention weights", att),
        ("logits", logits),
        ("parameters", p),
    ]
    .into_iter()
    .max_by_key(|x| x.1)
    .expect("three buffers");
    super::gpu::MemoryEstimate {
        parameters: bytes(p),
        optimizer: bytes(p.saturating_mul(7)),
        activations: bytes(kept.saturating_add(scratch)),
        data: (n.saturating_add(b)).saturating_mul(2 + eval_batches) as u64,
        largest_buffer: largest_buffer.to_string(),
        largest_bytes: bytes(largest),
    }
}
