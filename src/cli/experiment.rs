//! `overtrain experiment`: the catastrophic-overtraining experiment on transformers, whole
//! (on the GPU or the CPU's threads), or — with `--plan` and `--shard` — its units of work
//! for a cluster (see `shard.rs`).

use super::atomic::write_file;
use super::device::{
    check_cpu_memory, choose_device, cpu_threads, parse_threads, say_cpu_estimate, BackendOption,
};
use super::input::ExperimentSource;
use super::lock::lock_output;
use super::output::{io, pretty, print_out, say, Failure};
use super::progress::Stderr;
use super::shard;
use super::signals::catch_interrupts;
use overtrain::experiment::shard::Shard;
use overtrain::experiment::{self, Engines, ExperimentConfig, ExperimentResults, Raw};
use overtrain::transformer::{gpu::memory_estimate, micro, params::Layout};
use overtrain::{plot, Error};
use std::path::{Path, PathBuf};

/// Run the catastrophic-overtraining experiment, or (--plan, --shard) part of it
///
/// Pre-trains to each token budget, perturbs and fine-tunes the results, and finds the
/// inflections. The results so far are written to --out after every budget: Ctrl-C stops
/// the run and --resume continues it.
#[derive(clap::Args)]
pub struct ExperimentArgs {
    #[command(flatten)]
    source: ExperimentSource,
    /// Print the default config (the quick preset) and exit
    #[arg(long, group = "source")]
    print_default_config: bool,
    /// The results JSON file (written after every budget); with --shard, the part file
    #[arg(
        long,
        value_name = "RESULTS.json",
        required_unless_present_any = ["plan", "print_default_config"]
    )]
    out: Option<PathBuf>,
    /// Also write the plots as SVG files into DIR
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendOption,
    /// Continue the unfinished run whose results are in --out (with --shard: whose part
    /// file is --out)
    #[arg(long)]
    resume: bool,
    /// On the CPU: run the independent units (budgets, perturbations, fine-tuning runs) on
    /// N threads (default: every core), threads without a unit joining the steps of those
    /// that run; the results are the same for every N
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = parse_threads
    )]
    threads: Option<usize>,
    /// Print the units of work (id, kind, budget, lr, λ, seed, estimated FLOPs; with
    /// --shard K/N, shard K's) and their count
    #[arg(long)]
    plan: bool,
    /// Run only shard K's units (of N, 0 ≤ K < N, balanced by cost) and write their raw
    /// outputs to --out as a part for `merge`; 'slurm' takes K and N from
    /// SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT
    // A value such as "-1/2" is a bad shard (named as such), not an unknown option.
    #[arg(
        long,
        value_name = "K/N|slurm",
        allow_hyphen_values = true,
        value_parser = parse_shard
    )]
    shard: Option<Shard>,
    /// With --shard: share pre-trained checkpoints through DIR (a shared filesystem)
    /// instead of recomputing those of other shards
    #[arg(long, value_name = "DIR", requires = "shard")]
    checkpoints: Option<PathBuf>,
}

/// `--shard K/N`, or `slurm` (K and N from the Slurm array task's environment).
fn parse_shard(text: &str) -> Result<Shard, String> {
    if text == "slurm" {
        Shard::from_slurm(|name| std::env::var(name).ok())
    } else {
        text.parse()
    }
}

pub fn run(args: ExperimentArgs) -> Result<(), Failure> {
    if args.print_default_config {
        return print_out(&pretty(&ExperimentConfig::default()));
    }
    let config = args.source.load()?;
    if args.plan {
        return shard::print_plan(&config, args.shard);
    }
    let Some(out) = &args.out else {
        return Err(Failure::Usage("--out is required".into()));
    };
    // Held until the run ends: a second run with the same --out is refused at once.
    let _lock = lock_output(
        out,
        if args.shard.is_some() {
            "experiment --shard"
        } else {
            "experiment"
        },
    )?;
    if let Some(shard) = args.shard {
        if args.backend.choice == overtrain::backend::BackendChoice::Gpu {
            return Err(Failure::Usage(
                "--shard runs on the CPU (no --backend gpu)".into(),
            ));
        }
        return shard::run_shard(
            &config,
            shard,
            args.threads,
            args.checkpoints.as_deref(),
            out,
            args.resume,
        );
    }
    catch_interrupts();
    let resume = if args.resume {
        resume_from(out, &config)?
    } else {
        None
    };
    // Every value of a sweep must fit: the largest model decides.
    let variants = config.variants()?;
    let memory = variants
        .iter()
        .map(|v| memory_estimate(&v.model, v.batch, v.eval_batches))
        .max_by_key(|m| m.total())
        .expect("one variant at least");
    let budgets = &config.pretrain.budgets;
    for (i, v) in variants.iter().enumerate() {
        let layout = Layout::new(&v.model);
        say!(
            "model: {} parameters; budgets {} to {} tokens ({:.0} to {:.0} tokens per parameter){}",
            layout.total,
            budgets[0],
            budgets[budgets.len() - 1],
            budgets[0] as f64 / layout.total as f64,
            budgets[budgets.len() - 1] as f64 / layout.total as f64,
            match &config.sweep {
                Some(sweep) => format!(" — {} = {}", sweep.field, sweep.values[i]),
                None => String::new(),
            }
        );
    }
    say!("GPU memory {}", memory.describe());
    let device = choose_device(args.backend.choice, |g| memory.fits(&g.limits))?;
    if device.is_none() {
        let cpu = variants
            .iter()
            .map(|v| micro::cpu_memory_estimate(&v.model, v.batch, v.micro_batches, v.eval_batches))
            .max_by_key(|m| m.total())
            .expect("one variant at least");
        check_cpu_memory(&cpu)?;
        // The schedule on the threads, idle ones joining the running units' steps.
        let threads = cpu_threads(args.threads);
        let speedup = experiment::plan::work_total(&config)
            / experiment::plan::makespan_helped(&config, threads, 0);
        say_cpu_estimate(
            &config.model,
            config.batch,
            config.micro_batches,
            experiment::cost(&config).0,
            threads,
            speedup,
        )?;
    }
    let mut host = Stderr::new(Some(out.clone()));
    let run = match &device {
        Some(g) => {
            let mut engines = Engines::gpu(g);
            say!("running on the {}", engines.describe());
            pollster::block_on(experiment::run(&config, &mut engines, &mut host, resume))
        }
        None => {
            let threads = cpu_threads(args.threads);
            say!(
                "running on the CPU, {threads} thread{}",
                if threads > 1 { "s" } else { "" }
            );
            pollster::block_on(experiment::run_threads(&config, threads, &mut host, resume))
        }
    };
    Stderr::clear_line();
    let results = match run {
        Err(Error::Cancelled) => {
            say!(
                "interrupted: the finished budgets are saved in '{}'; add --resume to continue",
                out.display()
            );
            return Err(Error::Cancelled.into());
        }
        other => other?,
    };
    write_file(out, pretty(&results).as_bytes())?;
    if let Some(dir) = &args.svg {
        plot::write_svgs(
            dir,
            plot::experiment::all_plots(Some(&results), None, &plot::PlotOptions::default()),
        )
        .map_err(io)?;
    }
    let infl = |b: Option<u64>| b.map_or("none".to_string(), |b| b.to_string());
    for p in &results.perturb {
        say!(
            "perturbation γ = {}: inflection {}",
            p.gamma,
            infl(p.inflection_budget)
        );
    }
    for f in &results.finetune {
        say!(
            "fine-tuning lr {} λ {}: inflection {}",
            f.lr,
            f.l2,
            infl(f.inflection_budget)
        );
    }
    say!(
        "experiment: {} budgets in {:.1} s on the {} -> {}",
        results.budgets.len(),
        results.elapsed_s,
        results.backend,
        out.display()
    );
    Ok(())
}

/// The measurements of the unfinished run in `out`, for `--resume`; none (a fresh start)
/// when `out` does not exist yet.
fn resume_from(out: &Path, config: &ExperimentConfig) -> Result<Option<Vec<Raw>>, Failure> {
    let text = match std::fs::read_to_string(out) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            say!(
                "--resume: no results at '{}' yet; starting from the first budget",
                out.display()
            );
            return Ok(None);
        }
        Err(e) => return Err(io(format!("cannot read '{}': {e}", out.display()))),
    };
    let earlier: ExperimentResults = serde_json::from_str(&text).map_err(|e| {
        Error::data(
            "resume",
            format!("'{}' is not an experiment's results: {e}", out.display()),
        )
    })?;
    let done = earlier.budgets.len();
    let raw = earlier.resume_for(config).map_err(|e| match e {
        Error::Data { part, message } => {
            Error::data(part, format!("{message} ('{}')", out.display()))
        }
        other => other,
    })?;
    say!(
        "--resume: {done} of {} budgets already done in '{}'",
        config.pretrain.budgets.len(),
        out.display()
    );
    Ok(Some(raw))
}
