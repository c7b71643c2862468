//! Which backend computes a run, decided in one place for the three commands of the CLI and
//! for the page (through `web::resolve_backend`).

use crate::gpu::AdapterSummary;

/// What the user asked for: `auto` (the default), the GPU, or the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    Cpu,
    Gpu,
    Auto,
}

impl BackendChoice {
    /// The choices as configs and the CLI spell them.
    pub const NAMES: [&'static str; 3] = ["cpu", "gpu", "auto"];
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(BackendChoice::Cpu),
            "gpu" => Ok(BackendChoice::Gpu),
            "auto" => Ok(BackendChoice::Auto),
            other => Err(format!(
                "backend must be one of {}; got '{other}'",
                BackendChoice::NAMES.join(", ")
            )),
        }
    }
}

/// Where a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Cpu,
    Gpu,
}

/// The backend a run goes to, and, when it is the CPU although the GPU was possible or
/// asked for, why (in words, for the user).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    pub backend: Backend,
    pub reason: Option<String>,
}

/// The rule: `cpu` runs on the CPU; `gpu` on the adapter when there is one and the run
/// fits its limits, else on the CPU with the reason (the CLI refuses that case instead);
/// `auto` on a *hardware* adapter when the run fits, else on the CPU — a software adapter
/// (SwiftShader, llvmpipe/lavapipe) is far slower than the CPU path (README, benchmarks).
pub fn resolve_backend(
    choice: BackendChoice,
    adapter: Option<&AdapterSummary>,
    fits: bool,
) -> Resolved {
    let cpu = |reason: String| Resolved {
        backend: Backend::Cpu,
        reason: Some(reason),
    };
    match (choice, adapter) {
        (BackendChoice::Cpu, _) => Resolved {
            backend: Backend::Cpu,
            reason: None,
        },
        (_, None) => cpu("no GPU adapter was found".into()),
        (_, Some(a)) if !fits => cpu(format!(
            "the run does not fit the limits of {} (its largest buffer or loop is too big)",
            a.name
        )),
        (BackendChoice::Auto, Some(a)) if a.software => cpu(format!(
            "{} is a software adapter, slower than the CPU path; choose the GPU backend to use it anyway",
            a.name
        )),
        _ => Resolved {
            backend: Backend::Gpu,
            reason: None,
        },
    }
}
