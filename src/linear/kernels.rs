//! The linear lab's own GPU kernels (`shaders/linear_gd.wgsl`, `shaders/linear_perturb.wgsl`):
//! many gradient-descent runs at once, one workgroup each, and the perturbed losses of every
//! (checkpoint, γ, draw). Their CPU counterparts are `cpu::linear::gd_step` and
//! `linear::experiment`'s Monte Carlo loop.

use crate::gpu::kernels::{expect_len, u32_of};
use crate::gpu::wgsl;
use crate::gpu::{grid_groups, GpuError, Recorder, Shader, Tensor};
use bytemuck::{Pod, Zeroable};

const LINEAR_GD: Shader = Shader {
    name: "linear_gd",
    source: wgsl!("linear_gd.wgsl"),
    sums: false,
    products: false,
};
const LINEAR_PERTURB: Shader = Shader {
    name: "linear_perturb",
    source: wgsl!("linear_perturb.wgsl"),
    sums: true,
    products: false,
};

/// One run of [`gd_runs`]: its step size, 1 + λ, and which target matrix B it descends to.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct GdRun {
    pub lr: f32,
    /// 1 + λ of the pull toward the pre-trained product (1 for plain descent).
    pub scale: f32,
    pub target_index: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GdParams {
    d: u32,
    h: u32,
    steps: u32,
    step0: u32,
    every: u32,
    snapshots: u32,
    runs: u32,
    _pad: u32,
}

/// The buffers of a batch of linear-lab gradient-descent runs (see `shaders/linear_gd.wgsl`).
pub struct GdBatch<'a> {
    pub d: usize,
    pub h: usize,
    /// runs × (W₁ d×h, W₂ h×d), updated in place.
    pub weights: &'a Tensor,
    /// runs × (d² + 2dh) scratch.
    pub scratch: &'a Tensor,
    /// The B matrices (d×d each) that runs point at.
    pub targets: &'a Tensor,
    /// One [`GdRun`] per run.
    pub runs: &'a wgpu::Buffer,
    pub run_count: usize,
    /// runs × snapshots × 2dh copies of the weights, when `every` > 0.
    pub snapshots: &'a Tensor,
    pub snapshot_count: usize,
    pub every: usize,
    /// One u32 per run: 0, or the step at which it diverged.
    pub status: &'a wgpu::Buffer,
}

/// `steps` gradient-descent steps (global steps step0+1 ..= step0+steps) of every run.
pub fn gd_runs(
    rec: &mut Recorder,
    b: &GdBatch,
    step0: usize,
    steps: usize,
) -> Result<(), GpuError> {
    let dh = b.d * b.h;
    expect_len("weights", b.weights, b.run_count * 2 * dh)?;
    expect_len("scratch", b.scratch, b.run_count * (b.d * b.d + 2 * dh))?;
    if !b.targets.len().is_multiple_of(b.d * b.d) {
        return Err(GpuError::Invalid(
            "targets must hold whole d×d matrices".into(),
        ));
    }
    if b.every > 0 {
        expect_len(
            "snapshots",
            b.snapshots,
            b.run_count * b.snapshot_count * 2 * dh,
        )?;
    }
    let params = GdParams {
        d: u32_of("d", b.d)?,
        h: u32_of("h", b.h)?,
        steps: u32_of("steps", steps)?,
        step0: u32_of("step0", step0)?,
        every: u32_of("every", b.every)?,
        snapshots: u32_of("snapshots", b.snapshot_count)?,
        runs: u32_of("runs", b.run_count)?,
        _pad: 0,
    };
    let uniform = rec.uniform(&params);
    let grid = grid_groups(
        b.run_count,
        rec.gpu.limits.max_compute_workgroups_per_dimension,
    );
    let p = rec.gpu.pipeline(&LINEAR_GD, "gd_runs");
    rec.dispatch(
        &p,
        &[
            (0, &b.weights.buffer),
            (1, &b.scratch.buffer),
            (2, &b.targets.buffer),
            (3, b.runs),
            (4, &b.snapshots.buffer),
            (5, b.status),
            (6, &uniform),
        ],
        grid,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PerturbParams {
    d: u32,
    h: u32,
    checkpoints: u32,
    gammas: u32,
    draws: u32,
    _pad: [u32; 3],
}

/// losses[(c·G + g)·M + m] = ‖(W₁ᶜ + γ_g Z₁ᵐ)(W₂ᶜ + γ_g Z₂ᵐ) − A‖² (see
/// `shaders/linear_perturb.wgsl`); `weights` is checkpoints × 2dh, `noise` draws × 2dh.
#[allow(clippy::too_many_arguments)]
pub fn perturbed_loss(
    rec: &mut Recorder,
    d: usize,
    h: usize,
    weights: &Tensor,
    noise: &Tensor,
    gammas: &Tensor,
    task: &Tensor,
    losses: &Tensor,
) -> Result<(), GpuError> {
    let per = 2 * d * h;
    let (checkpoints, draws, g) = (weights.len() / per, noise.len() / per, gammas.len());
    expect_len("weights", weights, checkpoints * per)?;
    expect_len("noise", noise, draws * per)?;
    expect_len("task", task, d * d)?;
    expect_len("losses", losses, checkpoints * g * draws)?;
    let params = PerturbParams {
        d: u32_of("d", d)?,
        h: u32_of("h", h)?,
        checkpoints: u32_of("checkpoints", checkpoints)?,
        gammas: u32_of("gammas", g)?,
        draws: u32_of("draws", draws)?,
        _pad: [0; 3],
    };
    let uniform = rec.uniform(&params);
    let total = checkpoints * g * draws;
    let grid = grid_groups(total, rec.gpu.limits.max_compute_workgroups_per_dimension);
    let p = rec.gpu.pipeline(&LINEAR_PERTURB, "perturbed_loss");
    rec.dispatch(
        &p,
        &[
            (0, &weights.buffer),
            (1, &noise.buffer),
            (2, &gammas.buffer),
            (3, &task.buffer),
            (4, &losses.buffer),
            (5, &uniform),
        ],
        grid,
    )
}
