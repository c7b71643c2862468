//! The whole model on the CPU (the reference of the GPU path and the fallback): forward to
//! the mean cross-entropy, backward to every parameter's gradient, built from the layer
//! pairs of [`crate::cpu::layers`] over the flat buffers of [`super::params::Layout`] (each
//! tensor by its typed slot, resolved once), and SAM's gradient from them. Its buffers follow one plan ([`Activations`]
//! and [`Scratch`] of lengths), which both allocation and `micro::cpu_memory_estimate` read.

use super::config::{Mlp, ModelConfig, Norm, Pos};
use super::params::{Layout, NormSlots, Slot};
use crate::cpu::layers::*;
use crate::cpu::{matmul, matmul_tn_acc, sam_ascent, sam_restore, transpose};
use crate::data::VOCAB;

/// Everything the backward pass needs from the forward pass, for B sequences of T bytes.
/// [`forward_into`] reuses one across steps (no allocation, no zeroing). `T` is the
/// buffer: `Vec<f32>`, or `usize` for the plan of their lengths ([`Activations::plan`]).
pub struct Activations<T = Vec<f32>> {
    /// The model they were made for.
    cfg: ModelConfig,
    pub b: usize,
    pub t: usize,
    /// Residual stream entering each layer, and leaving the last (n_layer + 1 entries).
    x: Vec<T>,
    layers: Vec<LayerActs<T>>,
    lnf: T,
    lnf_stats: (T, T),
    /// The head as a D×V matrix (wteᵀ when tied).
    head: T,
    pub logits: T,
    pub probs: T,
}

struct LayerActs<T> {
    ln1: T,
    /// A norm's (mean, 1/std) per row; RMSNorm uses only the second.
    ln1_stats: (T, T),
    qkv: T,
    att: T,
    atty: T,
    /// attn.proj's output, then MLP's (scratch).
    proj: T,
    x_mid: T,
    ln2: T,
    ln2_stats: (T, T),
    fc: T,
    act: T,
    /// GELU's tanh of each fc output, kept for the backward pass (empty for SwiGLU).
    tanh: T,
}

impl<T> LayerActs<T> {
    /// Every buffer with its name.
    fn named(&self) -> [(&'static str, &T); 14] {
        [
            ("ln1", &self.ln1),
            ("ln1 mean", &self.ln1_stats.0),
            ("ln1 rstd", &self.ln1_stats.1),
            ("qkv", &self.qkv),
            ("attention weights", &self.att),
            ("attention out", &self.atty),
            ("projection out", &self.proj),
            ("x mid", &self.x_mid),
            ("ln2", &self.ln2),
            ("ln2 mean", &self.ln2_stats.0),
            ("ln2 rstd", &self.ln2_stats.1),
            ("fc", &self.fc),
            ("activation", &self.act),
            ("gelu tanh", &self.tanh),
        ]
    }

    fn map<U>(&self, f: &impl Fn(&T) -> U) -> LayerActs<U> {
        LayerActs {
            ln1: f(&self.ln1),
            ln1_stats: (f(&self.ln1_stats.0), f(&self.ln1_stats.1)),
            qkv: f(&self.qkv),
            att: f(&self.att),
            atty: f(&self.atty),
            proj: f(&self.proj),
            x_mid: f(&self.x_mid),
            ln2: f(&self.ln2),
            ln2_stats: (f(&self.ln2_stats.0), f(&self.ln2_stats.1)),
            fc: f(&self.fc),
            act: f(&self.act),
            tanh: f(&self.tanh),
        }
    }
}

impl<T> Activations<T> {
    /// Every buffer with its name.
    pub(super) fn named(&self) -> Vec<(&'static str, &T)> {
        let mut all: Vec<(&'static str, &T)> = self.x.iter().map(|x| ("residual", x)).collect();
        for layer in &self.layers {
            all.extend(layer.named());
        }
        all.extend([
            ("lnf", &self.lnf),
            ("lnf mean", &self.lnf_stats.0),
            ("lnf rstd", &self.lnf_stats.1),
            ("head", &self.head),
            ("logits", &self.logits),
            ("probabilities", &self.probs),
        ]);
        all
    }

    fn map<U>(&self, f: impl Fn(&T) -> U) -> Activations<U> {
        Activations {
            cfg: self.cfg.clone(),
            b: self.b,
            t: self.t,
            x: self.x.iter().map(&f).collect(),
            layers: self.layers.iter().map(|l| l.map(&f)).collect(),
            lnf: f(&self.lnf),
            lnf_stats: (f(&self.lnf_stats.0), f(&self.lnf_stats.1)),
            head: f(&self.head),
            logits: f(&self.logits),
            probs: f(&self.probs),
        }
    }
}

impl Activations<usize> {
    /// The lengths of the buffers for `cfg` on batches of `b` sequences of `t` bytes.
    pub fn plan(cfg: &ModelConfig, b: usize, t: usize) -> Activations<usize> {
        let (d, h, f) = (cfg.d_model, cfg.n_head, cfg.d_ff);
        let n = b.saturating_mul(t);
        let nd = n.saturating_mul(d);
        let layer = LayerActs {
            ln1: nd,
            ln1_stats: (n, n),
            qkv: nd.saturating_mul(3),
            att: b.saturating_mul(h).saturating_mul(t).saturating_mul(t),
            atty: nd,
            proj: nd,
            x_mid: nd,
            ln2: nd,
            ln2_stats: (n, n),
            fc: n.saturating_mul(cfg.fc_width()),
            act: n.saturating_mul(f),
            tanh: if cfg.mlp == Mlp::Gelu {
                n.saturating_mul(f)
            } else {
                0
            },
        };
        Activations {
            cfg: cfg.clone(),
            b,
            t,
            x: vec![nd; cfg.n_layer + 1],
            layers: (0..cfg.n_layer).map(|_| layer.map(&|&len| len)).collect(),
            lnf: nd,
            lnf_stats: (n, n),
            head: d * VOCAB,
            logits: n.saturating_mul(VOCAB),
            probs: n.saturating_mul(VOCAB),
        }
    }
}

impl Activations {
    /// Buffers for `cfg` on batches of `b` sequences of `t` bytes (of [`Activations::plan`]).
    pub fn new(cfg: &ModelConfig, b: usize, t: usize) -> Activations {
        Activations::plan(cfg, b, t).map(|&len| vec![0.0f32; len])
    }

    fn fits(&self, cfg: &ModelConfig, b: usize, t: usize) -> bool {
        self.b == b && self.t == t && self.cfg == *cfg
    }
}

fn norm_forward(
    cfg: &ModelConfig,
    out: &mut [f32],
    stats: &mut (Vec<f32>, Vec<f32>),
    inp: &[f32],
    params: &[f32],
    norm: &NormSlots,
) {
    let d = cfg.d_model;
    let g = &params[norm.g.range()];
    match cfg.norm {
        Norm::Layernorm => {
            let b = &params[norm.b.expect("layernorm bias").range()];
            layernorm_forward(out, &mut stats.0, &mut stats.1, inp, g, b, d)
        }
        Norm::Rmsnorm => rmsnorm_forward(out, &mut stats.1, inp, g, d),
    }
}

#[allow(clippy::too_many_arguments)]
fn norm_backward(
    cfg: &ModelConfig,
    dinp: &mut [f32],
    grads: &mut [f32],
    norm: &NormSlots,
    dout: &[f32],
    inp: &[f32],
    params: &[f32],
    stats: &(Vec<f32>, Vec<f32>),
) {
    let d = cfg.d_model;
    let g = &params[norm.g.range()];
    match cfg.norm {
        Norm::Layernorm => {
            let (mut dg, mut db) = (vec![0.0; d], vec![0.0; d]);
            layernorm_backward(dinp, &mut dg, &mut db, dout, inp, g, &stats.0, &stats.1, d);
            add_into(grads, norm.g, &dg);
            add_into(grads, norm.b.expect("layernorm bias"), &db);
        }
        Norm::Rmsnorm => {
            let mut dg = vec![0.0; d];
            rmsnorm_backward(dinp, &mut dg, dout, inp, g, &stats.1, d);
            add_into(grads, norm.g, &dg);
        }
    }
}

fn add_into(grads: &mut [f32], slot: Slot, g: &[f32]) {
    crate::cpu::add_into(&mut grads[slot.range()], g);
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
    let fc_out = cfg.fc_width();
    if !acts.fits(cfg, b, t) {
        *acts = Activations::new(cfg, b, t);
    }
    let p = |slot: Slot| &params[slot.range()];
    encoder_forward(
        &mut acts.x[0],
        tokens,
        p(layout.wte),
        layout.wpe.map(p),
        t,
        d,
    );
    for (l, w) in layout.layers.iter().enumerate() {
        let (done, next) = acts.x.split_at_mut(l + 1);
        let (x, x_next) = (&done[l], &mut next[0]);
        let la = &mut acts.layers[l];
        norm_forward(cfg, &mut la.ln1, &mut la.ln1_stats, x, params, &w.ln1);
        matmul_forward(&mut la.qkv, &la.ln1, p(w.qkv), n, d, 3 * d);
        if cfg.pos == Pos::Rope {
            rope_forward(&mut la.qkv, t, d, h, false);
        }
        attention_forward(&mut la.atty, &mut la.att, &la.qkv, b, t, d, h);
        matmul_forward(&mut la.proj, &la.atty, p(w.attn_proj), n, d, d);
        crate::cpu::add(&mut la.x_mid, x, &la.proj);
        norm_forward(
            cfg,
            &mut la.ln2,
            &mut la.ln2_stats,
            &la.x_mid,
            params,
            &w.ln2,
        );
        matmul_forward(&mut la.fc, &la.ln2, p(w.fc), n, d, fc_out);
        match cfg.mlp {
            Mlp::Gelu => gelu_forward_keep(&mut la.act, &mut la.tanh, &la.fc),
            Mlp::Swiglu => swiglu_forward(&mut la.act, &la.fc, f),
        }
        matmul_forward(&mut la.proj, &la.act, p(w.mlp_proj), n, f, d);
        crate::cpu::add(x_next, &la.x_mid, &la.proj);
    }
    norm_forward(
        cfg,
        &mut acts.lnf,
        &mut acts.lnf_stats,
        &acts.x[cfg.n_layer],
        params,
        &layout.lnf,
    );
    // The language-model head as a D×V matrix: lm_head, or wteᵀ when tied.
    match layout.lm_head {
        None => transpose(&mut acts.head, p(layout.wte), VOCAB, d),
        Some(head) => acts.head.copy_from_slice(p(head)),
    }
    matmul_forward(&mut acts.logits, &acts.lnf, &acts.head, n, d, VOCAB);
    crossentropy_forward(&mut acts.probs, &acts.logits, targets, VOCAB)
}

/// The backward pass's buffers, reused across steps by [`backward_with`]: `Vec<f32>`, or
/// `usize` for the plan of their lengths ([`Scratch::plan`]).
pub struct Scratch<T = Vec<f32>> {
    dlogits: T,
    /// A weight transposed (OC×C) for its input gradient.
    wt: T,
    /// The gradient of the residual stream (N×D) and of its branch inputs.
    dx: T,
    dmid: T,
    dnorm: T,
    dbranch: T,
    dact: T,
    dfc: T,
    dqkv: T,
    dwte: T,
    dwpe: T,
}

impl<T> Scratch<T> {
    /// Every buffer with its name.
    pub(super) fn named(&self) -> [(&'static str, &T); 11] {
        [
            ("logits' gradient", &self.dlogits),
            ("weight transposed", &self.wt),
            ("residual gradient", &self.dx),
            ("x mid gradient", &self.dmid),
            ("norm gradient", &self.dnorm),
            ("branch gradient", &self.dbranch),
            ("activation gradient", &self.dact),
            ("fc gradient", &self.dfc),
            ("qkv gradient", &self.dqkv),
            ("wte gradient", &self.dwte),
            ("wpe gradient", &self.dwpe),
        ]
    }
}

impl Scratch<usize> {
    /// The lengths of the backward pass's buffers for `cfg` on `b` sequences of `t` bytes.
    pub fn plan(cfg: &ModelConfig, b: usize, t: usize) -> Scratch<usize> {
        let (d, f) = (cfg.d_model, cfg.d_ff);
        let n = b.saturating_mul(t);
        let nd = n.saturating_mul(d);
        // The largest weight transposed: the untied head, mlp.fc or mlp.proj, attn.qkv.
        let head = if cfg.tie_embeddings { 0 } else { VOCAB * d };
        Scratch {
            dlogits: n.saturating_mul(VOCAB),
            wt: head.max(d * cfg.fc_width()).max(3 * d * d),
            dx: nd,
            dmid: nd,
            dnorm: nd,
            dbranch: nd,
            dact: n.saturating_mul(f),
            dfc: n.saturating_mul(cfg.fc_width()),
            dqkv: nd.saturating_mul(3),
            dwte: VOCAB * d,
            dwpe: cfg.ctx.saturating_mul(d),
        }
    }
}

impl Scratch {
    /// The buffers of [`Scratch::plan`].
    pub fn new(cfg: &ModelConfig, b: usize, t: usize) -> Scratch {
        let p = Scratch::plan(cfg, b, t);
        let z = |len: usize| vec![0.0f32; len];
        Scratch {
            dlogits: z(p.dlogits),
            wt: z(p.wt),
            dx: z(p.dx),
            dmid: z(p.dmid),
            dnorm: z(p.dnorm),
            dbranch: z(p.dbranch),
            dact: z(p.dact),
            dfc: z(p.dfc),
            dqkv: z(p.dqkv),
            dwte: z(p.dwte),
            dwpe: z(p.dwpe),
        }
    }
}

/// `v` resized to `len` (its contents are overwritten by the caller); sized by the plan,
/// it grows only when a smaller batch's scratch meets a larger one.
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
    let mut scratch = Scratch::new(cfg, acts.b, acts.t);
    backward_with(
        &mut scratch,
        cfg,
        layout,
        params,
        grads,
        acts,
        tokens,
        targets,
        acts.b * acts.t,
    );
}

/// [`backward`] with buffers reused from earlier calls, for a loss that is the mean over
/// `mean_over` rows: these activations' own (b·t), or a whole batch's of which they are
/// one micro-batch ([`super::micro`]).
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
    mean_over: usize,
) {
    let (d, h, f) = (cfg.d_model, cfg.n_head, cfg.d_ff);
    let (b, t) = (acts.b, acts.t);
    let n = b * t;
    let fc_out = cfg.fc_width();
    let dlogits = sized(&mut s.dlogits, n * VOCAB);
    crossentropy_backward(dlogits, &acts.probs, targets, VOCAB, mean_over);
    // The head: dlnf = dlogits·headᵀ, where headᵀ (V×D) is wte itself when tied; the head's
    // gradient lnfᵀ·dlogits, which for a tied head goes to wte transposed: dlogitsᵀ·lnf
    // (the same products, summed over the rows in the same order).
    let dlnf = sized(&mut s.dnorm, n * d);
    match layout.lm_head {
        None => {
            matmul(dlnf, dlogits, &params[layout.wte.range()], n, VOCAB, d);
            matmul_tn_acc(
                &mut grads[layout.wte.range()],
                dlogits,
                &acts.lnf,
                VOCAB,
                n,
                d,
            );
        }
        Some(head) => {
            let wt = sized(&mut s.wt, VOCAB * d);
            transpose(wt, &acts.head, d, VOCAB);
            matmul_backward_t(
                dlnf,
                &mut grads[head.range()],
                dlogits,
                &acts.lnf,
                wt,
                n,
                d,
                VOCAB,
            );
        }
    }
    let dx = sized(&mut s.dx, n * d);
    norm_backward(
        cfg,
        dx,
        grads,
        &layout.lnf,
        dlnf,
        &acts.x[cfg.n_layer],
        params,
        &acts.lnf_stats,
    );
    // A linear layer's input gradient (overwritten) and weight gradient (accumulated).
    let linear = |wt: &mut Vec<f32>,
                  grads: &mut [f32],
                  w: Slot,
                  dinp: &mut [f32],
                  dout: &[f32],
                  inp: &[f32],
                  c: usize,
                  oc: usize| {
        let wt = sized(wt, oc * c);
        transpose(wt, &params[w.range()], c, oc);
        matmul_backward_t(dinp, &mut grads[w.range()], dout, inp, wt, n, c, oc);
    };
    for (l, w) in layout.layers.iter().enumerate().rev() {
        let la = &acts.layers[l];
        // MLP branch: x_next = x_mid + mlp(norm2(x_mid)).
        let dact = sized(&mut s.dact, n * f);
        linear(&mut s.wt, grads, w.mlp_proj, dact, dx, &la.act, f, d);
        let dfc = sized(&mut s.dfc, n * fc_out);
        match cfg.mlp {
            Mlp::Gelu => gelu_backward_kept(dfc, &la.fc, &la.tanh, dact),
            Mlp::Swiglu => swiglu_backward(dfc, &la.fc, dact, f),
        }
        let dln2 = sized(&mut s.dnorm, n * d);
        linear(&mut s.wt, grads, w.fc, dln2, dfc, &la.ln2, d, fc_out);
        let dmid = sized(&mut s.dmid, n * d);
        norm_backward(
            cfg,
            dmid,
            grads,
            &w.ln2,
            dln2,
            &la.x_mid,
            params,
            &la.ln2_stats,
        );
        crate::cpu::add_into(dmid, dx);
        // Attention branch: x_mid = x + proj(attention(qkv(norm1(x)))).
        let datty = sized(&mut s.dbranch, n * d);
        linear(&mut s.wt, grads, w.attn_proj, datty, dmid, &la.atty, d, d);
        let dqkv = sized(&mut s.dqkv, n * 3 * d);
        attention_backward(dqkv, datty, &la.qkv, &la.att, b, t, d, h);
        if cfg.pos == Pos::Rope {
            rope_backward(dqkv, t, d, h);
        }
        let dln1 = sized(&mut s.dnorm, n * d);
        linear(&mut s.wt, grads, w.qkv, dln1, dqkv, &la.ln1, d, 3 * d);
        // dx ← norm1's input gradient + dmid.
        norm_backward(
            cfg,
            dx,
            grads,
            &w.ln1,
            dln1,
            &acts.x[l],
            params,
            &la.ln1_stats,
        );
        crate::cpu::add_into(dx, dmid);
    }
    let dwte = sized(&mut s.dwte, VOCAB * d);
    dwte.fill(0.0);
    let dwpe = sized(&mut s.dwpe, cfg.ctx * d);
    dwpe.fill(0.0);
    encoder_backward(dwte, layout.wpe.map(|_| &mut *dwpe), dx, tokens, t, d);
    add_into(grads, layout.wte, dwte);
    if let Some(wpe) = layout.wpe {
        add_into(grads, wpe, dwpe);
    }
}

/// SAM's gradient (sharpness-aware minimization, Foret et al. 2021): with `grads` holding the
/// gradient g at `params` = w, moves w uphill to w + ρ·g/‖g‖ ([`sam_ascent`], saving w in
/// `saved`), takes the gradient there into `grads` with `gradient(params, grads)` (the
/// forward and backward passes again, on the same batch), and restores w exactly
/// ([`sam_restore`]). The ascent's ε is held fixed: the gradient is ∇L(w + ε), not the
/// derivative through ε.
pub fn sam_gradient(
    saved: &mut [f32],
    params: &mut [f32],
    grads: &mut [f32],
    rho: f32,
    gradient: impl FnOnce(&[f32], &mut [f32]),
) {
    sam_ascent(rho, params, grads, saved);
    gradient(params, grads);
    sam_restore(params, saved);
}
