//! The whole model on the CPU (the reference of the GPU path and the fallback): forward to
//! the mean cross-entropy, backward to every parameter's gradient, built from the layer
//! pairs of [`super::layers`] over the flat buffers of [`super::params::Layout`].

use super::config::{Mlp, ModelConfig, Norm, Pos};
use super::layers::*;
use super::params::Layout;
use crate::data::VOCAB;

/// Everything the backward pass needs from the forward pass, for B sequences of T bytes.
pub struct Activations {
    pub b: usize,
    pub t: usize,
    /// Residual stream entering each layer, and leaving the last (n_layer + 1 entries).
    x: Vec<Vec<f32>>,
    ln1: Vec<Vec<f32>>,
    ln1_stats: Vec<(Vec<f32>, Vec<f32>)>,
    qkv: Vec<Vec<f32>>,
    att: Vec<Vec<f32>>,
    atty: Vec<Vec<f32>>,
    x_mid: Vec<Vec<f32>>,
    ln2: Vec<Vec<f32>>,
    ln2_stats: Vec<(Vec<f32>, Vec<f32>)>,
    fc: Vec<Vec<f32>>,
    act: Vec<Vec<f32>>,
    lnf: Vec<f32>,
    lnf_stats: (Vec<f32>, Vec<f32>),
    pub logits: Vec<f32>,
    pub probs: Vec<f32>,
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

fn maybe<'a>(params: &'a [f32], layout: &Layout, name: &str) -> Option<&'a [f32]> {
    layout
        .tensors
        .iter()
        .find(|t| t.name == name)
        .map(|t| &params[t.range()])
}

/// The language-model head as a D×V matrix: lm_head, or wteᵀ when tied.
fn head_weight(cfg: &ModelConfig, params: &[f32], layout: &Layout) -> Vec<f32> {
    if cfg.tie_embeddings {
        let mut w = vec![0.0; cfg.d_model * VOCAB];
        crate::cpu::transpose(&mut w, param(params, layout, "wte"), VOCAB, cfg.d_model);
        w
    } else {
        param(params, layout, "lm_head").to_vec()
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
    let (d, h, f) = (cfg.d_model, cfg.n_head, cfg.d_ff);
    let n = b * t;
    assert!(tokens.len() == n && targets.len() == n && t <= cfg.ctx);
    let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
    let stats = || (vec![0.0; n], vec![0.0; n]);
    let mut acts = Activations {
        b,
        t,
        x: Vec::new(),
        ln1: Vec::new(),
        ln1_stats: Vec::new(),
        qkv: Vec::new(),
        att: Vec::new(),
        atty: Vec::new(),
        x_mid: Vec::new(),
        ln2: Vec::new(),
        ln2_stats: Vec::new(),
        fc: Vec::new(),
        act: Vec::new(),
        lnf: vec![0.0; n * d],
        lnf_stats: stats(),
        logits: vec![0.0; n * VOCAB],
        probs: vec![0.0; n * VOCAB],
    };
    let mut x = vec![0.0; n * d];
    let wpe = if cfg.pos == Pos::Learned {
        Some(param(params, layout, "wpe"))
    } else {
        None
    };
    encoder_forward(&mut x, tokens, param(params, layout, "wte"), wpe, t, d);
    for l in 0..cfg.n_layer {
        let name = |s: &str| format!("h.{l}.{s}");
        let mut ln1 = vec![0.0; n * d];
        let mut st1 = stats();
        norm_forward(
            cfg,
            &mut ln1,
            &mut st1,
            &x,
            param(params, layout, &name("ln1.g")),
            maybe(params, layout, &name("ln1.b")),
        );
        let mut qkv = vec![0.0; n * 3 * d];
        matmul_forward(
            &mut qkv,
            &ln1,
            param(params, layout, &name("attn.qkv")),
            n,
            d,
            3 * d,
        );
        if cfg.pos == Pos::Rope {
            rope_forward(&mut qkv, t, d, h, false);
        }
        let (mut atty, mut att) = (vec![0.0; n * d], vec![0.0; b * h * t * t]);
        attention_forward(&mut atty, &mut att, &qkv, b, t, d, h);
        let mut proj = vec![0.0; n * d];
        matmul_forward(
            &mut proj,
            &atty,
            param(params, layout, &name("attn.proj")),
            n,
            d,
            d,
        );
        let x_mid: Vec<f32> = x.iter().zip(&proj).map(|(a, p)| a + p).collect();
        let mut ln2 = vec![0.0; n * d];
        let mut st2 = stats();
        norm_forward(
            cfg,
            &mut ln2,
            &mut st2,
            &x_mid,
            param(params, layout, &name("ln2.g")),
            maybe(params, layout, &name("ln2.b")),
        );
        let mut fc = vec![0.0; n * fc_out];
        matmul_forward(
            &mut fc,
            &ln2,
            param(params, layout, &name("mlp.fc")),
            n,
            d,
            fc_out,
        );
        let mut act = vec![0.0; n * f];
        match cfg.mlp {
            Mlp::Gelu => gelu_forward(&mut act, &fc),
            Mlp::Swiglu => swiglu_forward(&mut act, &fc, f),
        }
        let mut mlp = vec![0.0; n * d];
        matmul_forward(
            &mut mlp,
            &act,
            param(params, layout, &name("mlp.proj")),
            n,
            f,
            d,
        );
        let x_next: Vec<f32> = x_mid.iter().zip(&mlp).map(|(a, m)| a + m).collect();
        acts.x.push(std::mem::replace(&mut x, x_next));
        acts.ln1.push(ln1);
        acts.ln1_stats.push(st1);
        acts.qkv.push(qkv);
        acts.att.push(att);
        acts.atty.push(atty);
        acts.x_mid.push(x_mid);
        acts.ln2.push(ln2);
        acts.ln2_stats.push(st2);
        acts.fc.push(fc);
        acts.act.push(act);
    }
    norm_forward(
        cfg,
        &mut acts.lnf,
        &mut acts.lnf_stats,
        &x,
        param(params, layout, "lnf.g"),
        maybe(params, layout, "lnf.b"),
    );
    acts.x.push(x);
    matmul_forward(
        &mut acts.logits,
        &acts.lnf,
        &head_weight(cfg, params, layout),
        n,
        d,
        VOCAB,
    );
    let loss = crossentropy_forward(&mut acts.probs, &acts.logits, targets, VOCAB);
    (loss, acts)
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
    let (d, h, f) = (cfg.d_model, cfg.n_head, cfg.d_ff);
    let (b, t) = (acts.b, acts.t);
    let n = b * t;
    let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
    let mut dlogits = vec![0.0; n * VOCAB];
    crossentropy_backward(&mut dlogits, &acts.probs, targets, VOCAB);
    let head = head_weight(cfg, params, layout);
    let (mut dlnf, mut dhead) = (vec![0.0; n * d], vec![0.0; d * VOCAB]);
    matmul_backward(
        &mut dlnf, &mut dhead, &dlogits, &acts.lnf, &head, n, d, VOCAB,
    );
    if cfg.tie_embeddings {
        let mut dwte = vec![0.0; VOCAB * d];
        crate::cpu::transpose(&mut dwte, &dhead, d, VOCAB);
        add_into(grads, layout, "wte", &dwte);
    } else {
        add_into(grads, layout, "lm_head", &dhead);
    }
    let mut dx = vec![0.0; n * d];
    norm_backward(
        cfg,
        &mut dx,
        grads,
        layout,
        "lnf",
        &dlnf,
        &acts.x[cfg.n_layer],
        params,
        &acts.lnf_stats,
    );
    for l in (0..cfg.n_layer).rev() {
        let name = |s: &str| format!("h.{l}.{s}");
        // MLP branch: x_next = x_mid + mlp(norm2(x_mid)).
        let (mut dact, mut dw) = (vec![0.0; n * f], vec![0.0; f * d]);
        matmul_backward(
            &mut dact,
            &mut dw,
            &dx,
            &acts.act[l],
            param(params, layout, &name("mlp.proj")),
            n,
            f,
            d,
        );
        add_into(grads, layout, &name("mlp.proj"), &dw);
        let mut dfc = vec![0.0; n * fc_out];
        match cfg.mlp {
            Mlp::Gelu => gelu_backward(&mut dfc, &acts.fc[l], &dact),
            Mlp::Swiglu => swiglu_backward(&mut dfc, &acts.fc[l], &dact, f),
        }
        let (mut dln2, mut dw) = (vec![0.0; n * d], vec![0.0; d * fc_out]);
        matmul_backward(
            &mut dln2,
            &mut dw,
            &dfc,
            &acts.ln2[l],
            param(params, layout, &name("mlp.fc")),
            n,
            d,
            fc_out,
        );
        add_into(grads, layout, &name("mlp.fc"), &dw);
        let mut dmid = vec![0.0; n * d];
        norm_backward(
            cfg,
            &mut dmid,
            grads,
            layout,
            &format!("h.{l}.ln2"),
            &dln2,
            &acts.x_mid[l],
            params,
            &acts.ln2_stats[l],
        );
        for (a, b) in dmid.iter_mut().zip(&dx) {
            *a += b;
        }
        // Attention branch: x_mid = x + proj(attention(qkv(norm1(x)))).
        let (mut datty, mut dw) = (vec![0.0; n * d], vec![0.0; d * d]);
        matmul_backward(
            &mut datty,
            &mut dw,
            &dmid,
            &acts.atty[l],
            param(params, layout, &name("attn.proj")),
            n,
            d,
            d,
        );
        add_into(grads, layout, &name("attn.proj"), &dw);
        let mut dqkv = vec![0.0; n * 3 * d];
        attention_backward(&mut dqkv, &datty, &acts.qkv[l], &acts.att[l], b, t, d, h);
        if cfg.pos == Pos::Rope {
            rope_backward(&mut dqkv, t, d, h);
        }
        let (mut dln1, mut dw) = (vec![0.0; n * d], vec![0.0; d * 3 * d]);
        matmul_backward(
            &mut dln1,
            &mut dw,
            &dqkv,
            &acts.ln1[l],
            param(params, layout, &name("attn.qkv")),
            n,
            d,
            3 * d,
        );
        add_into(grads, layout, &name("attn.qkv"), &dw);
        let mut dx_prev = vec![0.0; n * d];
        norm_backward(
            cfg,
            &mut dx_prev,
            grads,
            layout,
            &format!("h.{l}.ln1"),
            &dln1,
            &acts.x[l],
            params,
            &acts.ln1_stats[l],
        );
        for (a, b) in dx_prev.iter_mut().zip(&dmid) {
            *a += b;
        }
        dx = dx_prev;
    }
    let mut dwte = vec![0.0; VOCAB * d];
    let mut dwpe = vec![0.0; cfg.ctx * d];
    let learned = cfg.pos == Pos::Learned;
    encoder_backward(
        &mut dwte,
        if learned { Some(&mut dwpe) } else { None },
        &dx,
        tokens,
        t,
        d,
    );
    add_into(grads, layout, "wte", &dwte);
    if learned {
        add_into(grads, layout, "wpe", &dwpe);
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
    let logits = n.saturating_mul(VOCAB);
    let kept = per_layer
        .saturating_mul(cfg.n_layer)
        .saturating_add(n.saturating_mul(d + 2))
        .saturating_add(logits.saturating_mul(2));
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
