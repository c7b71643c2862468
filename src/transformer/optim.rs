//! The optimizer of the transformer's training step: AdamW's fixed settings, the divergence
//! guard, the per-step values ([`StepValues`]), and their GPU kernels
//! (`shaders/optimizer.wgsl`: AdamW over the flat parameter buffer with a weight-decay bit
//! mask, the gradient's global norm and the step guard, the L2 pull toward anchor weights,
//! SAM's ascent and restore).
//! Their CPU counterparts are the functions of the same names in [`crate::cpu`].

pub use crate::cpu::AdamW;
use crate::gpu::kernels::{expect_len, u32_of};
use crate::gpu::wgsl;
use crate::gpu::{grid_1d, grid_groups, GpuError, Recorder, Shader, Tensor};
use bytemuck::{Pod, Zeroable};

const OPTIMIZER: Shader = Shader {
    name: "optimizer",
    source: concat!(wgsl!("step.wgsl"), wgsl!("optimizer.wgsl")),
    sums: true,
    products: false,
};

/// The optimizer's settings that stay fixed over a run (AdamW β₁ 0.9, β₂ 0.95, ε 1e-8).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hyper {
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = none).
    pub grad_clip: f64,
    /// λ of the L2 pull toward the anchor weights: gradient += λ·(θ − θ_anchor).
    pub l2: f64,
    /// SAM's radius ρ: the update takes the gradient at w + ρ·g/‖g‖ (0 = plain AdamW).
    pub sam_rho: f64,
}

pub const BETA1: f32 = 0.9;
pub const BETA2: f32 = 0.95;
pub const EPS: f32 = 1e-8;

/// The values of one training step that its kernels read (`shaders/step.wgsl`): a model's
/// step is built once, and before each step the host rewrites this one small uniform.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct StepValues {
    pub lr: f32,
    /// AdamW's bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ of step t = `step` + 1.
    pub bc1: f32,
    pub bc2: f32,
    pub weight_decay: f32,
    /// λ of the L2 pull toward the anchor weights (fine-tuning).
    pub l2: f32,
    /// The gradient-norm clip (0 = none).
    pub clip: f32,
    /// The 0-based step: the guard's status is `step` + 1 when it diverges.
    pub step: u32,
    /// The slot of the loss ring its loss goes to.
    pub slot: u32,
    /// SAM's radius ρ (0 = plain AdamW: the step runs no SAM kernels).
    pub sam_rho: f32,
    /// To 48 bytes, a multiple of 16 as uniform buffers like them.
    pub _pad: [u32; 3],
}

impl StepValues {
    /// Step `step` (0-based) at learning rate `lr` with the run's settings `h`, pulled
    /// toward the anchor with λ = `l2` (0: not), its loss into `slot`.
    pub fn new(step: usize, slot: usize, lr: f32, h: &Hyper, l2: f32) -> StepValues {
        let t = step as i32 + 1;
        StepValues {
            lr,
            bc1: 1.0 - BETA1.powi(t),
            bc2: 1.0 - BETA2.powi(t),
            weight_decay: h.weight_decay as f32,
            l2,
            clip: h.grad_clip as f32,
            step: step as u32,
            slot: slot as u32,
            sam_rho: h.sam_rho as f32,
            _pad: [0; 3],
        }
    }

    /// A uniform buffer holding these values (rewrite it with `queue.write_buffer`).
    pub fn buffer(&self, gpu: &crate::gpu::Gpu) -> wgpu::Buffer {
        gpu.uniform(self)
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct OptimizerParams {
    n: u32,
    /// sgd's rate (the training step's kernels read theirs from [`StepValues`]).
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    _pad: [u32; 3],
}

impl OptimizerParams {
    fn new(n: usize, lr: f32) -> Result<OptimizerParams, GpuError> {
        Ok(OptimizerParams {
            n: u32_of("n", n)?,
            lr,
            beta1: BETA1,
            beta2: BETA2,
            eps: EPS,
            _pad: [0; 3],
        })
    }
}

/// w = w − lr·g over a flat buffer (tests only).
#[cfg(feature = "test-kernels")]
pub fn sgd(rec: &mut Recorder, lr: f32, w: &Tensor, g: &Tensor) -> Result<(), GpuError> {
    let n = w.len();
    expect_len("g", g, n)?;
    let params = OptimizerParams::new(n, lr)?;
    let uniform = rec.uniform(&params);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipeline(&OPTIMIZER, "sgd"),
        &[(0, &w.buffer), (1, &g.buffer), (4, &uniform)],
        grid,
    )
}

/// The step guard (see `shaders/optimizer.wgsl`): `[scale, status, norm, loss]` of the
/// latest step, on the GPU so that a whole training step needs no read-back. status is
/// 0, or 1 + the first step whose loss or gradient norm was not finite.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Guard {
    pub scale: f32,
    pub status: u32,
    pub norm: f32,
    pub loss: f32,
}

impl Guard {
    /// A guard that lets every update through unscaled.
    pub const OPEN: Guard = Guard {
        scale: 1.0,
        status: 0,
        norm: 0.0,
        loss: 0.0,
    };

    /// The guard's storage buffer on `gpu`.
    pub fn buffer(self, gpu: &crate::gpu::Gpu) -> Result<wgpu::Buffer, GpuError> {
        gpu.storage(&[self])
    }
}

/// Packs a per-element weight-decay mask into the bit words [`adamw`] reads.
pub fn decay_bits(mask: impl IntoIterator<Item = bool>) -> Vec<u32> {
    let mut words = Vec::new();
    for (i, on) in mask.into_iter().enumerate() {
        if i % 32 == 0 {
            words.push(0);
        }
        if on {
            *words.last_mut().expect("pushed") |= 1 << (i % 32);
        }
    }
    words
}

/// One AdamW step over flat buffers (β₁, β₂, ε: [`BETA1`], [`BETA2`], [`EPS`]; the rate,
/// weight decay and bias corrections: the step's values): w, first moment m and second
/// moment v updated in place, the gradient scaled by the guard's clip factor, weight decay
/// where `decay` has the element's bit set; no change at all once the guard's status is set.
#[allow(clippy::too_many_arguments)]
pub fn adamw(
    rec: &mut Recorder,
    w: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    decay: &wgpu::Buffer,
    guard: &wgpu::Buffer,
    step: &wgpu::Buffer,
) -> Result<(), GpuError> {
    let n = w.len();
    expect_len("g", g, n)?;
    expect_len("m", m, n)?;
    expect_len("v", v, n)?;
    if decay.size() < (n.div_ceil(32) * 4) as u64 {
        return Err(GpuError::Invalid(format!(
            "the decay mask needs {} bit words",
            n.div_ceil(32)
        )));
    }
    let uniform = rec.uniform(&OptimizerParams::new(n, 0.0)?);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipeline(&OPTIMIZER, "adamw"),
        &[
            (0, &w.buffer),
            (1, &g.buffer),
            (2, &m.buffer),
            (3, &v.buffer),
            (4, &uniform),
            (5, decay),
            (6, guard),
            (13, step),
        ],
        grid,
    )
}

/// g = g + λ·(w − anchor): the gradient of (λ/2)·‖w − anchor‖² added in place, λ the
/// step's `l2`.
pub fn l2_pull(
    rec: &mut Recorder,
    w: &Tensor,
    anchor: &Tensor,
    g: &Tensor,
    step: &wgpu::Buffer,
) -> Result<(), GpuError> {
    let n = w.len();
    expect_len("anchor", anchor, n)?;
    expect_len("g", g, n)?;
    let uniform = rec.uniform(&OptimizerParams::new(n, 0.0)?);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipeline(&OPTIMIZER, "l2_pull"),
        &[
            (0, &w.buffer),
            (4, &uniform),
            (11, &g.buffer),
            (12, &anchor.buffer),
            (13, step),
        ],
        grid,
    )
}

/// SAM's ascent (see [`crate::cpu::sam_ascent`]): saves w in `saved`, then
/// w = w + (ρ/‖g‖)·g with ρ the step's `sam_rho` and ‖g‖ the global norm of g (no move when
/// it is 0). The norm is gathered in `partials` ([`sumsq_partials`] values) as the step guard
/// gathers it; `scale` (one value) passes ρ/‖g‖ from the norm's workgroup to the update.
pub fn sam_ascent(
    rec: &mut Recorder,
    w: &Tensor,
    g: &Tensor,
    saved: &Tensor,
    partials: &Tensor,
    scale: &Tensor,
    step: &wgpu::Buffer,
) -> Result<(), GpuError> {
    let n = w.len();
    expect_len("g", g, n)?;
    expect_len("saved", saved, n)?;
    expect_len("scale", scale, 1)?;
    let params = grad_sumsq(rec, g, partials)?;
    rec.dispatch(
        &rec.gpu.pipeline(&OPTIMIZER, "sam_scale"),
        &[
            (7, &partials.buffer),
            (9, &params),
            (13, step),
            (15, &scale.buffer),
        ],
        [1, 1, 1],
    )?;
    let uniform = rec.uniform(&OptimizerParams::new(n, 0.0)?);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipeline(&OPTIMIZER, "sam_ascent"),
        &[
            (0, &w.buffer),
            (1, &g.buffer),
            (4, &uniform),
            (14, &saved.buffer),
            (15, &scale.buffer),
        ],
        grid,
    )
}

/// SAM's restore (see [`crate::cpu::sam_restore`]): w = the weights [`sam_ascent`] saved.
pub fn sam_restore(rec: &mut Recorder, w: &Tensor, saved: &Tensor) -> Result<(), GpuError> {
    let n = w.len();
    expect_len("saved", saved, n)?;
    let uniform = rec.uniform(&OptimizerParams::new(n, 0.0)?);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipeline(&OPTIMIZER, "sam_restore"),
        &[(0, &w.buffer), (4, &uniform), (14, &saved.buffer)],
        grid,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GuardParams {
    partials: u32,
    max_loss: f32,
    _pad: [u32; 2],
}

/// A training loss (nats per byte) above this counts as diverged, like a non-finite one:
/// four times the loss of guessing uniformly (ln 256 ≈ 5.55) is a model that has blown up,
/// even when AdamW's bounded steps keep every number finite.
pub const DIVERGED_LOSS: f32 = 4.0 * 5.545_177;

/// How many partial sums of squares the gradient's norm is gathered in: one per invocation
/// of `grad_sumsq`, each over about 64 gradients (at least one workgroup's worth).
pub fn sumsq_partials(n: usize) -> usize {
    n.div_ceil(64).div_ceil(256).max(1) * 256
}

/// Updates the step guard from the gradient's global norm and the step's loss (the step's
/// values give its slot of `losses`, its number and the clip): clip scale min(1, clip/‖g‖)
/// (clip 0 = none), and the status when either is not finite or the loss exceeds
/// [`DIVERGED_LOSS`]. `partials` holds [`sumsq_partials`] values.
pub fn step_guard(
    rec: &mut Recorder,
    g: &Tensor,
    partials: &Tensor,
    losses: &Tensor,
    guard: &wgpu::Buffer,
    step: &wgpu::Buffer,
) -> Result<(), GpuError> {
    let params = grad_sumsq(rec, g, partials)?;
    rec.dispatch(
        &rec.gpu.pipeline(&OPTIMIZER, "step_guard"),
        &[
            (7, &partials.buffer),
            (8, guard),
            (9, &params),
            (10, &losses.buffer),
            (13, step),
        ],
        [1, 1, 1],
    )
}

/// Records g's sums of squares into `partials` ([`sumsq_partials`] values), the first half
/// of a global norm; returns the parameters (the count of partials, the guard's loss limit)
/// that the one-workgroup kernel adding them up binds.
fn grad_sumsq(rec: &mut Recorder, g: &Tensor, partials: &Tensor) -> Result<wgpu::Buffer, GpuError> {
    let n = g.len();
    let groups = sumsq_partials(n);
    expect_len("partials", partials, groups)?;
    let sumsq = rec.uniform(&OptimizerParams::new(n, 0.0)?);
    let params = rec.uniform(&GuardParams {
        partials: u32_of("partials", groups)?,
        max_loss: DIVERGED_LOSS,
        _pad: [0; 2],
    });
    let grid = grid_groups(
        groups.div_ceil(256),
        rec.gpu.limits.max_compute_workgroups_per_dimension,
    );
    rec.dispatch(
        &rec.gpu.pipeline(&OPTIMIZER, "grad_sumsq"),
        &[
            (1, &g.buffer),
            (4, &sumsq),
            (7, &partials.buffer),
            (9, &params),
        ],
        grid,
    )?;
    Ok(params)
}
