//! The transformer on the GPU: parameters, gradients and AdamW moments in flat buffers with
//! the typed offsets of [`Layout`] (llm.c style), every activation in its own buffer, all of
//! them from one plan ([`Buffers`]) that both [`GpuModel::new`] and [`memory_estimate`] read.
//!
//! A training step is built once, in [`GpuModel::new`]: its dispatches — forward, backward,
//! SAM's ascent, forward, backward and restore (when ρ > 0), the L2 pull, the step guard and
//! AdamW — each with its pipeline, bind group and grid, as [`Program`]s; so is the
//! evaluation of each held-out batch. A step then writes its batch
//! and its few values ([`StepValues`]: learning rate, step, loss slot…) with
//! `queue.write_buffer` and runs the programs, which submit one part per transformer block
//! forward and backward (so that no submission runs long; see [`Recorder::end_part`]):
//! nothing is created, formatted or looked up by name. Losses stay on the GPU in a small
//! ring of slots that the host reads back every [`READBACK_EVERY`] steps; a step guard on
//! the GPU stops the updates at the first non-finite loss or gradient, so no read-back is
//! needed per step.
//!
//! The step, top to bottom, mirrors [`super::model::forward`] and [`super::model::backward`]
//! layer for layer, and the CPU engine's step ([`super::engine`]).

use super::config::{Mlp, ModelConfig, Norm, Pos};
use super::kernels::*;
use super::optim::{
    adamw, decay_bits, l2_pull, sam_ascent, sam_restore, step_guard, Guard, StepValues,
};
use super::params::{Layout, NormSlots, Slot};
use crate::data::{inputs_and_targets, VOCAB};
use crate::error::{ConfigError, Error};
use crate::gpu::kernels as generic;
use crate::gpu::{Gpu, GpuError, Program, Recorder, Tensor, View};

/// Training steps between loss read-backs (the loss ring's size).
pub const READBACK_EVERY: usize = 16;

/// What a configuration needs, in bytes, computed before anything is allocated: on the GPU
/// ([`memory_estimate`]; the CLI and the page show it before training starts, and it must
/// fit the adapter's limits) or on the CPU (`super::micro::cpu_memory_estimate`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MemoryEstimate {
    /// The parameters.
    pub parameters: u64,
    /// The other buffers as long as the parameters: on the GPU gradients, AdamW's two
    /// moments, the anchor, the decay mask, the norm partial sums and SAM's saved weights.
    pub optimizer: u64,
    /// Activations kept for the backward pass, and the backward pass's scratch.
    pub activations: u64,
    /// Token batches (training and held-out); on the GPU also the loss slots and the
    /// rotation table.
    pub data: u64,
    /// The largest single buffer: it must fit the adapter's buffer limits.
    pub largest_buffer: String,
    pub largest_bytes: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.parameters
            .saturating_add(self.optimizer)
            .saturating_add(self.activations)
            .saturating_add(self.data)
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

/// What one transformer block keeps from the forward pass.
struct LayerActs<T> {
    x: T,
    ln1: T,
    ln1_stats: T,
    qkv: T,
    /// q, k, v with the rotation applied (or copied): the fused attention's input.
    qkvh: T,
    att: T,
    atty: T,
    x_mid: T,
    ln2: T,
    ln2_stats: T,
    fc: T,
    act: T,
}

impl<T> LayerActs<T> {
    fn named(&self) -> [(&'static str, &T); 12] {
        [
            ("x", &self.x),
            ("ln1", &self.ln1),
            ("ln1 stats", &self.ln1_stats),
            ("qkv", &self.qkv),
            ("qkv heads", &self.qkvh),
            ("attention", &self.att),
            ("attention out", &self.atty),
            ("x mid", &self.x_mid),
            ("ln2", &self.ln2),
            ("ln2 stats", &self.ln2_stats),
            ("fc", &self.fc),
            ("act", &self.act),
        ]
    }

    fn try_map<U, E>(&self, f: &impl Fn(&T) -> Result<U, E>) -> Result<LayerActs<U>, E> {
        Ok(LayerActs {
            x: f(&self.x)?,
            ln1: f(&self.ln1)?,
            ln1_stats: f(&self.ln1_stats)?,
            qkv: f(&self.qkv)?,
            qkvh: f(&self.qkvh)?,
            att: f(&self.att)?,
            atty: f(&self.atty)?,
            x_mid: f(&self.x_mid)?,
            ln2: f(&self.ln2)?,
            ln2_stats: f(&self.ln2_stats)?,
            fc: f(&self.fc)?,
            act: f(&self.act)?,
        })
    }
}

/// What a buffer is for, as the memory estimate groups them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Parameters,
    Optimizer,
    Activations,
    Data,
}

/// Every buffer of a model on the GPU. `T` is the buffer ([`Tensor`]), or its length in
/// 4-byte words (`u64`: the plan, [`Buffers::plan`]): [`GpuModel::new`] allocates the plan's
/// buffers and [`memory_estimate`] adds up the same plan, so they cannot disagree.
struct Buffers<T> {
    params: T,
    grads: T,
    m: T,
    v: T,
    /// The weights the L2 term of fine-tuning pulls toward.
    anchor: T,
    /// One bit per parameter: weight decay applies.
    decay: T,
    /// The gradient norm's partial sums.
    partials: T,
    /// The step guard ([`Guard`]).
    guard: T,
    /// SAM: the weights w while the gradient is taken at w + ε, and the ascent's ρ/‖g‖.
    saved: T,
    sam_scale: T,
    layers: Vec<LayerActs<T>>,
    x_final: T,
    lnf: T,
    lnf_stats: T,
    /// Logits after a forward pass; the backward pass overwrites them with their gradient.
    logits: T,
    probs: T,
    row_losses: T,
    dx: T,
    dln: T,
    branch: T,
    dqkv: T,
    datt: T,
    dfc: T,
    dact: T,
    /// The training batch ([`batch_words`]).
    batch: T,
    /// The held-out batches, one after another.
    eval_batches: T,
    /// READBACK_EVERY training slots, one per held-out batch, then SAM's ([`sam_slot`]).
    losses: T,
    /// The rotation table (rotary positions only).
    rope: Option<T>,
}

impl<T> Buffers<T> {
    /// Every buffer with its group and name, for the estimate.
    fn named(&self) -> Vec<(Group, &'static str, &T)> {
        use Group::*;
        let mut all = vec![
            (Parameters, "parameters", &self.params),
            (Optimizer, "gradients", &self.grads),
            (Optimizer, "adam m", &self.m),
            (Optimizer, "adam v", &self.v),
            (Optimizer, "l2 anchor", &self.anchor),
            (Optimizer, "decay mask", &self.decay),
            (Optimizer, "norm partials", &self.partials),
            (Optimizer, "guard", &self.guard),
            (Optimizer, "sam saved weights", &self.saved),
            (Optimizer, "sam scale", &self.sam_scale),
        ];
        for layer in &self.layers {
            all.extend(layer.named().map(|(name, t)| (Activations, name, t)));
        }
        all.extend([
            (Activations, "x final", &self.x_final),
            (Activations, "lnf", &self.lnf),
            (Activations, "lnf stats", &self.lnf_stats),
            (Activations, "logits", &self.logits),
            (Activations, "probs", &self.probs),
            (Activations, "row losses", &self.row_losses),
            (Activations, "dx", &self.dx),
            (Activations, "dln", &self.dln),
            (Activations, "branch", &self.branch),
            (Activations, "dqkv", &self.dqkv),
            (Activations, "dattention", &self.datt),
            (Activations, "dfc", &self.dfc),
            (Activations, "dact", &self.dact),
            (Data, "batch", &self.batch),
            (Data, "held-out batches", &self.eval_batches),
            (Data, "losses", &self.losses),
        ]);
        all.extend(self.rope.iter().map(|r| (Data, "rope table", r)));
        all
    }

    fn try_map<U, E>(&self, f: impl Fn(&T) -> Result<U, E>) -> Result<Buffers<U>, E> {
        Ok(Buffers {
            params: f(&self.params)?,
            grads: f(&self.grads)?,
            m: f(&self.m)?,
            v: f(&self.v)?,
            anchor: f(&self.anchor)?,
            decay: f(&self.decay)?,
            partials: f(&self.partials)?,
            guard: f(&self.guard)?,
            saved: f(&self.saved)?,
            sam_scale: f(&self.sam_scale)?,
            layers: self
                .layers
                .iter()
                .map(|l| l.try_map(&f))
                .collect::<Result<_, E>>()?,
            x_final: f(&self.x_final)?,
            lnf: f(&self.lnf)?,
            lnf_stats: f(&self.lnf_stats)?,
            logits: f(&self.logits)?,
            probs: f(&self.probs)?,
            row_losses: f(&self.row_losses)?,
            dx: f(&self.dx)?,
            dln: f(&self.dln)?,
            branch: f(&self.branch)?,
            dqkv: f(&self.dqkv)?,
            datt: f(&self.datt)?,
            dfc: f(&self.dfc)?,
            dact: f(&self.dact)?,
            batch: f(&self.batch)?,
            eval_batches: f(&self.eval_batches)?,
            losses: f(&self.losses)?,
            rope: self.rope.as_ref().map(&f).transpose()?,
        })
    }
}

impl Buffers<u64> {
    /// The buffers' lengths for `cfg` on batches of `b` sequences with `eval_batches`
    /// held-out batches. u64 throughout: absurd configs must be measured and refused, not
    /// overflow (wasm32).
    fn plan(cfg: &ModelConfig, b: usize, eval_batches: usize) -> Buffers<u64> {
        let w = |x: usize| x as u64;
        let p = w(Layout::new(cfg).total);
        let (d, f, t, h) = (w(cfg.d_model), w(cfg.d_ff), w(cfg.ctx), w(cfg.n_head));
        let n = w(b) * t;
        let nd = n * d;
        let att = w(b) * h * t * t;
        let fc = n * w(cfg.fc_width());
        let layer = || LayerActs {
            x: nd,
            ln1: nd,
            ln1_stats: 2 * n,
            qkv: 3 * nd,
            qkvh: 3 * nd,
            att,
            atty: nd,
            x_mid: nd,
            ln2: nd,
            ln2_stats: 2 * n,
            fc,
            act: n * f,
        };
        let batch = 3 * n + w(VOCAB) + 1; // batch_words_len, in u64
        let e = w(eval_batches.max(1));
        Buffers {
            params: p,
            grads: p,
            m: p,
            v: p,
            anchor: p,
            decay: p.div_ceil(32),
            partials: w(super::optim::sumsq_partials(p as usize)),
            guard: 4,
            saved: p,
            sam_scale: 1,
            layers: (0..cfg.n_layer).map(|_| layer()).collect(),
            x_final: nd,
            lnf: nd,
            lnf_stats: 2 * n,
            logits: n * w(VOCAB),
            probs: n * w(VOCAB),
            row_losses: n,
            dx: nd,
            dln: nd,
            branch: nd,
            dqkv: 3 * nd,
            datt: att,
            dfc: fc,
            dact: n * f,
            batch,
            eval_batches: e * batch,
            losses: w(READBACK_EVERY) + e + 1,
            rope: (cfg.pos == Pos::Rope).then_some(t * (d / h)),
        }
    }
}

/// The loss slot of SAM's forward pass at w + ε, after the held-out batches' (so that the
/// step's slot keeps the loss at w).
fn sam_slot(eval_batches: usize) -> usize {
    READBACK_EVERY + eval_batches.max(1)
}

/// The GPU memory of a model trained on batches of `b` sequences with `eval_batches`
/// held-out batches: the sum of the buffers [`GpuModel::new`] allocates.
pub fn memory_estimate(cfg: &ModelConfig, b: usize, eval_batches: usize) -> MemoryEstimate {
    let plan = Buffers::plan(cfg, b, eval_batches);
    let named = plan.named();
    let bytes = |group: Group| {
        named
            .iter()
            .filter(|(g, _, _)| *g == group)
            .map(|(_, _, &n)| 4 * n)
            .sum::<u64>()
    };
    let (_, name, &largest) = named
        .iter()
        .copied()
        .fold(None, |best: Option<(Group, &str, &u64)>, x| match best {
            Some(b) if b.2 >= x.2 => Some(b),
            _ => Some(x),
        })
        .expect("buffers");
    MemoryEstimate {
        parameters: bytes(Group::Parameters),
        optimizer: bytes(Group::Optimizer),
        activations: bytes(Group::Activations),
        data: bytes(Group::Data),
        largest_buffer: name.to_string(),
        largest_bytes: 4 * largest,
    }
}

/// Which batch a forward pass reads: the training batch, or held-out batch e.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    Train,
    Heldout(usize),
}

/// Dispatches of one training step of a model, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatches {
    pub forward: usize,
    pub backward: usize,
    /// SAM's ascent, forward and backward passes at w + ε, and restore (0 without SAM).
    pub sam: usize,
    /// The L2 pull (fine-tuning), the step guard and AdamW.
    pub update: usize,
}

impl Dispatches {
    pub fn total(&self) -> usize {
        self.forward + self.backward + self.sam + self.update
    }
}

/// A model's buffers on one device, for batches of `b` sequences of `t` bytes, and the
/// kernels' recording over them (the programs of [`GpuModel`] are built from these).
struct Net {
    cfg: ModelConfig,
    layout: Layout,
    b: usize,
    t: usize,
    eval_count: usize,
    buf: Buffers<Tensor>,
    /// The training step's values ([`StepValues`]), rewritten before each step.
    step: wgpu::Buffer,
    /// The values an evaluation's forward passes read: loss slot 0 (their own slots are
    /// fixed in their programs); SAM's forward pass at w + ε reads them too.
    eval_step: wgpu::Buffer,
}

/// The training step and the evaluation of a model on the GPU, built once (see the module
/// documentation).
pub struct GpuModel {
    net: Net,
    /// The forward pass over the training batch, its loss into the step's slot.
    forward: Program,
    /// The backward pass: zeroes the gradients, then accumulates every parameter's.
    backward: Program,
    /// SAM (a step with ρ > 0, between the backward pass and the update): the ascent to
    /// w + ε, the forward pass there (its loss into its own slot) and the backward pass,
    /// the restore to w.
    sam: Program,
    /// The step guard and AdamW; `update_l2` adds the L2 pull toward the anchor first.
    update: Program,
    update_l2: Program,
    /// The forward pass over each held-out batch, its loss into its slot after the ring.
    eval: Vec<Program>,
}

impl GpuModel {
    /// Checks the memory estimate against the adapter's limits, allocates the plan's
    /// buffers and builds the step's and the evaluation's programs.
    pub fn new(
        gpu: &Gpu,
        cfg: &ModelConfig,
        b: usize,
        eval_batches: usize,
    ) -> Result<GpuModel, GpuError> {
        memory_estimate(cfg, b, eval_batches).check(&gpu.limits)?;
        let layout = Layout::new(cfg);
        let buf = Buffers::plan(cfg, b, eval_batches).try_map(|&len| gpu.zeros(&[len as usize]))?;
        gpu.write(&buf.params, &layout.init(0))?;
        let words = |t: &Tensor, data: &[u32]| {
            gpu.queue
                .write_buffer(&t.buffer, 0, bytemuck::cast_slice(data))
        };
        words(&buf.decay, &decay_bits(layout.decay_mask()));
        words(&buf.guard, bytemuck::cast_slice(&[Guard::OPEN]));
        if let Some(rope) = &buf.rope {
            gpu.write(rope, &rope_table(cfg.ctx, cfg.head_size()))?;
        }
        let zero = StepValues::new(0, 0, 0.0, &super::optim::Hyper::default(), 0.0);
        let net = Net {
            cfg: cfg.clone(),
            layout,
            b,
            t: cfg.ctx,
            eval_count: eval_batches,
            buf,
            step: zero.buffer(gpu),
            eval_step: zero.buffer(gpu),
        };
        Ok(GpuModel {
            forward: gpu.build(|rec| net.record_forward(rec, Input::Train, 0, &net.step))?,
            backward: gpu.build(|rec| net.record_backward(rec))?,
            sam: gpu.build(|rec| net.record_sam(rec))?,
            update: gpu.build(|rec| net.record_update(rec, false))?,
            update_l2: gpu.build(|rec| net.record_update(rec, true))?,
            eval: (0..eval_batches.max(1))
                .map(|e| {
                    gpu.build(|rec| {
                        let slot = READBACK_EVERY + e;
                        net.record_forward(rec, Input::Heldout(e), slot, &net.eval_step)
                    })
                })
                .collect::<Result<_, _>>()?,
            net,
        })
    }

    pub fn cfg(&self) -> &ModelConfig {
        &self.net.cfg
    }

    pub fn layout(&self) -> &Layout {
        &self.net.layout
    }

    /// (sequences per batch, bytes per sequence).
    pub fn batch_shape(&self) -> (usize, usize) {
        (self.net.b, self.net.t)
    }

    /// The flat parameter buffer.
    pub fn params(&self) -> &Tensor {
        &self.net.buf.params
    }

    /// The flat gradient buffer (after a backward pass).
    pub fn grads(&self) -> &Tensor {
        &self.net.buf.grads
    }

    /// The logits of the latest forward pass (before a backward pass overwrites them).
    pub fn logits(&self) -> &Tensor {
        &self.net.buf.logits
    }

    /// The loss slots: [`READBACK_EVERY`] of training steps, then one per held-out batch.
    pub fn losses(&self) -> &Tensor {
        &self.net.buf.losses
    }

    /// Overwrites the parameters, and resets the optimizer state and the step guard.
    pub fn load(&self, gpu: &Gpu, params: &[f32]) -> Result<(), GpuError> {
        gpu.write(&self.net.buf.params, params)?;
        let zeros = vec![0.0; self.net.layout.total];
        self.write_moments(gpu, &zeros, &zeros)
    }

    /// Overwrites AdamW's moments and reopens the step guard.
    pub fn write_moments(&self, gpu: &Gpu, m: &[f32], v: &[f32]) -> Result<(), GpuError> {
        gpu.write(&self.net.buf.m, m)?;
        gpu.write(&self.net.buf.v, v)?;
        gpu.queue.write_buffer(
            &self.net.buf.guard.buffer,
            0,
            bytemuck::bytes_of(&Guard::OPEN),
        );
        Ok(())
    }

    pub async fn read_moments(&self, gpu: &Gpu) -> Result<(Vec<f32>, Vec<f32>), GpuError> {
        Ok((
            gpu.read(&self.net.buf.m).await?,
            gpu.read(&self.net.buf.v).await?,
        ))
    }

    /// Sets the weights the L2 term pulls toward.
    pub fn write_anchor(&self, gpu: &Gpu, anchor: &[f32]) -> Result<(), GpuError> {
        gpu.write(&self.net.buf.anchor, anchor)
    }

    /// Uploads the training batch (B·T inputs and their next-byte targets).
    pub fn write_batch(&self, gpu: &Gpu, x: &[u8], y: &[u8]) -> Result<(), GpuError> {
        self.net.check_batch(x)?;
        gpu.queue.write_buffer(
            &self.net.buf.batch.buffer,
            0,
            bytemuck::cast_slice(&batch_words(x, y)),
        );
        Ok(())
    }

    /// Runs one training step over the uploaded batch with the step's values: forward (its
    /// loss into slot `values.slot`), backward, SAM's passes when `values.sam_rho` > 0, the
    /// L2 pull toward the anchor when `l2`, the step guard and AdamW — the programs built in
    /// [`GpuModel::new`], in 2·L + 1 parts (4·L + 1 with SAM).
    pub fn run_step(&self, gpu: &Gpu, values: &StepValues, l2: bool) -> Result<(), GpuError> {
        gpu.queue
            .write_buffer(&self.net.step, 0, bytemuck::bytes_of(values));
        gpu.run(&self.step_programs(l2, values.sam_rho > 0.0))
    }

    /// The programs of one training step, in order.
    fn step_programs(&self, l2: bool, sam: bool) -> Vec<&Program> {
        let mut programs = vec![&self.forward, &self.backward];
        if sam {
            programs.push(&self.sam);
        }
        programs.push(if l2 { &self.update_l2 } else { &self.update });
        programs
    }

    /// Runs the forward pass alone over the training batch, its loss into slot `slot`
    /// (the kernel tests compare it with the CPU's).
    pub fn run_forward(&self, gpu: &Gpu, slot: usize) -> Result<(), GpuError> {
        let values = StepValues {
            slot: slot as u32,
            ..StepValues::new(0, 0, 0.0, &super::optim::Hyper::default(), 0.0)
        };
        gpu.queue
            .write_buffer(&self.net.step, 0, bytemuck::bytes_of(&values));
        gpu.run(&[&self.forward])
    }

    /// Runs the backward pass of the latest forward pass alone.
    pub fn run_backward(&self, gpu: &Gpu) -> Result<(), GpuError> {
        gpu.run(&[&self.backward])
    }

    /// Mean loss over held-out batches (each B rows of T + 1 bytes), at most as many as
    /// the model was sized for.
    pub async fn evaluate(&self, gpu: &Gpu, batches: &[Vec<u8>]) -> Result<f64, GpuError> {
        self.net.write_heldout(gpu, batches)?;
        let programs: Vec<&Program> = self.eval.iter().take(batches.len()).collect();
        gpu.run(&programs)?;
        let losses = gpu.read(&self.net.buf.losses).await?;
        let held = &losses[READBACK_EVERY..READBACK_EVERY + batches.len()];
        Ok(held.iter().map(|&l| l as f64).sum::<f64>() / batches.len().max(1) as f64)
    }

    /// The step guard as the GPU left it.
    pub async fn read_guard(&self, gpu: &Gpu) -> Result<Guard, GpuError> {
        let words = gpu.read_u32(&self.net.buf.guard.buffer, 4).await?;
        Ok(bytemuck::cast_slice::<u32, Guard>(&words)[0])
    }

    /// Dispatches of one training step (with the L2 pull when `l2`; without SAM: see
    /// [`GpuModel::dispatches_sam`]).
    pub fn dispatches(&self, l2: bool) -> Dispatches {
        let update = if l2 { &self.update_l2 } else { &self.update };
        Dispatches {
            forward: self.forward.dispatches(),
            backward: self.backward.dispatches(),
            sam: 0,
            update: update.dispatches(),
        }
    }

    /// Dispatches of one SAM training step (with the L2 pull when `l2`).
    pub fn dispatches_sam(&self, l2: bool) -> Dispatches {
        Dispatches {
            sam: self.sam.dispatches(),
            ..self.dispatches(l2)
        }
    }

    /// Command buffers one training step (with SAM when `sam`) submits, and one evaluation
    /// of `batches` held-out batches.
    pub fn parts(&self, batches: usize, sam: bool) -> (usize, usize) {
        let eval: Vec<&Program> = self.eval.iter().take(batches).collect();
        (
            Program::parts(&self.step_programs(false, sam)),
            Program::parts(&eval),
        )
    }
}

impl Net {
    /// Uploads held-out batches (each B rows of T + 1 bytes), at most the number the
    /// model was sized for.
    fn write_heldout(&self, gpu: &Gpu, batches: &[Vec<u8>]) -> Result<(), GpuError> {
        if batches.len() > self.eval_count.max(1) {
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
        gpu.queue.write_buffer(
            &self.buf.eval_batches.buffer,
            0,
            bytemuck::cast_slice(&words),
        );
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
                buffer: &self.buf.batch.buffer,
                offset: 0,
                n,
            },
            Input::Heldout(e) => Batch {
                buffer: &self.buf.eval_batches.buffer,
                offset: e * batch_words_len(n),
                n,
            },
        }
    }

    fn param(&self, slot: Slot) -> View<'_> {
        self.buf.params.slice(slot.offset, slot.len)
    }

    fn grad(&self, slot: Slot) -> View<'_> {
        self.buf.grads.slice(slot.offset, slot.len)
    }

    fn norm_forward(
        &self,
        rec: &mut Recorder,
        out: &Tensor,
        stats: &Tensor,
        inp: &Tensor,
        norm: &NormSlots,
    ) -> Result<(), GpuError> {
        let (n, d) = (self.b * self.t, self.cfg.d_model);
        let params = &self.buf.params;
        match (self.cfg.norm, norm.b) {
            (Norm::Layernorm, Some(b)) => {
                layernorm_forward(rec, out, stats, inp, params, norm.g, b, n, d)
            }
            _ => rmsnorm_forward(rec, out, stats, inp, params, norm.g, n, d),
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
        norm: &NormSlots,
    ) -> Result<(), GpuError> {
        let (n, d) = (self.b * self.t, self.cfg.d_model);
        let (grads, params) = (&self.buf.grads, &self.buf.params);
        match (self.cfg.norm, norm.b) {
            (Norm::Layernorm, Some(b)) => layernorm_backward(
                rec, dinp, residual, grads, dout, inp, params, norm.g, b, stats, n, d,
            ),
            _ => rmsnorm_backward(
                rec, dinp, residual, grads, dout, inp, params, norm.g, stats, n, d,
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
    /// Records the forward pass over `input`; its mean loss goes to `losses[slot]` plus
    /// the slot of the step values `values` (the training step's slot in the ring, or 0).
    fn record_forward(
        &self,
        rec: &mut Recorder,
        input: Input,
        slot: usize,
        values: &wgpu::Buffer,
    ) -> Result<(), GpuError> {
        let (cfg, buf, layout) = (&self.cfg, &self.buf, &self.layout);
        let (d, f, t) = (cfg.d_model, cfg.d_ff, self.t);
        let n = self.b * t;
        let fc_out = cfg.fc_width();
        let batch = self.input(input);
        let first = match buf.layers.first() {
            Some(layer) => &layer.x,
            None => &buf.x_final,
        };
        encoder_forward(
            rec,
            first,
            &batch,
            &buf.params,
            layout.wte,
            layout.wpe,
            t,
            d,
        )?;
        for (l, (a, w)) in buf.layers.iter().zip(&layout.layers).enumerate() {
            self.norm_forward(rec, &a.ln1, &a.ln1_stats, &a.x, &w.ln1)?;
            matmul_forward(rec, &a.qkv, &a.ln1, self.param(w.qkv), n, d, 3 * d)?;
            attention_forward(
                rec,
                &a.atty,
                &a.att,
                &a.qkvh,
                &a.qkv,
                buf.rope.as_ref(),
                self.attention_shape(),
            )?;
            matmul_residual_forward(
                rec,
                &a.x_mid,
                &a.atty,
                self.param(w.attn_proj),
                &a.x,
                n,
                d,
                d,
            )?;
            self.norm_forward(rec, &a.ln2, &a.ln2_stats, &a.x_mid, &w.ln2)?;
            let fc = self.param(w.fc);
            match cfg.mlp {
                Mlp::Gelu => matmul_gelu_forward(rec, &a.fc, &a.act, &a.ln2, fc, n, d, fc_out)?,
                Mlp::Swiglu => {
                    matmul_forward(rec, &a.fc, &a.ln2, fc, n, d, fc_out)?;
                    swiglu_forward(rec, &a.act, &a.fc, f)?;
                }
            }
            let next = match buf.layers.get(l + 1) {
                Some(next) => &next.x,
                None => &buf.x_final,
            };
            matmul_residual_forward(rec, next, &a.act, self.param(w.mlp_proj), &a.x_mid, n, f, d)?;
            rec.end_part();
        }
        self.norm_forward(rec, &buf.lnf, &buf.lnf_stats, &buf.x_final, &layout.lnf)?;
        match layout.lm_head {
            // logits = lnf · wteᵀ.
            None => generic::matmul(
                rec,
                &buf.lnf,
                self.param(layout.wte),
                &buf.logits,
                generic::MatmulSpec {
                    trans_b: true,
                    ..generic::MatmulSpec::new(n, d, VOCAB)
                },
            )?,
            Some(head) => {
                matmul_forward(rec, &buf.logits, &buf.lnf, self.param(head), n, d, VOCAB)?
            }
        }
        crossentropy_forward(
            rec,
            &buf.probs,
            &buf.row_losses,
            &buf.losses,
            slot,
            &buf.logits,
            &batch,
            values,
        )
    }

    /// Records SAM's passes after the backward pass at w: the ascent to w + ρ·g/‖g‖ (ρ the
    /// step's), the forward pass there — its loss into SAM's own slot, so that the step's
    /// slot keeps the loss at w — and the backward pass, whose gradient the update uses;
    /// then the restore to w.
    fn record_sam(&self, rec: &mut Recorder) -> Result<(), GpuError> {
        let buf = &self.buf;
        sam_ascent(
            rec,
            &buf.params,
            &buf.grads,
            &buf.saved,
            &buf.partials,
            &buf.sam_scale,
            &self.step,
        )?;
        let slot = sam_slot(self.eval_count);
        self.record_forward(rec, Input::Train, slot, &self.eval_step)?;
        self.record_backward(rec)?;
        sam_restore(rec, &buf.params, &buf.saved)
    }

    /// Records the backward pass of the latest forward pass over the training batch:
    /// zeroes the gradients, then accumulates every parameter's gradient.
    fn record_backward(&self, rec: &mut Recorder) -> Result<(), GpuError> {
        let (cfg, buf, layout) = (&self.cfg, &self.buf, &self.layout);
        let (d, f, t) = (cfg.d_model, cfg.d_ff, self.t);
        let n = self.b * t;
        let fc_out = cfg.fc_width();
        let batch = self.input(Input::Train);
        rec.clear(&buf.grads);
        let dlogits = &buf.logits;
        crossentropy_backward(rec, dlogits, &buf.probs, &batch)?;
        match layout.lm_head {
            None => {
                // logits = lnf·wteᵀ: dlnf = dlogits·wte, dwte += dlogitsᵀ·lnf.
                generic::matmul(
                    rec,
                    dlogits,
                    self.param(layout.wte),
                    &buf.dln,
                    generic::MatmulSpec::new(n, VOCAB, d),
                )?;
                generic::matmul(
                    rec,
                    dlogits,
                    &buf.lnf,
                    self.grad(layout.wte),
                    generic::MatmulSpec {
                        trans_a: true,
                        beta: 1.0,
                        ..generic::MatmulSpec::new(VOCAB, n, d)
                    },
                )?;
            }
            Some(head) => matmul_backward(
                rec,
                &buf.dln,
                self.grad(head),
                dlogits,
                &buf.lnf,
                self.param(head),
                n,
                d,
                VOCAB,
            )?,
        }
        self.norm_backward(
            rec,
            &buf.dx,
            None,
            &buf.dln,
            &buf.x_final,
            &buf.lnf_stats,
            &layout.lnf,
        )?;
        for (a, wl) in buf.layers.iter().zip(&layout.layers).rev() {
            // MLP branch: x_next = x_mid + mlp(norm2(x_mid)).
            let (w, dw) = (self.param(wl.mlp_proj), self.grad(wl.mlp_proj));
            match cfg.mlp {
                Mlp::Gelu => {
                    matmul_gelu_backward(rec, &buf.dfc, dw, &buf.dx, &a.act, w, &a.fc, n, f, d)?
                }
                Mlp::Swiglu => {
                    matmul_backward(rec, &buf.dact, dw, &buf.dx, &a.act, w, n, f, d)?;
                    swiglu_backward(rec, &buf.dfc, &a.fc, &buf.dact, f)?;
                }
            }
            let w = self.param(wl.fc);
            matmul_backward(
                rec,
                &buf.dln,
                self.grad(wl.fc),
                &buf.dfc,
                &a.ln2,
                w,
                n,
                d,
                fc_out,
            )?;
            // d(x_mid): through the norm, plus dx around it (the residual stream).
            self.norm_backward(
                rec,
                &buf.branch,
                Some(&buf.dx),
                &buf.dln,
                &a.x_mid,
                &a.ln2_stats,
                &wl.ln2,
            )?;
            // branch holds d(x_mid). Attention branch: x_mid = x + proj(attn(qkv(norm1(x)))).
            let w = self.param(wl.attn_proj);
            matmul_backward(
                rec,
                &buf.dln,
                self.grad(wl.attn_proj),
                &buf.branch,
                &a.atty,
                w,
                n,
                d,
                d,
            )?;
            attention_backward(
                rec,
                &buf.dqkv,
                &buf.datt,
                &buf.dln,
                &a.qkvh,
                &a.att,
                buf.rope.as_ref(),
                self.attention_shape(),
            )?;
            let w = self.param(wl.qkv);
            matmul_backward(
                rec,
                &buf.dln,
                self.grad(wl.qkv),
                &buf.dqkv,
                &a.ln1,
                w,
                n,
                d,
                3 * d,
            )?;
            // dx: through the norm, plus d(x_mid) around the attention branch.
            self.norm_backward(
                rec,
                &buf.dx,
                Some(&buf.branch),
                &buf.dln,
                &a.x,
                &a.ln1_stats,
                &wl.ln1,
            )?;
            rec.end_part();
        }
        encoder_backward(
            rec, &buf.grads, layout.wte, layout.wpe, &buf.dx, &batch, t, d,
        )
    }

    /// Records the L2 pull toward the anchor (when `l2`; λ is the step's), the step guard
    /// (global norm, clip scale, divergence check of the step's loss) and the AdamW update.
    fn record_update(&self, rec: &mut Recorder, l2: bool) -> Result<(), GpuError> {
        let buf = &self.buf;
        if l2 {
            l2_pull(rec, &buf.params, &buf.anchor, &buf.grads, &self.step)?;
        }
        step_guard(
            rec,
            &buf.grads,
            &buf.partials,
            &buf.losses,
            &buf.guard.buffer,
            &self.step,
        )?;
        adamw(
            rec,
            &buf.params,
            &buf.grads,
            &buf.m,
            &buf.v,
            &buf.decay.buffer,
            &buf.guard.buffer,
            &self.step,
        )
    }
}
