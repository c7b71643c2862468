//! Where a run goes and whether it fits there: the `--backend` option, the GPU or the CPU
//! by the library's one rule, this machine's memory, the CPU's time estimate and threads.

use super::output::{say, Failure};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use overtrain::backend::{resolve_backend, Backend, BackendChoice};
use overtrain::gpu::Gpu;
use overtrain::Error;
use std::time::Instant;

/// `--backend`, the same option for every command that computes.
#[derive(clap::Args)]
pub struct BackendOption {
    /// cpu, gpu (WebGPU through wgpu; fails without an adapter) or auto (a hardware GPU when
    /// the run fits it, else the CPU; a software adapter such as lavapipe is slower than the
    /// CPU path)
    #[arg(
        long = "backend",
        value_name = "BACKEND",
        default_value = "auto",
        value_parser = backend_parser()
    )]
    pub choice: BackendChoice,
}

/// The library's backend names (cpu, gpu, auto): `--help` lists them, and any other value
/// is refused naming them.
fn backend_parser() -> impl TypedValueParser<Value = BackendChoice> {
    PossibleValuesParser::new(BackendChoice::NAMES).try_map(|name| name.parse::<BackendChoice>())
}

/// The GPU device, unless the CPU was chosen. Without an adapter, `--backend gpu` fails
/// and auto says so and goes on without one.
pub fn open_gpu(choice: BackendChoice) -> Result<Option<Gpu>, Failure> {
    if choice == BackendChoice::Cpu {
        return Ok(None);
    }
    match pollster::block_on(Gpu::new()) {
        Ok(g) => Ok(Some(g)),
        Err(e) if choice == BackendChoice::Gpu => Err(e.into()),
        Err(e) => {
            say!("auto: {e}; running on the CPU");
            Ok(None)
        }
    }
}

/// The GPU to train on, or None for the CPU, by the one rule of [`resolve_backend`]:
/// `fits` says whether the run fits an adapter. `--backend gpu` on a run that does not
/// fit fails with that error; auto says why it stays on the CPU.
pub fn choose_device(
    choice: BackendChoice,
    fits: impl Fn(&Gpu) -> Result<(), Error>,
) -> Result<Option<Gpu>, Failure> {
    let Some(gpu) = open_gpu(choice)? else {
        return Ok(None);
    };
    let fit = fits(&gpu);
    if choice == BackendChoice::Gpu {
        fit?;
        return Ok(Some(gpu));
    }
    let resolved = resolve_backend(choice, Some(&gpu.adapter), fit.is_ok());
    match resolved.backend {
        Backend::Gpu => Ok(Some(gpu)),
        Backend::Cpu => {
            let why = resolved.reason.unwrap_or_default();
            say!("auto: {why}; running on the CPU");
            Ok(None)
        }
    }
}

/// This machine's memory in bytes (Linux: /proc/meminfo), if it can be read.
fn machine_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Refuses, before anything is allocated, a run on the CPU that needs more memory than
/// this machine has (a config error on `model`, exit 2, naming the sizes).
pub fn check_cpu_memory(
    memory: &overtrain::transformer::gpu::MemoryEstimate,
) -> Result<(), Failure> {
    let Some(have) = machine_memory() else {
        return Ok(());
    };
    if memory.total() > have {
        return Err(overtrain::ConfigError::new(
            "model",
            format!(
                "training on the CPU needs {:.1} GB ({}), this machine has {:.1} GB: \
                 shrink the model, the batch or the context",
                memory.total() as f64 / 1e9,
                memory.describe(),
                have as f64 / 1e9
            ),
        )
        .into());
    }
    Ok(())
}

/// "45 s", "12 min", "3.2 h", "41 days".
pub fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 90.0 => format!("{s:.0} s"),
        s if s < 5400.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.0} days", s / 86_400.0),
    }
}

/// Says how long `tokens` training tokens will take on the CPU, from two timed steps of
/// the model — before a run that may be long.
/// `speedup`: how much faster than one thread the run goes on `threads` (the schedule's
/// simulation, or the helpers' speed-up of one model's steps).
pub fn say_cpu_estimate(
    model: &overtrain::transformer::config::ModelConfig,
    batch: usize,
    micro_batches: usize,
    tokens: f64,
    threads: usize,
    speedup: f64,
) -> Result<(), Failure> {
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64() * 1e3;
    let probe = |steps| {
        pollster::block_on(overtrain::transformer::bench::train_throughput(
            None,
            model,
            batch,
            micro_batches,
            steps,
            &now,
        ))
    };
    // One step says how long a step takes; then about 0.2 s of steps, so that the speed is
    // not one short step's (timer, caches, the clock ramping up: ±30 % here).
    let first = probe(1)?;
    let steps = (200.0 / first.ms_per_step.max(1e-3)).clamp(1.0, 200.0) as usize;
    let probe = if steps > 1 { probe(steps)? } else { first };
    say!(
        "estimated time on the CPU, {threads} thread{}: {} ({:.0} training tokens at {:.0} tokens/s on one thread{})",
        if threads > 1 { "s" } else { "" },
        duration(tokens / probe.tokens_per_second / speedup),
        tokens,
        probe.tokens_per_second,
        if threads > 1 { format!(", {speedup:.2}× on {threads}") } else { String::new() }
    );
    Ok(())
}

/// `--threads N`, 1 ≤ N ≤ 1024; anything else is refused naming the range.
pub fn parse_threads(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("must be an integer in 1..=1024".into()),
    }
}

/// `--threads N`, or every core.
pub fn cpu_threads(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
