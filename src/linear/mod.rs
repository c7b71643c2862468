//! The paper's two-layer linear transfer model (science.md §2).
//!
//! `config` (schema, defaults, validation) → `experiment::run` (pre-training, perturbation,
//! fine-tuning over the model's flat f32 buffers, `crate::cpu::linear`) → `results` (plain
//! data) with the idealized curves of `theory` beside the measured ones. `gpu` runs the same
//! experiment on the lab's own WGSL kernels (`kernels`); [`run_on`] picks the backend.

pub mod basis;
pub mod config;
pub mod experiment;
pub mod gpu;
pub mod kernels;
pub mod results;
pub mod theory;

pub use config::{Basis, LinearConfig, Spectrum};
pub use experiment::run;
pub use results::LinearResults;

use crate::backend::{resolve_backend, Backend, BackendChoice};
use crate::error::Error;
use crate::gpu::{Gpu, GpuError};
use results::BackendInfo;

/// Runs the lab where [`resolve_backend`] sends it, on `gpu` (an opened device, if the
/// caller has one; the page keeps one per worker) or on the CPU. The results' `backend`
/// says which, and why the CPU when the GPU was possible. Asking for the GPU when there is
/// none, or when the run does not fit it, is an error.
pub async fn run_on(
    config: &LinearConfig,
    choice: BackendChoice,
    gpu: Option<&Gpu>,
) -> Result<LinearResults, Error> {
    config.validate()?;
    let fits = match gpu {
        Some(g) => gpu::fits(config, g),
        None => Ok(()),
    };
    let resolved = resolve_backend(choice, gpu.map(|g| &g.adapter), fits.is_ok());
    match (resolved.backend, gpu) {
        (Backend::Gpu, Some(g)) => {
            let (mut r, stats) = gpu::run_gpu(config, g).await?;
            r.backend = Some(BackendInfo {
                kind: "gpu".into(),
                adapter: Some(g.adapter.clone()),
                dispatches: Some(stats.dispatches),
                fallback_reason: None,
            });
            Ok(r)
        }
        _ if choice == BackendChoice::Gpu => Err(match (gpu, fits) {
            (Some(_), Err(limit)) => Error::Gpu(limit),
            _ => Error::Gpu(GpuError::NoAdapter(resolved.reason.unwrap_or_default())),
        }),
        _ => {
            let mut r = run(config)?;
            r.backend = Some(BackendInfo::cpu(resolved.reason));
            Ok(r)
        }
    }
}
