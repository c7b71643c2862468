//! The transformer on the GPU: parameters, gradients and AdamW moments in flat buffers with
//! the named offsets of [`Layout`] (llm.c style), every activation in its own buffer, and a
//! whole training step — forward, backward, gradient clipping, update — recorded at once
//! and submitted in parts, one per transformer block forward and backward (so that no
//! submission runs long; see [`Recorder::end_part`]). Losses stay on the GPU in a small
//! ring of slots that the host reads back every [`READBACK_EVERY`] steps; a step guard on
//! the GPU stops the updates at the first non-finite loss or gradient, so no read-back is
//! needed per step.
//!
//! The step, top to bottom, mirrors [`super::model::forward`]/[`super::model::backward`]
//! and [`super::train::train_cpu`], layer for layer.

use super::config::{Mlp, ModelConfig, Norm, Pos};
use super::kernels::*;
use super::optim::{
    adamw, decay_bits, l2_pull, step_guard, AdamW, Guard, Hyper, BETA1, BETA2, EPS,
};
use super::params::{Layout, TensorInfo};
use crate::data::{inputs_and_targets, VOCAB};
use crate::error::{ConfigError, Error};
use crate::gpu::kernels as generic;
use crate::gpu::{Gpu, GpuError, Program, Recorder, Tensor};
use std::sync::Mutex;

/// Training steps between loss read-backs (the loss ring's size).
pub const READBACK_EVERY: usize = 16;

/// What a configuration needs on the GPU, in bytes, computed before anything is
/// allocated; the CLI and the page show it before training starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MemoryEstimate {
    /// The parameters.
    pub parameters: u64,
    /// Gradients, AdamW's two moments, the decay mask and the norm partial sums.
    pub optimizer: u64,
    /// Activations kept for the backward pass, and the backward pass's scratch.
    pub activations: u64,
    /// Token batches (training and held-out), the loss slots and the rotation table.
    pub data: u64,
    /// The largest single buffer: it must fit the adapter's buffer limits.
    pub largest_buffer: String,
    pub largest_bytes: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.parameters + self.optimizer + self.activations + self.data
    }

    /// The adapter's per-buffer limits, checked before allocating.
    pub fn check(&self, limits: &wgpu::Limits) -> Result<(), GpuError> {
        for (limit, max) in [
            ("max_buffer_size", limits.max_buffer_size),
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            ),
        ] {
            if self.largest_bytes > max {
                return Err(GpuError::Limit {
                    limit,
                    requested: self.largest_bytes,
                    max,
                });
            }
        }
        Ok(())
    }

    /// [`MemoryEstimate::check`] as the user sees it: a configuration too large for the
    /// adapter is bad input (a config error on `model` naming the limit and the sizes).
    pub fn fits(&self, limits: &wgpu::Limits) -> Result<(), Error> {
        self.check(limits).map_err(|e| {
            Error::Config(ConfigError::new(
                "model",
                format!("the configuration does not fit the GPU: {e}"),
            ))
        })
    }

    /// "params 0.1 MB, optimizer 0.4 MB, activations 20.3 MB, data 0.1 MB: 21 MB".
    pub fn describe(&self) -> String {
        let mb = |b: u64| b as f64 / 1e6;
        format!(
            "params {:.1} MB, optimizer {:.1} MB, activations {:.1} MB, data {:.1} MB: {:.1} MB \
             in all (largest buffer: {} {:.1} MB)",
            mb(self.parameters),
            mb(self.optimizer),
            mb(self.activations),
            mb(self.data),
            mb(self.total()),
            self.largest_buffer,
            mb(self.largest_bytes)
        )
    }
}

/// Every buffer's name and length in 4-byte words, in groups (one list for allocation and
/// for the estimate, so they cannot disagree).
struct Plan {
    parameters: Vec<(&'static str, u64)>,
    optimizer: Vec<(&'static str, u64)>,
    activations: Vec<(&'static str, u64)>,
    data: Vec<(&'static str, u64)>,
}

fn plan(cfg: &ModelConfig, b: usize, eval_batches: usize) -> Plan {
    // u64 throughout: absurd configs must be measured and refused, not overflow (wasm32).
    let w = |x: usize| x as u64;
    let p = w(Layout::new(cfg).total);
    let (d, f, t, h, l) = (
        w(cfg.d_model),
        w(cfg.d_ff),
        w(cfg.ctx),
        w(cfg.n_head),
        cfg.n_layer,
    );
    let n = w(b) * t;
    let v = w(VOCAB);
    let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
    let att = w(b) * h * t * t;
    let batch = 3 * n + v + 1;
    let per_layer = [
        ("x", n * d),
        ("ln1", n * d),
        ("ln1 stats", 2 * n),
        ("qkv", 3 * n * d),
        ("qkv heads", 3 * n * d),
        ("attention", att),
        ("attention out", n * d),
        ("x mid", n * d),
        ("ln2", n * d),
        ("ln2 stats", 2 * n),
        ("fc", n * fc_out),
        ("act", n * f),
    ];
    let mut activations = Vec::new();
    for _ in 0..l {
        activations.extend(per_layer);
    }
    activations.extend([
        ("x final", n * d),
        ("lnf", n * d),
        ("lnf stats", 2 * n),
        ("logits", n * v),
        ("probs", n * v),
        ("row losses", n),
        ("dx", n * d),
        ("dln", n * d),
        ("branch", n * d),
        ("dqkv", 3 * n * d),
        ("dattention", att),
        ("dfc", n * fc_out),
        ("dact", n * f),
    ]);
    let e = w(eval_batches.max(1));
    Plan {
        parameters: vec![("parameters", p)],
        optimizer: vec![
            ("gradients", p),
            ("adam m", p),
            ("adam v", p),
            ("l2 anchor", p),
            ("decay mask", p.div_ceil(32)),
            (
                "norm partials",
                super::optim::sumsq_partials(p as usize) as u64,
            ),
            ("guard", 4),
        ],
        activations,
        data: vec![
            ("batch", batch),
            ("held-out batches", e * batch),
            ("losses", w(READBACK_EVERY) + e),
            (
                "rope table",
                if cfg.pos == Pos::Rope { t * (d / h) } else { 0 },
            ),
        ],
    }
}

/// The GPU memory of a model trained on batches of `b` sequences with `eval_batches`
/// held-out batches.
pub fn memory_estimate(cfg: &ModelConfig, b: usize, eval_batches: usize) -> MemoryEstimate {
    let plan = plan(cfg, b, eval_batches);
    let bytes = |v: &[(&str, u64)]| v.iter().map(|(_, n)| 4 * n).sum::<u64>();
    let (name, largest) = plan
        .parameters
        .iter()
        .chain(&plan.optimizer)
        .chain(&plan.activations)
        .chain(&plan.data)
        .fold(
            ("", 0),
            |best, &(name, n)| if n > best.1 { (name, n) } else { best },
        );
    MemoryEstimate {
        parameters: bytes(&plan.parameters),
        optimizer: bytes(&plan.optimizer),
        activations: bytes(&plan.activations),
        data: bytes(&plan.data),
        largest_buffer: name.to_string(),
        largest_bytes: 4 * largest,
    }
}

/// What one layer keeps from the forward pass.
struct LayerActs {
    x: Tensor,
    ln1: Tensor,
    ln1_stats: Tensor,
    qkv: Tensor,
    qkvh: Tensor,
    att: Tensor,
    atty: Tensor,
    x_mid: Tensor,
    ln2: Tensor,
    ln2_stats: Tensor,
    fc: Tensor,
    act: Tensor,
}

/// A model's buffers on one device, for batches of `b` sequences of `ctx` bytes.
pub struct GpuModel {
    pub cfg: ModelConfig,
    pub layout: Layout,
    pub b: usize,
    pub t: usize,
    pub params: Tensor,
    pub grads: Tensor,
    m: Tensor,
    v: Tensor,
    /// The weights the L2 term of fine-tuning pulls toward.
    anchor: Tensor,
    decay: wgpu::Buffer,
    partials: Tensor,
    guard: wgpu::Buffer,
    rope: Option<Tensor>,
    batch: wgpu::Buffer,
    eval_batches: wgpu::Buffer,
    eval_count: usize,
    /// READBACK_EVERY training slots, then one per held-out batch.
    pub losses: Tensor,
    layers: Vec<LayerActs>,
    x_final: Tensor,
    lnf: Tensor,
    lnf_stats: Tensor,
    /// Logits after a forward pass; the backward pass overwrites them with their gradient.
    pub logits: Tensor,
    pub probs: Tensor,
    row_losses: Tensor,
    dx: Tensor,
    dln: Tensor,
    branch: Tensor,
    dqkv: Tensor,
    datt: Tensor,
    dfc: Tensor,
    dact: Tensor,
    /// The bind groups and uniforms of the training step and of the evaluation, made on
    /// their first recording and reused (see [`Program`]).
    pub step_program: Mutex<Program>,
    eval_program: Mutex<Program>,
}

/// Which batch a forward pass reads: the training batch, or held-out batch e.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    Train,
    Heldout(usize),
}

impl GpuModel {
    /// Checks the memory estimate against the adapter's limits, then allocates.
    pub fn new(
        gpu: &Gpu,
        cfg: &ModelConfig,
        b: usize,
        eval_batches: usize,
    ) -> Result<GpuModel, GpuError> {
        memory_estimate(cfg, b, eval_batches).check(&gpu.limits)?;
        let layout = Layout::new(cfg);
        let (d, f, t, h) = (cfg.d_model, cfg.d_ff, cfg.ctx, cfg.n_head);
        let n = b * t;
        let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
        let z = |len: usize| gpu.zeros(&[len]);
        let p = layout.total;
        let words = |len: usize| gpu.storage(&vec![0u32; len]);
        let mut layers = Vec::new();
        for _ in 0..cfg.n_layer {
            layers.push(LayerActs {
                x: z(n * d)?,
                ln1: z(n * d)?,
                ln1_stats: z(2 * n)?,
                qkv: z(3 * n * d)?,
                qkvh: z(3 * n * d)?,
                att: z(b * h * t * t)?,
                atty: z(n * d)?,
                x_mid: z(n * d)?,
                ln2: z(n * d)?,
                ln2_stats: z(2 * n)?,
                fc: z(n * fc_out)?,
                act: z(n * f)?,
            });
        }
        let mask: Vec<bool> = layout
            .tensors
            .iter()
            .flat_map(|t| std::iter::repeat_n(t.decay, t.len()))
            .collect();
        let rope = if cfg.pos == Pos::Rope {
            Some(gpu.upload(&rope_table(t, d / h), &[t * (d / h)])?)
        } else {
            None
        };
        Ok(GpuModel {
            params: gpu.upload(&layout.init(0), &[p])?,
            grads: z(p)?,
            m: z(p)?,
            v: z(p)?,
            anchor: z(p)?,
            decay: gpu.storage(&decay_bits(mask))?,
            partials: z(super::optim::sumsq_partials(p))?,
            guard: Guard::OPEN.buffer(gpu)?,
            rope,
            batch: words(batch_words_len(n))?,
            eval_batches: words(eval_batches.max(1) * batch_words_len(n))?,
            eval_count: eval_batches,
            losses: z(READBACK_EVERY + eval_batches.max(1))?,
            layers,
            x_final: z(n * d)?,
            lnf: z(n * d)?,
            lnf_stats: z(2 * n)?,
            logits: z(n * VOCAB)?,
            probs: z(n * VOCAB)?,
            row_losses: z(n)?,
            dx: z(n * d)?,
            dln: z(n * d)?,
            branch: z(n * d)?,
            dqkv: z(3 * n * d)?,
            datt: z(b * h * t * t)?,
            dfc: z(n * fc_out)?,
            dact: z(n * f)?,
            step_program: Mutex::default(),
            eval_program: Mutex::default(),
            cfg: cfg.clone(),
            layout,
            b,
            t,
        })
    }

    /// Overwrites the parameters, and resets the optimizer state and the step guard.
    pub fn load(&self, gpu: &Gpu, params: &[f32]) -> Result<(), GpuError> {
        gpu.write(&self.params, params)?;
        let zeros = vec![0.0; self.layout.total];
        self.write_moments(gpu, &zeros, &zeros)
    }

    /// Overwrites AdamW's moments and reopens the step guard.
    pub fn write_moments(&self, gpu: &Gpu, m: &[f32], v: &[f32]) -> Result<(), GpuError> {
        gpu.write(&self.m, m)?;
        gpu.write(&self.v, v)?;
        gpu.queue
            .write_buffer(&self.guard, 0, bytemuck::bytes_of(&Guard::OPEN));
        Ok(())
    }

    pub async fn read_moments(&self, gpu: &Gpu) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        Ok((gpu.read(&self.m).await?, gpu.read(&self.v).await?))
    }

    /// Sets the weights the L2 term pulls toward.
    pub fn write_anchor(&self, gpu: &Gpu, anchor: &[f32]) -> Result<(), GpuError> {
        gpu.write(&self.anchor, anchor)
    }

    /// Uploads the training batch (B·T inputs and their next-byte targets).
    pub fn write_batch(&self, gpu: &Gpu, x: &[u8], y: &[u8]) -> Result<(), GpuError> {
        self.check_batch(x)?;
        gpu.queue
            .write_buffer(&self.batch, 0, bytemuck::cast_slice(&batch_words(x, y)));
        Ok(())
    }

    /// Uploads held-out batches (each B rows of T + 1 bytes), at most the number the
    /// model was sized for.
    fn write_heldout(&self, gpu: &Gpu, batches: &[Vec<u8>]) -> Result<(), GpuError> {
        if batches.len() > self.eval_count {
            return Err(GpuError::Invalid(format!(
                "{} held-out batches, the model was sized for {}",
                batches.len(),
                self.eval_count
            )));
        }
        let mut words = Vec::new();
        for rows in batches {
            let (x, y) = inputs_and_targets(rows, self.b, self.t);
            self.check_batch(&x)?;
            words.extend(batch_words(&x, &y));
        }
        gpu.queue
            .write_buffer(&self.eval_batches, 0, bytemuck::cast_slice(&words));
        Ok(())
    }

    fn check_batch(&self, x: &[u8]) -> Result<(), GpuError> {
        if x.len() != self.b * self.t {
            return Err(GpuError::Invalid(format!(
                "a batch of {} bytes, expected {} × {}",
                x.len(),
                self.b,
                self.t
            )));
        }
        Ok(())
    }

    fn input(&self, input: Input) -> Batch<'_> {
        let n = self.b * self.t;
        match input {
            Input::Train => Batch {
                buffer: &self.batch,
                offset: 0,
                n,
            },
            Input::Heldout(e) => Batch {
                buffer: &self.eval_batches,
                offset: e * batch_words_len(n),
                n,
            },
        }
    }

    fn tensor(&self, name: &str) -> &TensorInfo {
        self.layout.get(name)
    }

    fn maybe(&self, name: &str) -> Option<&TensorInfo> {
        self.layout.tensors.iter().find(|t| t.name == name)
    }

    fn param(&self, name: &str) -> crate::gpu::View<'_> {
        let t = self.tensor(name);
        self.params.slice(t.offset, t.len())
    }

    fn grad(&self, name: &str) -> crate::gpu::View<'_> {
        let t = self.tensor(name);
        self.grads.slice(t.offset, t.len())
    }

    #[allow(clippy::too_many_arguments)]
    fn norm_forward(
        &self,
        rec: &mut Recorder,
        out: &Tensor,
        stats: &Tensor,
        inp: &Tensor,
        prefix: &str,
    ) -> Result<(), GpuError> {
        let (n, d) = (self.b * self.t, self.cfg.d_model);
        let g = self.tensor(&format!("{prefix}.g"));
        match self.cfg.norm {
            Norm::Layernorm => {
                let b = self.tensor(&format!("{prefix}.b"));
                layernorm_forward(rec, out, stats, inp, &self.params, g, b, n, d)
            }
            Norm::Rmsnorm => rmsnorm_forward(rec, out, stats, inp, &self.params, g, n, d),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn norm_backward(
        &self,
        rec: &mut Recorder,
        dinp: &Tensor,
        residual: Option<&Tensor>,
        dout: &Tensor,
        inp: &Tensor,
        stats: &Tensor,
        prefix: &str,
    ) -> Result<(), GpuError> {
        let (n, d) = (self.b * self.t, self.cfg.d_model);
        let g = self.tensor(&format!("{prefix}.g"));
        let (grads, params) = (&self.grads, &self.params);
        match self.cfg.norm {
            Norm::Layernorm => {
                let b = self.tensor(&format!("{prefix}.b"));
                layernorm_backward(
                    rec, dinp, residual, grads, dout, inp, params, g, b, stats, n, d,
                )
            }
            Norm::Rmsnorm => rmsnorm_backward(
                rec, dinp, residual, grads, dout, inp, params, g, stats, n, d,
            ),
        }
    }

    fn attention_shape(&self) -> AttentionShape {
        AttentionShape {
            b: self.b,
            t: self.t,
            d: self.cfg.d_model,
            h: self.cfg.n_head,
        }
    }

    /// Records the forward pass over `input`; its mean loss goes to `losses[slot]`.
    pub fn record_forward(
        &self,
        rec: &mut Recorder,
        input: Input,
        slot: usize,
    ) -> Result<(), GpuError> {
        let cfg = &self.cfg;
        let (d, f, t) = (cfg.d_model, cfg.d_ff, self.t);
        let n = self.b * t;
        let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
        let batch = self.input(input);
        let first = match self.layers.first() {
            Some(layer) => &layer.x,
            None => &self.x_final,
        };
        let wpe = self.maybe("wpe");
        encoder_forward(
            rec,
            first,
            &batch,
            &self.params,
            self.tensor("wte"),
            wpe,
            t,
            d,
        )?;
        for (l, a) in self.layers.iter().enumerate() {
            let name = |s: &str| format!("h.{l}.{s}");
            self.norm_forward(rec, &a.ln1, &a.ln1_stats, &a.x, &name("ln1"))?;
            matmul_forward(
                rec,
                &a.qkv,
                &a.ln1,
                self.param(&name("attn.qkv")),
                n,
                d,
                3 * d,
            )?;
            attention_forward(
                rec,
                &a.atty,
                &a.att,
                &a.qkvh,
                &a.qkv,
                self.rope.as_ref(),
                self.attention_shape(),
            )?;
            matmul_residual_forward(
                rec,
                &a.x_mid,
                &a.atty,
                self.param(&name("attn.proj")),
                &a.x,
                n,
                d,
                d,
            )?;
            self.norm_forward(rec, &a.ln2, &a.ln2_stats, &a.x_mid, &name("ln2"))?;
            let fc = self.param(&name("mlp.fc"));
            match cfg.mlp {
                Mlp::Gelu => matmul_gelu_forward(rec, &a.fc, &a.act, &a.ln2, fc, n, d, fc_out)?,
                Mlp::Swiglu => {
                    matmul_forward(rec, &a.fc, &a.ln2, fc, n, d, fc_out)?;
                    swiglu_forward(rec, &a.act, &a.fc, f)?;
                }
            }
            let next = match self.layers.get(l + 1) {
                Some(next) => &next.x,
                None => &self.x_final,
            };
            matmul_residual_forward(
                rec,
                next,
                &a.act,
                self.param(&name("mlp.proj")),
                &a.x_mid,
                n,
                f,
                d,
            )?;
            rec.end_part();
        }
        self.norm_forward(rec, &self.lnf, &self.lnf_stats, &self.x_final, "lnf")?;
        if cfg.tie_embeddings {
            // logits = lnf · wteᵀ.
            generic::matmul(
                rec,
                &self.lnf,
                self.param("wte"),
                &self.logits,
                generic::MatmulSpec {
                    trans_b: true,
                    ..generic::MatmulSpec::new(n, d, VOCAB)
                },
            )?;
        } else {
            matmul_forward(
                rec,
                &self.logits,
                &self.lnf,
                self.param("lm_head"),
                n,
                d,
                VOCAB,
            )?;
        }
        crossentropy_forward(
            rec,
            &self.probs,
            &self.row_losses,
            &self.losses,
            slot,
            &self.logits,
            &batch,
        )
    }

    /// Records the backward pass of the latest forward pass over the training batch:
    /// zeroes the gradients, then accumulates every parameter's gradient.
    pub fn record_backward(&self, rec: &mut Recorder) -> Result<(), GpuError> {
        let cfg = &self.cfg;
        let (d, f, t) = (cfg.d_model, cfg.d_ff, self.t);
        let n = self.b * t;
        let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
        let batch = self.input(Input::Train);
        rec.clear(&self.grads);
        let dlogits = &self.logits;
        crossentropy_backward(rec, dlogits, &self.probs, &batch)?;
        if cfg.tie_embeddings {
            // logits = lnf·wteᵀ: dlnf = dlogits·wte, dwte += dlogitsᵀ·lnf.
            generic::matmul(
                rec,
                dlogits,
                self.param("wte"),
                &self.dln,
                generic::MatmulSpec::new(n, VOCAB, d),
            )?;
            generic::matmul(
                rec,
                dlogits,
                &self.lnf,
                self.grad("wte"),
                generic::MatmulSpec {
                    trans_a: true,
                    beta: 1.0,
                    ..generic::MatmulSpec::new(VOCAB, n, d)
                },
            )?;
        } else {
            matmul_backward(
                rec,
                &self.dln,
                self.grad("lm_head"),
                dlogits,
                &self.lnf,
                self.param("lm_head"),
                n,
                d,
                VOCAB,
            )?;
        }
        self.norm_backward(
            rec,
            &self.dx,
            None,
            &self.dln,
            &self.x_final,
            &self.lnf_stats,
            "lnf",
        )?;
        for (l, a) in self.layers.iter().enumerate().rev() {
            let name = |s: &str| format!("h.{l}.{s}");
            // MLP branch: x_next = x_mid + mlp(norm2(x_mid)).
            let (w, dw) = (self.param(&name("mlp.proj")), self.grad(&name("mlp.proj")));
            match cfg.mlp {
                Mlp::Gelu => {
                    matmul_gelu_backward(rec, &self.dfc, dw, &self.dx, &a.act, w, &a.fc, n, f, d)?
                }
                Mlp::Swiglu => {
                    matmul_backward(rec, &self.dact, dw, &self.dx, &a.act, w, n, f, d)?;
                    swiglu_backward(rec, &self.dfc, &a.fc, &self.dact, f)?;
                }
            }
            let w = self.param(&name("mlp.fc"));
            matmul_backward(
                rec,
                &self.dln,
                self.grad(&name("mlp.fc")),
                &self.dfc,
                &a.ln2,
                w,
                n,
                d,
                fc_out,
            )?;
            // d(x_mid): through the norm, plus dx around it (the residual stream).
            self.norm_backward(
                rec,
                &self.branch,
                Some(&self.dx),
                &self.dln,
                &a.x_mid,
                &a.ln2_stats,
                &name("ln2"),
            )?;
            // branch holds d(x_mid). Attention branch: x_mid = x + proj(attn(qkv(norm1(x)))).
            let w = self.param(&name("attn.proj"));
            matmul_backward(
                rec,
                &self.dln,
                self.grad(&name("attn.proj")),
                &self.branch,
                &a.atty,
                w,
                n,
                d,
                d,
            )?;
            attention_backward(
                rec,
                &self.dqkv,
                &self.datt,
                &self.dln,
                &a.qkvh,
                &a.att,
                self.rope.as_ref(),
                self.attention_shape(),
            )?;
            let w = self.param(&name("attn.qkv"));
            matmul_backward(
                rec,
                &self.dln,
                self.grad(&name("attn.qkv")),
                &self.dqkv,
                &a.ln1,
                w,
                n,
                d,
                3 * d,
            )?;
            // dx: through the norm, plus d(x_mid) around the attention branch.
            let ln1 = name("ln1");
            self.norm_backward(
                rec,
                &self.dx,
                Some(&self.branch),
                &self.dln,
                &a.x,
                &a.ln1_stats,
                &ln1,
            )?;
            rec.end_part();
        }
        encoder_backward(
            rec,
            &self.grads,
            self.tensor("wte"),
            self.maybe("wpe"),
            &self.dx,
            &batch,
            t,
            d,
        )
    }

    /// Records the L2 pull toward the anchor (when `l2` > 0), the step guard (global
    /// norm, clip scale, divergence check of `losses[slot]`) and the AdamW update of step
    /// `step` (0-based) at learning rate `lr`.
    fn record_update(
        &self,
        rec: &mut Recorder,
        step: usize,
        slot: usize,
        lr: f32,
        h: &Hyper,
        l2: f32,
    ) -> Result<(), GpuError> {
        if l2 != 0.0 {
            l2_pull(rec, l2, &self.params, &self.anchor, &self.grads)?;
        }
        step_guard(
            rec,
            &self.grads,
            &self.partials,
            &self.losses,
            slot,
            step,
            h.grad_clip as f32,
            &self.guard,
        )?;
        let hyper = AdamW {
            lr,
            beta1: BETA1,
            beta2: BETA2,
            eps: EPS,
            weight_decay: h.weight_decay as f32,
            step: step as u32 + 1,
        };
        adamw(
            rec,
            hyper,
            &self.params,
            &self.grads,
            &self.m,
            &self.v,
            &self.decay,
            &self.guard,
        )
    }

    /// Records one whole training step over the uploaded training batch — forward (its
    /// loss into `losses[slot]`), backward, the L2 pull toward the anchor (λ = `l2`; 0 for
    /// none), the step guard and AdamW at learning rate `lr` — recorded at once, in 2·L + 1 parts.
    /// The only place a GPU training step is put together.
    #[allow(clippy::too_many_arguments)]
    pub fn record_step(
        &self,
        rec: &mut Recorder,
        step: usize,
        slot: usize,
        lr: f32,
        h: &Hyper,
        l2: f32,
    ) -> Result<(), GpuError> {
        self.record_forward(rec, Input::Train, slot)?;
        self.record_backward(rec)?;
        self.record_update(rec, step, slot, lr, h, l2)
    }

    /// Mean loss over held-out batches (each B rows of T + 1 bytes), at most as many as
    /// the model was sized for.
    pub async fn evaluate(&self, gpu: &Gpu, batches: &[Vec<u8>]) -> Result<f64, GpuError> {
        self.write_heldout(gpu, batches)?;
        let mut rec = gpu.recorder_with(&self.eval_program);
        for e in 0..batches.len() {
            self.record_forward(&mut rec, Input::Heldout(e), READBACK_EVERY + e)?;
        }
        gpu.submit(rec)?;
        let losses = gpu.read(&self.losses).await?;
        let held = &losses[READBACK_EVERY..READBACK_EVERY + batches.len()];
        Ok(held.iter().map(|&l| l as f64).sum::<f64>() / batches.len().max(1) as f64)
    }

    /// The step guard as the GPU left it.
    pub async fn read_guard(&self, gpu: &Gpu) -> Result<Guard, GpuError> {
        let words = gpu.read_u32(&self.guard, 4).await?;
        Ok(bytemuck::cast_slice::<u32, Guard>(&words)[0])
    }
}

/// Dispatches of one training step of a model, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatches {
    pub forward: usize,
    pub backward: usize,
    /// The L2 pull, the step guard and AdamW.
    pub update: usize,
}

impl Dispatches {
    pub fn total(&self) -> usize {
        self.forward + self.backward + self.update
    }
}

/// Counts the dispatches of one training step of `model` (with the L2 pull when `l2`);
/// recording only counts: nothing is submitted.
pub fn dispatches(gpu: &Gpu, model: &GpuModel, l2: bool) -> Result<Dispatches, GpuError> {
    let h = Hyper {
        weight_decay: 0.1,
        grad_clip: 1.0,
        l2: if l2 { 0.1 } else { 0.0 },
    };
    let mut rec = gpu.recorder();
    model.record_forward(&mut rec, Input::Train, 0)?;
    let forward = rec.dispatches;
    model.record_backward(&mut rec)?;
    let backward = rec.dispatches - forward;
    model.record_update(&mut rec, 0, 0, 1e-3, &h, h.l2 as f32)?;
    let update = rec.dispatches - forward - backward;
    Ok(Dispatches {
        forward,
        backward,
        update,
    })
}

/// Dispatches of one training step of a model (for the benchmarks and the page).
pub fn dispatches_per_step(gpu: &Gpu, model: &GpuModel) -> Result<usize, GpuError> {
    Ok(dispatches(gpu, model, false)?.total())
}
