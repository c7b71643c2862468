//! The one owner of training: an [`Engine`] runs stretches of training steps on the CPU
//! reference or on the GPU — batches drawn from a byte stream, the learning rate from a
//! [`Lr`] schedule, AdamW with clipping and the divergence guard, optionally on SAM's
//! gradient, an optional L2 pull toward anchor weights — reading the losses back itself (the GPU every [`READBACK_EVERY`]
//! steps) and handing them to an [`Observer`], with held-out evaluations in between. It
//! also saves and restores its whole state (weights, AdamW moments, step), so every
//! protocol (pre-training, warmup–stable–decay branches, fine-tuning) is written once.

use super::config::ModelConfig;
use super::gpu::{memory_estimate, GpuModel, READBACK_EVERY};
use super::micro::{MicroBatches, RemoteParts};
pub use super::optim::Hyper;
use super::optim::{AdamW, Guard, StepValues, BETA1, BETA2, DIVERGED_LOSS, EPS};
use super::params::Layout;
use super::schedule::Lr;
use crate::cpu::{adamw, l2_pull, sam_ascent, sam_restore, step_guard};
use crate::data::{batch, inputs_and_targets, ByteSource};
use crate::error::Error;
use crate::gpu::Gpu;
use std::ops::Range;

/// Everything a run needs to continue exactly where it was.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// Losses of the steps since the last read-back (nats per byte), in order, and the step
/// (counting from 1, in the engine's steps) that diverged, if one did: the losses stop
/// before it and no update happens from it on.
#[derive(Debug, Clone, Default, PartialEq)]
struct Losses {
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
    /// The forward and backward passes' buffers of each micro-batch, reused by every step.
    micro: MicroBatches,
    /// SAM: the weights w while the gradient is taken at w + ε.
    saved: Vec<f32>,
    /// Other workers that may take some of each step's micro-batches (the page's).
    remote: Option<Remote>,
}

/// The helpers a CPU engine shares its steps with ([`RemoteParts`]); one handle for every
/// engine of a worker.
pub type Remote = std::rc::Rc<dyn RemoteParts>;

pub struct GpuEngine<'g> {
    gpu: &'g Gpu,
    model: GpuModel,
    step: usize,
    /// Steps submitted since the last read-back.
    pending: usize,
    diverged_at: Option<usize>,
    has_anchor: bool,
}

/// One stretch of training: steps `steps` (0-based, of the schedule `lr`) on batches drawn
/// from `source`, with held-out evaluations after the steps that are multiples of
/// `eval.every` (counting the schedule's steps from 1, so that a stretch resumed mid-run
/// evaluates where the whole run does) and after its last step.
pub struct Stretch<'a> {
    pub source: &'a mut dyn ByteSource,
    pub lr: &'a Lr,
    pub steps: Range<usize>,
    pub hyper: Hyper,
    pub eval: Option<Eval<'a>>,
}

/// Held-out evaluation during a stretch.
pub struct Eval<'a> {
    pub every: usize,
    /// Batches of B rows of T + 1 bytes.
    pub batches: &'a [Vec<u8>],
}

/// How a stretch ended: the steps done (all of them unless one diverged) and the diverged
/// step (counting from 1 in the engine's steps, see [`TrainState::step`]), if one did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trained {
    pub done: usize,
    pub diverged_at: Option<usize>,
}

/// What a stretch reports to as it runs. Returning an error stops it (a cancel); the
/// observer may also wait (a pause in the page).
#[allow(async_fn_in_trait)]
pub trait Observer {
    /// After every loss read-back: the losses of the steps since the last one, in order,
    /// with `done` steps of the stretch finished.
    async fn losses(&mut self, done: usize, losses: &[f64]) -> Result<(), Error>;
    /// After a held-out evaluation (mean loss, nats per byte) after the schedule's step
    /// `step` (counting from 1).
    async fn evaluated(&mut self, _step: usize, _loss: f64) -> Result<(), Error> {
        Ok(())
    }
}

/// An observer that wants nothing.
impl Observer for () {
    async fn losses(&mut self, _done: usize, _losses: &[f64]) -> Result<(), Error> {
        Ok(())
    }
}

// One engine lives per run; the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Engine<'g> {
    Cpu(CpuEngine),
    Gpu(GpuEngine<'g>),
}

impl<'g> Engine<'g> {
    /// The CPU path for batches of `batch` sequences, each step's batch in `micro_batches`
    /// parts ([`super::micro`]; capped at `batch`).
    pub fn cpu(cfg: &ModelConfig, batch: usize, micro_batches: usize) -> Engine<'g> {
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
            micro: MicroBatches::new(cfg, n, batch, cfg.ctx, micro_batches),
            saved: vec![0.0; n],
            remote: None,
        })
    }

    /// Lets other workers take micro-batches of this engine's training steps (the CPU's;
    /// the GPU takes each batch whole).
    pub fn share_with(&mut self, remote: Option<Remote>) {
        if let Engine::Cpu(e) = self {
            e.remote = remote;
        }
    }

    /// Allocates the model on `gpu` (after checking its memory against the limits) for
    /// batches of `batch` sequences and up to `eval_batches` held-out batches at once.
    pub fn gpu(
        gpu: &'g Gpu,
        cfg: &ModelConfig,
        batch: usize,
        eval_batches: usize,
    ) -> Result<Engine<'g>, Error> {
        memory_estimate(cfg, batch, eval_batches).fits(&gpu.limits)?;
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
            Engine::Gpu(e) => e.model.layout(),
        }
    }

    /// "CPU" or the adapter's name.
    pub fn describe(&self) -> String {
        match self {
            Engine::Cpu(_) => "CPU".into(),
            Engine::Gpu(e) => format!("GPU: {}", e.gpu.adapter.name),
        }
    }

    /// (sequences per batch, bytes per sequence).
    fn batch_shape(&self) -> (usize, usize) {
        match self {
            Engine::Cpu(e) => (e.b, e.cfg.ctx),
            Engine::Gpu(e) => e.model.batch_shape(),
        }
    }

    /// Steps between loss read-backs.
    fn readback_every(&self) -> usize {
        match self {
            Engine::Cpu(_) => 1,
            Engine::Gpu(_) => READBACK_EVERY,
        }
    }

    /// Restores a whole state, and clears any divergence and the anchor, so that what runs
    /// next does not depend on what ran before on this engine.
    pub fn load(&mut self, state: &TrainState) -> Result<(), Error> {
        match self {
            Engine::Cpu(e) => {
                if state.params.len() != e.layout.total {
                    return Err(Error::data(
                        "state",
                        format!(
                            "{} parameters for a model of {}",
                            state.params.len(),
                            e.layout.total
                        ),
                    ));
                }
                e.state = state.clone();
                e.pending.clear();
                e.diverged_at = None;
                e.anchor = None;
            }
            Engine::Gpu(e) => {
                let g = e.gpu;
                g.write(e.model.params(), &state.params)?;
                e.model.write_moments(g, &state.m, &state.v)?;
                e.step = state.step;
                e.pending = 0;
                e.diverged_at = None;
                e.has_anchor = false;
            }
        }
        Ok(())
    }

    /// The whole state now (weights, moments, step).
    pub async fn state(&self) -> Result<TrainState, Error> {
        match self {
            Engine::Cpu(e) => Ok(e.state.clone()),
            Engine::Gpu(e) => {
                let (m, v) = e.model.read_moments(e.gpu).await?;
                Ok(TrainState {
                    params: e.gpu.read(e.model.params()).await?,
                    m,
                    v,
                    step: e.step,
                })
            }
        }
    }

    /// The weights now.
    pub async fn params(&self) -> Result<Vec<f32>, Error> {
        match self {
            Engine::Cpu(e) => Ok(e.state.params.clone()),
            Engine::Gpu(e) => Ok(e.gpu.read(e.model.params()).await?),
        }
    }

    /// Sets the weights the L2 term pulls toward (fine-tuning from pre-trained weights).
    pub fn set_anchor(&mut self, anchor: &[f32]) -> Result<(), Error> {
        match self {
            Engine::Cpu(e) => e.anchor = Some(anchor.to_vec()),
            Engine::Gpu(e) => {
                e.model.write_anchor(e.gpu, anchor)?;
                e.has_anchor = true;
            }
        }
        Ok(())
    }

    /// Runs a stretch of training (see [`Stretch`]), reporting to `observer`; stops
    /// after the read-back that finds a diverged step.
    pub async fn train(
        &mut self,
        run: Stretch<'_>,
        observer: &mut impl Observer,
    ) -> Result<Trained, Error> {
        let (b, t) = self.batch_shape();
        let n = run.steps.len();
        for (i, step) in run.steps.clone().enumerate() {
            let rows = batch(run.source, b, t);
            let (x, y) = inputs_and_targets(&rows, b, t);
            self.step(&x, &y, run.lr.at(step), &run.hyper).await?;
            let done = i + 1;
            let eval_due = run
                .eval
                .as_ref()
                .is_some_and(|e| (step + 1) % e.every == 0 || done == n);
            if done % self.readback_every() == 0 || done == n || eval_due {
                let taken = self.take_losses().await?;
                observer.losses(done, &taken.losses).await?;
                if taken.diverged_at.is_some() {
                    return Ok(Trained {
                        done,
                        diverged_at: taken.diverged_at,
                    });
                }
                if let (true, Some(e)) = (eval_due, &run.eval) {
                    let loss = self.evaluate(e.batches).await?;
                    observer.evaluated(step + 1, loss).await?;
                }
            }
        }
        Ok(Trained {
            done: n,
            diverged_at: None,
        })
    }

    /// One training step on inputs `x` and targets `y` (B·T bytes each) at learning rate
    /// `lr`. Its loss comes later, from [`Engine::take_losses`].
    async fn step(&mut self, x: &[u8], y: &[u8], lr: f64, h: &Hyper) -> Result<(), Error> {
        match self {
            Engine::Cpu(e) => e.step(x, y, lr, h).await,
            Engine::Gpu(e) => {
                let g = e.gpu;
                e.model.write_batch(g, x, y)?;
                let l2 = if e.has_anchor { h.l2 as f32 } else { 0.0 };
                let values = StepValues::new(e.step, e.pending, lr as f32, h, l2);
                e.model.run_step(g, &values, l2 != 0.0)?;
                e.step += 1;
                e.pending += 1;
                Ok(())
            }
        }
    }

    /// Losses of the steps since the last call.
    async fn take_losses(&mut self) -> Result<Losses, Error> {
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
                let losses = e.gpu.read(e.model.losses()).await?;
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

    /// The gradient of the mean loss over `batches` (each B rows of T + 1 bytes) at
    /// `params`, without updating anything (the engine's weights become `params`): for the
    /// Hessian-vector products of the sharpness. Each batch's gradient of its mean loss, then
    /// their mean, in batch order.
    pub async fn gradient(
        &mut self,
        params: &[f32],
        batches: &[Vec<u8>],
    ) -> Result<Vec<f32>, Error> {
        let (b, t) = self.batch_shape();
        let mut sum = vec![0.0f32; params.len()];
        match self {
            Engine::Cpu(e) => {
                e.state.params.copy_from_slice(params);
                for rows in batches {
                    let (x, y) = inputs_and_targets(rows, b, t);
                    e.micro
                        .gradient(&e.cfg, &e.layout, params, &x, &y, &mut e.grads);
                    sum.iter_mut().zip(&e.grads).for_each(|(s, g)| *s += g);
                }
            }
            Engine::Gpu(e) => {
                let g = e.gpu;
                g.write(e.model.params(), params)?;
                for rows in batches {
                    let (x, y) = inputs_and_targets(rows, b, t);
                    e.model.write_batch(g, &x, &y)?;
                    e.model.run_forward(g, 0)?;
                    e.model.run_backward(g)?;
                    let grads = g.read(e.model.grads()).await?;
                    sum.iter_mut().zip(&grads).for_each(|(s, g)| *s += g);
                }
            }
        }
        let n = batches.len().max(1) as f32;
        sum.iter_mut().for_each(|s| *s /= n);
        Ok(sum)
    }

    /// Mean loss over held-out batches (each B rows of T + 1 bytes).
    pub async fn evaluate(&mut self, batches: &[Vec<u8>]) -> Result<f64, Error> {
        match self {
            Engine::Cpu(e) => {
                let t = e.cfg.ctx;
                let total: f64 = batches
                    .iter()
                    .map(|rows| {
                        let (x, y) = inputs_and_targets(rows, e.b, t);
                        e.micro.forward(&e.cfg, &e.layout, &e.state.params, &x, &y)
                    })
                    .sum();
                Ok(total / batches.len().max(1) as f64)
            }
            Engine::Gpu(e) => Ok(e.model.evaluate(e.gpu, batches).await?),
        }
    }
}

impl CpuEngine {
    async fn step(&mut self, x: &[u8], y: &[u8], lr: f64, h: &Hyper) -> Result<(), Error> {
        if self.diverged_at.is_some() {
            return Ok(());
        }
        let s = &mut self.state;
        let (cfg, layout, micro) = (&self.cfg, &self.layout, &mut self.micro);
        let remote = self.remote.as_deref();
        let loss = micro
            .gradient_shared(cfg, layout, &s.params, x, y, &mut self.grads, remote)
            .await?;
        // SAM (`model::sam_gradient`, with a gradient that may wait for other workers): the
        // update's gradient is the one at w + ρ·g/‖g‖; the step's loss stays the one at w. (A
        // step whose loss at w is not finite diverges below either way.)
        if h.sam_rho > 0.0 && loss.is_finite() {
            sam_ascent(
                h.sam_rho as f32,
                &mut s.params,
                &self.grads,
                &mut self.saved,
            );
            micro
                .gradient_shared(cfg, layout, &s.params, x, y, &mut self.grads, remote)
                .await?;
            sam_restore(&mut s.params, &self.saved);
        }
        if let Some(anchor) = &self.anchor {
            l2_pull(h.l2 as f32, &s.params, anchor, &mut self.grads);
        }
        // The same guard as the GPU's (shaders/optimizer.wgsl): stop before updating.
        let (scale, diverged, _) = step_guard(&self.grads, loss, h.grad_clip, DIVERGED_LOSS as f64);
        s.step += 1;
        if diverged {
            self.diverged_at = Some(s.step);
            return Ok(());
        }
        if scale != 1.0 {
            crate::cpu::scale(&mut self.grads, scale);
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
        Ok(())
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
