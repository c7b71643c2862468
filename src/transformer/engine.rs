//! One training interface over both backends, so every protocol (pre-training, warmup–
//! stable–decay branches, fine-tuning with an L2 pull toward the pre-trained weights) is
//! written once: an [`Engine`] takes batches and learning rates step by step, reports
//! losses in batches (the GPU reads them back every [`READBACK_EVERY`] steps), evaluates
//! held-out batches, and saves or restores its whole state (weights, AdamW moments, step).

use super::config::ModelConfig;
use super::gpu::{GpuModel, READBACK_EVERY};
use super::model::{backward, forward};
use super::params::Layout;
use super::train::inputs_and_targets;
use crate::gpu::kernels::{AdamW, Guard};
use crate::gpu::reference::{adamw, l2_pull, step_guard};
use crate::gpu::{Gpu, GpuError};

/// The optimizer's settings that stay fixed over a run (AdamW β₁ 0.9, β₂ 0.95, ε 1e-8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = none).
    pub grad_clip: f64,
    /// λ of the L2 pull toward the anchor weights: gradient += λ·(θ − θ_anchor).
    pub l2: f64,
}

pub const BETA1: f32 = 0.9;
pub const BETA2: f32 = 0.95;
pub const EPS: f32 = 1e-8;

/// Everything a run needs to continue exactly where it was.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState {
    pub params: Vec<f32>,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
    /// AdamW steps taken (the bias corrections' t).
    pub step: usize,
}

impl TrainState {
    /// Fresh AdamW state at `params`.
    pub fn fresh(params: Vec<f32>) -> TrainState {
        let n = params.len();
        TrainState {
            params,
            m: vec![0.0; n],
            v: vec![0.0; n],
            step: 0,
        }
    }
}

/// Losses of the steps since the last [`Engine::take_losses`] (nats per byte), in order,
/// and the step (counting from 1, in the engine's steps) that diverged, if one did: the
/// losses stop before it and no update happens from it on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Losses {
    pub losses: Vec<f64>,
    pub diverged_at: Option<usize>,
}

pub struct CpuEngine {
    cfg: ModelConfig,
    layout: Layout,
    b: usize,
    state: TrainState,
    grads: Vec<f32>,
    anchor: Option<Vec<f32>>,
    pending: Vec<f64>,
    diverged_at: Option<usize>,
}

pub struct GpuEngine<'g> {
    gpu: &'g Gpu,
    model: GpuModel,
    step: usize,
    /// Steps submitted since the last read-back.
    pending: usize,
    diverged_at: Option<usize>,
    has_anchor: bool,
}

// One engine lives per run; the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Engine<'g> {
    Cpu(CpuEngine),
    Gpu(GpuEngine<'g>),
}

impl<'g> Engine<'g> {
    pub fn cpu(cfg: &ModelConfig, batch: usize) -> Engine<'g> {
        let layout = Layout::new(cfg);
        let n = layout.total;
        Engine::Cpu(CpuEngine {
            cfg: cfg.clone(),
            b: batch,
            state: TrainState::fresh(vec![0.0; n]),
            grads: vec![0.0; n],
            layout,
            anchor: None,
            pending: Vec::new(),
            diverged_at: None,
        })
    }

    /// Allocates the model on `gpu` (after checking its memory against the limits) for
    /// batches of `batch` sequences and up to `eval_batches` held-out batches at once.
    pub fn gpu(
        gpu: &'g Gpu,
        cfg: &ModelConfig,
        batch: usize,
        eval_batches: usize,
    ) -> Result<Engine<'g>, GpuError> {
        Ok(Engine::Gpu(GpuEngine {
            gpu,
            model: GpuModel::new(gpu, cfg, batch, eval_batches)?,
            step: 0,
            pending: 0,
            diverged_at: None,
            has_anchor: false,
        }))
    }

    pub fn layout(&self) -> &Layout {
        match self {
            Engine::Cpu(e) => &e.layout,
            Engine::Gpu(e) => &e.model.layout,
        }
    }

    /// "CPU" or the adapter's name.
    pub fn describe(&self) -> String {
        match self {
            Engine::Cpu(_) => "CPU".into(),
            Engine::Gpu(e) => format!("GPU: {}", e.gpu.adapter.name),
        }
    }

    /// Steps between loss read-backs.
    pub fn readback_every(&self) -> usize {
        match self {
            Engine::Cpu(_) => 1,
            Engine::Gpu(_) => READBACK_EVERY,
        }
    }

    /// Restores a whole state (and clears any divergence).
    pub fn load(&mut self, state: &TrainState) -> Result<(), GpuError> {
        match self {
            Engine::Cpu(e) => {
                if state.params.len() != e.layout.total {
                    return Err(GpuError::Invalid("state of another model".into()));
                }
                e.state = state.clone();
                e.pending.clear();
                e.diverged_at = None;
            }
            Engine::Gpu(e) => {
                let g = e.gpu;
                g.write(&e.model.params, &state.params)?;
                e.model.write_moments(g, &state.m, &state.v)?;
                e.step = state.step;
                e.pending = 0;
                e.diverged_at = None;
            }
        }
        Ok(())
    }

    /// The whole state now (weights, moments, step).
    pub async fn state(&self) -> Result<TrainState, GpuError> {
        match self {
            Engine::Cpu(e) => Ok(e.state.clone()),
            Engine::Gpu(e) => {
                let (m, v) = e.model.read_moments(e.gpu).await?;
                Ok(TrainState {
                    params: e.gpu.read(&e.model.params).await?,
                    m,
                    v,
                    step: e.step,
                })
            }
        }
    }

    /// The weights now.
    pub async fn params(&self) -> Result<Vec<f32>, GpuError> {
        match self {
            Engine::Cpu(e) => Ok(e.state.params.clone()),
            Engine::Gpu(e) => e.gpu.read(&e.model.params).await,
        }
    }

    /// Sets the weights the L2 term pulls toward (fine-tuning from pre-trained weights).
    pub fn set_anchor(&mut self, anchor: &[f32]) -> Result<(), GpuError> {
        match self {
            Engine::Cpu(e) => e.anchor = Some(anchor.to_vec()),
            Engine::Gpu(e) => {
                e.model.write_anchor(e.gpu, anchor)?;
                e.has_anchor = true;
            }
        }
        Ok(())
    }

    /// One training step on inputs `x` and targets `y` (B·T bytes each) at learning rate
    /// `lr`. Its loss comes later, from [`Engine::take_losses`].
    pub async fn step(&mut self, x: &[u8], y: &[u8], lr: f64, h: &Hyper) -> Result<(), GpuError> {
        match self {
            Engine::Cpu(e) => {
                e.step(x, y, lr, h);
                Ok(())
            }
            Engine::Gpu(e) => {
                if e.pending == READBACK_EVERY {
                    return Err(GpuError::Invalid(
                        "take_losses before more steps: the loss ring is full".into(),
                    ));
                }
                let g = e.gpu;
                e.model.write_batch(g, x, y)?;
                let mut rec = g.recorder();
                let slot = e.pending;
                e.model
                    .record_forward(&mut rec, super::gpu::Input::Train, slot)?;
                e.model.record_backward(&mut rec)?;
                let l2 = if e.has_anchor { h.l2 as f32 } else { 0.0 };
                e.model
                    .record_update(&mut rec, e.step, slot, lr as f32, h, l2)?;
                g.submit(rec)?;
                e.step += 1;
                e.pending += 1;
                Ok(())
            }
        }
    }

    /// Losses of the steps since the last call.
    pub async fn take_losses(&mut self) -> Result<Losses, GpuError> {
        match self {
            Engine::Cpu(e) => Ok(Losses {
                losses: std::mem::take(&mut e.pending),
                diverged_at: e.diverged_at,
            }),
            Engine::Gpu(e) => {
                let count = std::mem::replace(&mut e.pending, 0);
                if e.diverged_at.is_some() {
                    return Ok(Losses {
                        losses: Vec::new(),
                        diverged_at: e.diverged_at,
                    });
                }
                let losses = e.gpu.read(&e.model.losses).await?;
                let guard: Guard = e.model.read_guard(e.gpu).await?;
                let first = e.step - count; // engine steps before this window
                let mut out = Losses::default();
                let keep = if guard.status > 0 {
                    e.diverged_at = Some(guard.status as usize);
                    out.diverged_at = e.diverged_at;
                    (guard.status as usize - 1).saturating_sub(first)
                } else {
                    count
                };
                out.losses = losses[..keep.min(count)]
                    .iter()
                    .map(|&l| l as f64)
                    .collect();
                Ok(out)
            }
        }
    }

    /// Mean loss over held-out batches (each B rows of T + 1 bytes).
    pub async fn evaluate(&mut self, batches: &[Vec<u8>]) -> Result<f64, GpuError> {
        match self {
            Engine::Cpu(e) => {
                let t = e.cfg.ctx;
                let total: f64 = batches
                    .iter()
                    .map(|rows| {
                        let (x, y) = inputs_and_targets(rows, e.b, t);
                        forward(&e.cfg, &e.layout, &e.state.params, &x, &y, e.b, t).0
                    })
                    .sum();
                Ok(total / batches.len().max(1) as f64)
            }
            Engine::Gpu(e) => e.model.evaluate(e.gpu, batches).await,
        }
    }
}

impl CpuEngine {
    fn step(&mut self, x: &[u8], y: &[u8], lr: f64, h: &Hyper) {
        if self.diverged_at.is_some() {
            return;
        }
        let t = self.cfg.ctx;
        let s = &mut self.state;
        let (loss, acts) = forward(&self.cfg, &self.layout, &s.params, x, y, self.b, t);
        self.grads.fill(0.0);
        if loss.is_finite() {
            backward(
                &self.cfg,
                &self.layout,
                &s.params,
                &mut self.grads,
                &acts,
                x,
                y,
            );
        }
        if let Some(anchor) = &self.anchor {
            l2_pull(h.l2 as f32, &s.params, anchor, &mut self.grads);
        }
        // The same guard as the GPU's (shaders/optimizer.wgsl): stop before updating.
        let (scale, diverged, _) = step_guard(&self.grads, loss, h.grad_clip);
        s.step += 1;
        if diverged {
            self.diverged_at = Some(s.step);
            return;
        }
        if scale != 1.0 {
            self.grads.iter_mut().for_each(|g| *g *= scale);
        }
        for tensor in &self.layout.tensors {
            let r = tensor.range();
            let hyper = AdamW {
                lr: lr as f32,
                beta1: BETA1,
                beta2: BETA2,
                eps: EPS,
                weight_decay: if tensor.decay {
                    h.weight_decay as f32
                } else {
                    0.0
                },
                step: s.step as u32,
            };
            adamw(
                hyper,
                &mut s.params[r.clone()],
                &self.grads[r.clone()],
                &mut s.m[r.clone()],
                &mut s.v[r],
            );
        }
        self.pending.push(loss);
    }
}

/// Runs a future that never waits (the CPU engine's) to completion on this thread.
pub fn run_ready<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("run_ready: the future waited"),
    }
}

/// For native programs that train on the CPU (the CLI, the benchmarks): call first thing in
/// `main`. glibc hands every freed block of 128 KiB or more back to the kernel, so the CPU
/// path's per-step activations came back as fresh zeroed pages at every step; keeping blocks
/// up to 32 MiB (glibc's cap) in the heap makes a training step of the 35k-parameter model
/// about 25% faster. Results are unchanged. (The wasm allocator never returns memory.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory() {}
