//! One thin wrapper per kernel: check shapes and limits, write the parameters, record the
//! dispatch. Nothing is submitted here; see [`super::Recorder`]. The CPU oracle of each
//! function is the function of the same name in [`super::reference`].

use super::{grid_1d, grid_groups, GpuError, Recorder, Tensor, View};
use bytemuck::{Pod, Zeroable};

/// The shape of one (batched) product: out[b] = alpha·op(A[b])·op(B[b]) + beta·out[b].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulSpec {
    /// Rows of op(A) and of the output.
    pub m: usize,
    /// Columns of op(A), rows of op(B).
    pub k: usize,
    /// Columns of op(B) and of the output.
    pub n: usize,
    /// Independent products laid out one after another in each tensor.
    pub batch: usize,
    /// Use Aᵀ (A stored k×m) instead of A (stored m×k).
    pub trans_a: bool,
    /// Use Bᵀ (B stored n×k) instead of B (stored k×n).
    pub trans_b: bool,
    pub alpha: f32,
    /// 0 overwrites the output; 1 accumulates into it.
    pub beta: f32,
}

impl MatmulSpec {
    /// A plain product out = A·B.
    pub fn new(m: usize, k: usize, n: usize) -> Self {
        MatmulSpec {
            m,
            k,
            n,
            batch: 1,
            trans_a: false,
            trans_b: false,
            alpha: 1.0,
            beta: 0.0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MatmulParams {
    m: u32,
    k: u32,
    n: u32,
    batch: u32,
    trans_a: u32,
    trans_b: u32,
    stride_a: u32,
    stride_b: u32,
    stride_out: u32,
    alpha: f32,
    beta: f32,
    offset_a: u32,
    offset_b: u32,
    offset_out: u32,
    k_begin: u32,
    k_end: u32,
}

pub(crate) fn expect_len<'a>(
    name: &str,
    t: impl Into<View<'a>>,
    len: usize,
) -> Result<(), GpuError> {
    let t = t.into();
    if t.len != len {
        return Err(GpuError::Invalid(format!(
            "{name} has {} values, expected {len}",
            t.len
        )));
    }
    Ok(())
}

pub(crate) fn u32_of(name: &str, x: usize) -> Result<u32, GpuError> {
    u32::try_from(x).map_err(|_| GpuError::Invalid(format!("{name} = {x} does not fit in 32 bits")))
}

/// The longest slice of an inner sum one invocation makes (see `shaders/matmul.wgsl`):
/// software drivers stop an invocation after 65,535 loop iterations, so longer sums are
/// split into several accumulating dispatches, on every adapter alike.
pub const MATMUL_K_CHUNK: usize = 16_384;

/// Tiled matrix product, batched over a leading dimension (see `shaders/matmul.wgsl`).
/// Each operand may be a range of a larger buffer ([`View`]).
pub fn matmul<'a>(
    rec: &mut Recorder,
    a: impl Into<View<'a>>,
    b: impl Into<View<'a>>,
    out: impl Into<View<'a>>,
    s: MatmulSpec,
) -> Result<(), GpuError> {
    let (a, b, out) = (a.into(), b.into(), out.into());
    expect_len("A", a, s.batch * s.m * s.k)?;
    expect_len("B", b, s.batch * s.k * s.n)?;
    expect_len("out", out, s.batch * s.m * s.n)?;
    let grid = [
        s.n.div_ceil(16) as u32,
        s.m.div_ceil(16) as u32,
        u32_of("batch", s.batch)?,
    ];
    let mut k_begin = 0;
    loop {
        let k_end = (k_begin + MATMUL_K_CHUNK).min(s.k);
        let params = MatmulParams {
            m: u32_of("m", s.m)?,
            k: u32_of("k", s.k)?,
            n: u32_of("n", s.n)?,
            batch: u32_of("batch", s.batch)?,
            trans_a: s.trans_a as u32,
            trans_b: s.trans_b as u32,
            stride_a: u32_of("m·k", s.m * s.k)?,
            stride_b: u32_of("k·n", s.k * s.n)?,
            stride_out: u32_of("m·n", s.m * s.n)?,
            alpha: s.alpha,
            beta: if k_begin == 0 { s.beta } else { 1.0 },
            offset_a: u32_of("offset of A", a.offset)?,
            offset_b: u32_of("offset of B", b.offset)?,
            offset_out: u32_of("offset of out", out.offset)?,
            k_begin: k_begin as u32,
            k_end: k_end as u32,
        };
        let uniform = rec.gpu.uniform(&params);
        let p = &rec.gpu.pipelines.matmul;
        rec.dispatch(
            p,
            &[(0, a.buffer), (1, b.buffer), (2, out.buffer), (3, &uniform)],
            grid,
        )?;
        k_begin = k_end;
        if k_begin >= s.k {
            return Ok(());
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ElementwiseParams {
    n: u32,
    alpha: f32,
    _pad: [u32; 2],
}

/// The binary elementwise operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
}

/// out = x ∘ y for ∘ in {+, −, ×}.
pub fn binary(
    rec: &mut Recorder,
    op: Binary,
    x: &Tensor,
    y: &Tensor,
    out: &Tensor,
) -> Result<(), GpuError> {
    let n = out.len();
    expect_len("x", x, n)?;
    expect_len("y", y, n)?;
    let uniform = rec.gpu.uniform(&ElementwiseParams {
        n: u32_of("n", n)?,
        alpha: 0.0,
        _pad: [0; 2],
    });
    let pipelines = &rec.gpu.pipelines;
    let p = match op {
        Binary::Add => &pipelines.add,
        Binary::Sub => &pipelines.sub,
        Binary::Mul => &pipelines.mul,
    };
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        p,
        &[
            (0, &x.buffer),
            (1, &y.buffer),
            (2, &out.buffer),
            (3, &uniform),
        ],
        grid,
    )
}

/// out = x + y.
pub fn add(rec: &mut Recorder, x: &Tensor, y: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    binary(rec, Binary::Add, x, y, out)
}

/// out = x − y.
pub fn sub(rec: &mut Recorder, x: &Tensor, y: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    binary(rec, Binary::Sub, x, y, out)
}

/// out = x × y (elementwise).
pub fn mul(rec: &mut Recorder, x: &Tensor, y: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    binary(rec, Binary::Mul, x, y, out)
}

/// out = alpha·x.
pub fn scale(rec: &mut Recorder, alpha: f32, x: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    unary(rec, alpha, x, out, false)
}

/// out = out + alpha·x.
pub fn axpy(rec: &mut Recorder, alpha: f32, x: &Tensor, out: &Tensor) -> Result<(), GpuError> {
    unary(rec, alpha, x, out, true)
}

fn unary(
    rec: &mut Recorder,
    alpha: f32,
    x: &Tensor,
    out: &Tensor,
    accumulate: bool,
) -> Result<(), GpuError> {
    let n = out.len();
    expect_len("x", x, n)?;
    let uniform = rec.gpu.uniform(&ElementwiseParams {
        n: u32_of("n", n)?,
        alpha,
        _pad: [0; 2],
    });
    let p = if accumulate {
        &rec.gpu.pipelines.axpy
    } else {
        &rec.gpu.pipelines.scale
    };
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(p, &[(0, &x.buffer), (2, &out.buffer), (3, &uniform)], grid)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ReduceParams {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

/// out[r] = Σ_c x[r, c] (`square`: Σ_c x[r, c]²) for a rows×cols x; a whole-tensor
/// reduction is `rows = 1`.
pub fn reduce_rows(
    rec: &mut Recorder,
    x: &Tensor,
    rows: usize,
    cols: usize,
    square: bool,
    out: &Tensor,
) -> Result<(), GpuError> {
    expect_len("x", x, rows * cols)?;
    expect_len("out", out, rows)?;
    let uniform = rec.gpu.uniform(&ReduceParams {
        rows: u32_of("rows", rows)?,
        cols: u32_of("cols", cols)?,
        _pad: [0; 2],
    });
    let grid = grid_groups(rows, rec.gpu.limits.max_compute_workgroups_per_dimension);
    let p = if square {
        &rec.gpu.pipelines.sumsq_rows
    } else {
        &rec.gpu.pipelines.sum_rows
    };
    rec.dispatch(p, &[(0, &x.buffer), (1, &out.buffer), (2, &uniform)], grid)
}

/// out[r] = Σ_c x[r, c].
pub fn sum_rows(
    rec: &mut Recorder,
    x: &Tensor,
    rows: usize,
    cols: usize,
    out: &Tensor,
) -> Result<(), GpuError> {
    reduce_rows(rec, x, rows, cols, false, out)
}

/// out[r] = Σ_c x[r, c]².
pub fn sumsq_rows(
    rec: &mut Recorder,
    x: &Tensor,
    rows: usize,
    cols: usize,
    out: &Tensor,
) -> Result<(), GpuError> {
    reduce_rows(rec, x, rows, cols, true, out)
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct NoiseParams {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    offset_lo: u32,
    offset_hi: u32,
    scale: f32,
    _pad: [u32; 2],
}

/// out[i] = scale · z(seed, offset + i), z standard normal from a counter-based generator.
pub fn gaussian(
    rec: &mut Recorder,
    seed: u64,
    offset: u64,
    scale: f32,
    out: &Tensor,
) -> Result<(), GpuError> {
    let n = out.len();
    let params = NoiseParams {
        n: u32_of("n", n)?,
        seed_lo: seed as u32,
        seed_hi: (seed >> 32) as u32,
        offset_lo: offset as u32,
        offset_hi: (offset >> 32) as u32,
        scale,
        _pad: [0; 2],
    };
    let uniform = rec.gpu.uniform(&params);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipelines.gaussian,
        &[(0, &out.buffer), (1, &uniform)],
        grid,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct OptimizerParams {
    n: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bc1: f32,
    bc2: f32,
}

impl OptimizerParams {
    /// The parameters of the one-scalar kernels (sgd, l2_pull, grad_sumsq): n and `lr`.
    fn scalar(n: usize, lr: f32) -> Result<OptimizerParams, GpuError> {
        Ok(OptimizerParams {
            n: u32_of("n", n)?,
            lr,
            beta1: 0.0,
            beta2: 0.0,
            eps: 0.0,
            weight_decay: 0.0,
            bc1: 1.0,
            bc2: 1.0,
        })
    }
}

/// w = w − lr·g over a flat buffer.
pub fn sgd(rec: &mut Recorder, lr: f32, w: &Tensor, g: &Tensor) -> Result<(), GpuError> {
    let n = w.len();
    expect_len("g", g, n)?;
    let params = OptimizerParams::scalar(n, lr)?;
    let uniform = rec.gpu.uniform(&params);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipelines.sgd,
        &[(0, &w.buffer), (1, &g.buffer), (4, &uniform)],
        grid,
    )
}

/// AdamW hyper-parameters for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// The step number t ≥ 1 (for the bias corrections 1 − β^t).
    pub step: u32,
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
    pub fn buffer(self, gpu: &super::Gpu) -> Result<wgpu::Buffer, GpuError> {
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

/// One AdamW step over flat buffers: w, first moment m and second moment v updated in
/// place, the gradient scaled by the guard's clip factor, weight decay where `decay` has the
/// element's bit set; no change at all once the guard's status is set.
#[allow(clippy::too_many_arguments)]
pub fn adamw(
    rec: &mut Recorder,
    h: AdamW,
    w: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    decay: &wgpu::Buffer,
    guard: &wgpu::Buffer,
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
    if h.step == 0 {
        return Err(GpuError::Invalid("AdamW steps count from 1".into()));
    }
    let params = OptimizerParams {
        n: u32_of("n", n)?,
        lr: h.lr,
        beta1: h.beta1,
        beta2: h.beta2,
        eps: h.eps,
        weight_decay: h.weight_decay,
        bc1: 1.0 - h.beta1.powi(h.step as i32),
        bc2: 1.0 - h.beta2.powi(h.step as i32),
    };
    let uniform = rec.gpu.uniform(&params);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipelines.adamw,
        &[
            (0, &w.buffer),
            (1, &g.buffer),
            (2, &m.buffer),
            (3, &v.buffer),
            (4, &uniform),
            (5, decay),
            (6, guard),
        ],
        grid,
    )
}

/// g = g + alpha·(w − anchor): the gradient of (alpha/2)·‖w − anchor‖² added in place.
pub fn l2_pull(
    rec: &mut Recorder,
    alpha: f32,
    w: &Tensor,
    anchor: &Tensor,
    g: &Tensor,
) -> Result<(), GpuError> {
    let n = w.len();
    expect_len("anchor", anchor, n)?;
    expect_len("g", g, n)?;
    let uniform = rec.gpu.uniform(&OptimizerParams::scalar(n, alpha)?);
    let grid = grid_1d(n, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipelines.l2_pull,
        &[
            (0, &w.buffer),
            (4, &uniform),
            (11, &g.buffer),
            (12, &anchor.buffer),
        ],
        grid,
    )
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GuardParams {
    partials: u32,
    step: u32,
    clip: f32,
    loss_slot: u32,
    max_loss: f32,
    _pad: [u32; 3],
}

/// A training loss (nats per byte) above this counts as diverged, like a non-finite one:
/// four times the loss of guessing uniformly (ln 256 ≈ 5.55) is a model that has blown up,
/// even when AdamW's bounded steps keep every number finite.
pub const DIVERGED_LOSS: f32 = 4.0 * 5.545_177;

/// Updates the step guard from the gradient's global norm and the step's loss
/// (`losses[loss_slot]`): clip scale min(1, clip/‖g‖) (clip 0 = none), and the status
/// when either is not finite or the loss exceeds [`DIVERGED_LOSS`]. `partials` holds one f32 per 256 gradients.
#[allow(clippy::too_many_arguments)]
pub fn step_guard(
    rec: &mut Recorder,
    g: &Tensor,
    partials: &Tensor,
    losses: &Tensor,
    loss_slot: usize,
    step: usize,
    clip: f32,
    guard: &wgpu::Buffer,
) -> Result<(), GpuError> {
    let n = g.len();
    let groups = n.div_ceil(256);
    expect_len("partials", partials, groups)?;
    if loss_slot >= losses.len() {
        return Err(GpuError::Invalid(format!(
            "loss slot {loss_slot} of {}",
            losses.len()
        )));
    }
    let sumsq = rec.gpu.uniform(&OptimizerParams::scalar(n, 0.0)?);
    let grid = grid_groups(groups, rec.gpu.limits.max_compute_workgroups_per_dimension);
    rec.dispatch(
        &rec.gpu.pipelines.grad_sumsq,
        &[(1, &g.buffer), (4, &sumsq), (7, &partials.buffer)],
        grid,
    )?;
    let params = rec.gpu.uniform(&GuardParams {
        partials: u32_of("partials", groups)?,
        step: u32_of("step", step)?,
        clip,
        loss_slot: loss_slot as u32,
        max_loss: DIVERGED_LOSS,
        _pad: [0; 3],
    });
    rec.dispatch(
        &rec.gpu.pipelines.step_guard,
        &[
            (7, &partials.buffer),
            (8, guard),
            (9, &params),
            (10, &losses.buffer),
        ],
        [1, 1, 1],
    )
}

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
    let uniform = rec.gpu.uniform(&params);
    let grid = grid_groups(
        b.run_count,
        rec.gpu.limits.max_compute_workgroups_per_dimension,
    );
    let p = &rec.gpu.pipelines.linear_gd;
    rec.dispatch(
        p,
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
    let uniform = rec.gpu.uniform(&params);
    let total = checkpoints * g * draws;
    let grid = grid_groups(total, rec.gpu.limits.max_compute_workgroups_per_dimension);
    let p = &rec.gpu.pipelines.linear_perturb;
    rec.dispatch(
        p,
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
