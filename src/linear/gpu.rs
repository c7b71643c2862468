//! The linear lab on the WebGPU backend. The same experiment as [`super::experiment::run`],
//! with the work batched so a full recompute is a handful of dispatches:
//!
//! 1. pre-training: one run of `gd_runs`, in chunks of steps, snapshotting every checkpoint;
//! 2. perturbation: `gaussian` draws the noise (the same counter-based stream as the CPU
//!    path), one `perturbed_loss` dispatch evaluates every (checkpoint, γ, draw);
//! 3. fine-tuning: every (checkpoint, λ, η_ft) is one run of a single `gd_runs` batch.
//!
//! Per-checkpoint evaluation (θ = W₁W₂, losses, singular values: O(d³) per checkpoint) is
//! done on the CPU from the read-back weights; it is a rounding error next to the training.
//! GPU results match the CPU path within [`TOLERANCE`] (relative, per curve); the GPU
//! sums in another order and may fuse multiply-adds.

use super::basis::singular_values_in_basis;
use super::config::LinearConfig;
use super::experiment::{expected_perturbed_loss, mean_and_se, Tasks};
use super::kernels::{self, GdBatch, GdRun};
use super::results::{FinetuneCurve, FinetuneOutcome, LinearResults, PerturbCurve};
use crate::cpu::linear::{balanced_init, squared_distance};
use crate::cpu::matmul;
use crate::gpu::{Gpu, GpuError};

/// Documented agreement with the CPU path: for every curve, max |gpu − cpu| ≤ TOLERANCE ×
/// max |cpu| (over its checkpoints).
pub const TOLERANCE: f64 = 1e-3;

/// At most this many steps per dispatch: keeps every dispatch short (browsers abort long
/// GPU work with a device loss).
const MAX_STEPS_PER_DISPATCH: usize = 100;

/// Mesa's llvmpipe/lavapipe stops a shader invocation after 65535 loop iterations in all
/// (a guard against endless loops) and silently leaves the rest of the dispatch undone.
/// Dispatches are sized to stay well inside that budget on every adapter.
const LOOP_BUDGET: usize = 30_000;
const LLVMPIPE_LOOP_LIMIT: usize = 65_535;

/// Loop iterations one invocation of `gd_runs` makes per step (256 invocations per run).
fn gd_iterations_per_step(d: usize, h: usize) -> usize {
    let per = |n: usize| n.div_ceil(256);
    per(d * d) * h + per(d * h) * d * 2 + per(2 * d * h) * 2 + 1
}

/// Loop iterations one invocation of `perturbed_loss` makes.
fn perturb_iterations(d: usize, h: usize) -> usize {
    (d * d).div_ceil(256) * h + 9
}

/// Steps per dispatch for this shape, or the limit error on llvmpipe when even one step
/// would exceed its loop-iteration guard.
fn steps_per_dispatch(gpu: &Gpu, d: usize, h: usize) -> Result<usize, GpuError> {
    let per_step = gd_iterations_per_step(d, h).max(perturb_iterations(d, h));
    let llvmpipe = gpu.adapter.name.to_ascii_lowercase().contains("llvmpipe");
    if llvmpipe && per_step > LLVMPIPE_LOOP_LIMIT {
        return Err(GpuError::Limit {
            limit: "loop iterations per shader invocation (llvmpipe)",
            requested: per_step as u64,
            max: LLVMPIPE_LOOP_LIMIT as u64,
        });
    }
    Ok((LOOP_BUDGET / per_step).clamp(1, MAX_STEPS_PER_DISPATCH))
}

/// Whether `config` fits `gpu`: its loops fit the adapter's guard and its largest buffers
/// (checkpoint snapshots, fine-tuning runs' weights and scratch, perturbed losses) its
/// buffer limits; else the limit it meets.
pub fn fits(config: &LinearConfig, gpu: &Gpu) -> Result<(), GpuError> {
    let (d, h) = (config.dim, config.hidden);
    steps_per_dispatch(gpu, d, h)?;
    let checkpoints = config.checkpoint_steps().len();
    let ft_runs = checkpoints * config.finetune.l2.len() * config.finetune.lrs.len();
    let largest = [
        (config.pretrain.steps / config.pretrain.checkpoint_every + 1) * 2 * d * h,
        ft_runs * (d * d + 2 * d * h),
        checkpoints * config.perturb.gammas.len() * config.perturb.samples,
        config.perturb.samples * 2 * d * h,
    ];
    for len in largest {
        gpu.check_storage(len)?;
    }
    Ok(())
}

/// What the GPU run cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GpuStats {
    pub dispatches: usize,
    pub submits: usize,
}

pub async fn run_gpu(
    config: &LinearConfig,
    gpu: &Gpu,
) -> Result<(LinearResults, GpuStats), GpuError> {
    config
        .validate()
        .map_err(|e| GpuError::Invalid(e.to_string()))?;
    let (d, h) = (config.dim, config.hidden);
    let dh = d * h;
    let tasks = Tasks::new(config);
    let mut stats = GpuStats {
        dispatches: 0,
        submits: 0,
    };
    let chunk = steps_per_dispatch(gpu, d, h)?;

    // 1. Pre-training, snapshotting the weights every `checkpoint_every` steps.
    let every = config.pretrain.checkpoint_every;
    let total = config.pretrain.steps;
    let (w1, w2) = balanced_init(d, h, config.init_scale as f32);
    let init: Vec<f32> = w1.iter().chain(&w2).copied().collect();
    let snapshot_count = total / every + 1;
    let weights = gpu.upload(&init, &[1, 2 * dh])?;
    let scratch = gpu.zeros(&[1, d * d + 2 * dh])?;
    let targets = gpu.upload(&tasks.a_pre, &[d, d])?;
    let runs = gpu.storage(&[GdRun {
        lr: config.pretrain.lr as f32,
        scale: 1.0,
        target_index: 0,
        _pad: 0,
    }])?;
    let snapshots = gpu.zeros(&[snapshot_count, 2 * dh])?;
    let status = gpu.storage(&[0u32])?;
    let batch = GdBatch {
        d,
        h,
        weights: &weights,
        scratch: &scratch,
        targets: &targets,
        runs: &runs,
        run_count: 1,
        snapshots: &snapshots,
        snapshot_count,
        every,
        status: &status,
    };
    let mut rec = gpu.recorder();
    for step0 in (0..total).step_by(chunk) {
        kernels::gd_runs(&mut rec, &batch, step0, chunk.min(total - step0))?;
    }
    stats.dispatches += gpu.submit(rec)?;
    stats.submits += 1;
    let snap = gpu.read(&snapshots).await?;
    let last = gpu.read(&weights).await?;
    let diverged = gpu.read_u32(&status, 1).await?[0];
    let pretrain_diverged_at = (diverged != 0).then_some(diverged as usize);

    // The checkpoints: step 0 is the start, multiples of `every` are snapshots, and a last
    // step that is not a multiple is the final weights. None past a divergence.
    let mut steps = Vec::new();
    let mut ck_weights: Vec<f32> = Vec::new();
    for s in config.checkpoint_steps() {
        if pretrain_diverged_at.is_some_and(|at| s >= at) {
            break;
        }
        let w: &[f32] = if s == 0 {
            &init
        } else if s % every == 0 {
            &snap[(s / every) * 2 * dh..(s / every + 1) * 2 * dh]
        } else {
            &last
        };
        steps.push(s);
        ck_weights.extend_from_slice(w);
    }
    let n_ck = steps.len();
    let checkpoint = |c: usize| {
        (
            &ck_weights[c * 2 * dh..c * 2 * dh + dh],
            &ck_weights[c * 2 * dh + dh..(c + 1) * 2 * dh],
        )
    };

    // Evaluation of each checkpoint (CPU, O(d³) each).
    let mut thetas = Vec::with_capacity(n_ck);
    let mut pretrain_loss = Vec::with_capacity(n_ck);
    let mut singular_values = Vec::with_capacity(n_ck);
    let mut theta = vec![0.0f32; d * d];
    for c in 0..n_ck {
        let (w1, w2) = checkpoint(c);
        matmul(&mut theta, w1, w2, d, h, d);
        pretrain_loss.push(squared_distance(&theta, &tasks.a_pre));
        singular_values.push(singular_values_in_basis(&theta, &tasks.u, &tasks.v));
        thetas.push(theta.clone());
    }

    // 2. Perturbation, and 3. fine-tuning, recorded into one command buffer.
    let gammas = &config.perturb.gammas;
    let draws = config.perturb.samples;
    let (lrs, l2s) = (&config.finetune.lrs, &config.finetune.l2);
    let ft_runs = n_ck * l2s.len() * lrs.len();
    let ck_tensor = gpu.upload(&ck_weights, &[n_ck.max(1), 2 * dh])?;
    let noise = gpu.zeros(&[draws, 2 * dh])?;
    let gamma_tensor = gpu.upload(
        &gammas.iter().map(|&g| g as f32).collect::<Vec<_>>(),
        &[gammas.len()],
    )?;
    let task = gpu.upload(&tasks.a_pre, &[d, d])?;
    let losses = gpu.zeros(&[n_ck * gammas.len() * draws])?;

    let mut ft_init = Vec::with_capacity(ft_runs * 2 * dh);
    let mut ft_targets = Vec::with_capacity(n_ck * l2s.len() * d * d);
    let mut ft_params = Vec::with_capacity(ft_runs);
    for c in 0..n_ck {
        for (li, &l2) in l2s.iter().enumerate() {
            let lambda = l2 as f32;
            ft_targets.extend(
                tasks
                    .a_ft
                    .iter()
                    .zip(&thetas[c])
                    .map(|(&a, &t0)| a + lambda * t0),
            );
            for &lr in lrs {
                ft_init.extend_from_slice(&ck_weights[c * 2 * dh..(c + 1) * 2 * dh]);
                ft_params.push(GdRun {
                    lr: lr as f32,
                    scale: 1.0 + lambda,
                    target_index: (c * l2s.len() + li) as u32,
                    _pad: 0,
                });
            }
        }
    }
    let ft_weights = gpu.upload(&ft_init, &[ft_runs.max(1), 2 * dh])?;
    let ft_scratch = gpu.zeros(&[ft_runs.max(1), d * d + 2 * dh])?;
    let ft_target_tensor = gpu.upload(&ft_targets, &[(n_ck * l2s.len()).max(1), d, d])?;
    let ft_run_buffer = gpu.storage(&ft_params)?;
    let ft_status = gpu.storage(&vec![0u32; ft_runs.max(1)])?;
    let no_snapshots = gpu.zeros(&[1])?;
    let ft_batch = GdBatch {
        d,
        h,
        weights: &ft_weights,
        scratch: &ft_scratch,
        targets: &ft_target_tensor,
        runs: &ft_run_buffer,
        run_count: ft_runs,
        snapshots: &no_snapshots,
        snapshot_count: 0,
        every: 0,
        status: &ft_status,
    };
    let mut rec = gpu.recorder();
    if n_ck > 0 {
        crate::gpu::kernels::gaussian(&mut rec, config.seed, 0, 1.0, &noise)?;
        kernels::perturbed_loss(
            &mut rec,
            d,
            h,
            &ck_tensor,
            &noise,
            &gamma_tensor,
            &task,
            &losses,
        )?;
        let k = config.finetune.steps;
        for step0 in (0..k).step_by(chunk) {
            kernels::gd_runs(&mut rec, &ft_batch, step0, chunk.min(k - step0))?;
        }
    }
    stats.dispatches += gpu.submit(rec)?;
    stats.submits += 1;
    let losses = gpu.read(&losses).await?;
    let ft_final = gpu.read(&ft_weights).await?;
    let ft_diverged = gpu.read_u32(&ft_status, ft_runs.max(1)).await?;

    let perturb = gammas
        .iter()
        .enumerate()
        .map(|(g, &gamma)| {
            let mut mean_loss = Vec::with_capacity(n_ck);
            let mut mean_loss_se = Vec::with_capacity(n_ck);
            let mut expected_loss = Vec::with_capacity(n_ck);
            for c in 0..n_ck {
                let row =
                    &losses[(c * gammas.len() + g) * draws..(c * gammas.len() + g + 1) * draws];
                let row: Vec<f64> = row.iter().map(|&x| x as f64).collect();
                let (mean, se) = mean_and_se(&row);
                mean_loss.push(mean);
                mean_loss_se.push(se);
                let (w1, w2) = checkpoint(c);
                expected_loss.push(expected_perturbed_loss(
                    pretrain_loss[c],
                    w1,
                    w2,
                    gamma,
                    d,
                    h,
                ));
            }
            PerturbCurve::new(
                gamma,
                mean_loss,
                mean_loss_se,
                expected_loss,
                &pretrain_loss,
            )
        })
        .collect();

    let mut curves: Vec<FinetuneCurve> = l2s
        .iter()
        .flat_map(|&l2| lrs.iter().map(move |&lr| FinetuneCurve::new(lr, l2, n_ck)))
        .collect();
    for c in 0..n_ck {
        for li in 0..l2s.len() {
            for ri in 0..lrs.len() {
                let r = (c * l2s.len() + li) * lrs.len() + ri;
                let outcome = if ft_diverged[r] != 0 {
                    FinetuneOutcome {
                        pretrain_loss: None,
                        finetune_loss: None,
                        diverged_at: Some(ft_diverged[r] as usize),
                    }
                } else {
                    let w = &ft_final[r * 2 * dh..(r + 1) * 2 * dh];
                    matmul(&mut theta, &w[..dh], &w[dh..], d, h, d);
                    FinetuneOutcome::evaluate(&theta, &tasks, config.finetune.steps)
                };
                curves[li * lrs.len() + ri].push(outcome);
            }
        }
    }

    let results = LinearResults::new(
        config,
        steps,
        pretrain_loss,
        pretrain_diverged_at,
        singular_values,
        perturb,
        curves,
    );
    Ok((results, stats))
}
