//! The paper's two-layer linear transfer model (science.md §2), CPU path.
//!
//! `config` (schema, defaults, validation) → `experiment::run` (pre-training, perturbation,
//! fine-tuning over flat f32 buffers from `model`) → `results` (plain data) with the
//! idealized curves of `theory` beside the measured ones.

pub mod basis;
pub mod config;
pub mod experiment;
pub mod gpu;
pub mod model;
pub mod results;
pub mod theory;

pub use config::{Basis, LinearConfig, Spectrum};
pub use experiment::run;
pub use results::LinearResults;

use crate::error::ConfigError;
use crate::gpu::{Gpu, GpuError};
use results::BackendInfo;

/// Which backend computes the lab: `auto` is the GPU when an adapter exists (and the run
/// fits its limits), else the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    Cpu,
    Gpu,
    Auto,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(BackendChoice::Cpu),
            "gpu" => Ok(BackendChoice::Gpu),
            "auto" => Ok(BackendChoice::Auto),
            other => Err(format!(
                "backend must be one of cpu, gpu, auto; got '{other}'"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunError {
    Config(ConfigError),
    Gpu(GpuError),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Config(e) => e.fmt(f),
            RunError::Gpu(e) => e.fmt(f),
        }
    }
}

/// Runs the lab on a backend. `gpu` is an already opened device, if the caller has one
/// (the page keeps one per worker); otherwise one is opened when the GPU is wanted.
pub async fn run_on(
    config: &LinearConfig,
    choice: BackendChoice,
    gpu: Option<&Gpu>,
) -> Result<LinearResults, RunError> {
    config.validate().map_err(RunError::Config)?;
    if choice == BackendChoice::Cpu {
        let mut r = run(config).map_err(RunError::Config)?;
        r.backend = Some(BackendInfo::cpu(None));
        return Ok(r);
    }
    let opened;
    let gpu = match gpu {
        Some(g) => Ok(g),
        None => match Gpu::new().await {
            Ok(g) => {
                opened = g;
                Ok(&opened)
            }
            Err(e) => Err(e),
        },
    };
    let attempt = match gpu {
        Ok(gpu) => gpu::run_gpu(config, gpu).await.map(|(mut r, stats)| {
            r.backend = Some(BackendInfo {
                kind: "gpu".into(),
                adapter: Some(gpu.adapter.clone()),
                dispatches: Some(stats.dispatches),
                fallback_reason: None,
            });
            r
        }),
        Err(e) => Err(e),
    };
    match (attempt, choice) {
        (Ok(r), _) => Ok(r),
        (Err(e), BackendChoice::Gpu) => Err(RunError::Gpu(e)),
        (Err(e), _) => {
            let mut r = run(config).map_err(RunError::Config)?;
            r.backend = Some(BackendInfo::cpu(Some(e.to_string())));
            Ok(r)
        }
    }
}
