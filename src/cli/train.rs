//! `overtrain train`: trains a small transformer on the synthetic pre-training language.

use super::atomic::write_file;
use super::device::{check_cpu_memory, choose_device, say_cpu_estimate, BackendOption};
use super::input::read_config;
use super::lock::lock_output;
use super::output::{io, pretty, print_out, say, say_inline, Failure};
use super::signals::{catch_interrupts, interrupted};
use overtrain::transformer::{checkpoint, gpu, model, params::Layout, train};
use overtrain::Error;
use std::path::PathBuf;
use std::time::Instant;

/// Train a small transformer on the synthetic pre-training language
///
/// Writes DIR/config.json, DIR/model.safetensors and DIR/log.json, each atomically.
/// Ctrl-C or SIGTERM stops it, keeping the weights of the last step taken.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// The training config (JSON; omitted fields take defaults; '-' reads stdin)
    #[arg(
        long,
        value_name = "TRAIN.json",
        required_unless_present = "print_default_config"
    )]
    config: Option<PathBuf>,
    /// The run folder
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "print_default_config"
    )]
    out: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendOption,
    /// Print the default config and exit
    #[arg(long)]
    print_default_config: bool,
}

/// Each file is written atomically. log.json says `"status": "running"` from the start (a
/// run killed before it finished leaves that, and no stale model.safetensors), then `done`
/// or, after Ctrl-C or SIGTERM, `interrupted` (the weights then are those of the last step taken).
pub fn run(args: TrainArgs) -> Result<(), Failure> {
    if args.print_default_config {
        return print_out(&pretty(&train::TrainConfig::default()));
    }
    let (Some(config), Some(out)) = (&args.config, &args.out) else {
        return Err(Failure::Usage("--config and --out are required".into()));
    };
    let config = train::TrainConfig::from_json(&read_config(config)?)?;
    // The run folder is this run's until it ends (a lock beside it).
    let _lock = lock_output(out, "train")?;
    catch_interrupts();
    let layout = Layout::new(&config.model);
    let memory = gpu::memory_estimate(&config.model, config.batch, config.eval_batches);
    say!(
        "model: {} parameters; GPU memory {}",
        layout.total,
        memory.describe()
    );
    let device = choose_device(args.backend.choice, |g| memory.fits(&g.limits))?;
    if device.is_none() {
        check_cpu_memory(&model::cpu_memory_estimate(
            &config.model,
            config.batch,
            config.eval_batches,
        ))?;
        let tokens = (config.steps * config.batch * config.model.ctx) as f64;
        say_cpu_estimate(&config.model, config.batch, tokens)?;
    }
    std::fs::create_dir_all(out)
        .map_err(|e| io(format!("cannot create '{}': {e}", out.display())))?;
    write_file(&out.join("config.json"), pretty(&config).as_bytes())?;
    write_file(
        &out.join("log.json"),
        pretty(&train::TrainLog::default()).as_bytes(),
    )?;
    match std::fs::remove_file(out.join("model.safetensors")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(io(format!(
                "cannot replace '{}': {e}",
                out.join("model.safetensors").display()
            )))
        }
        _ => {}
    }
    let start = Instant::now();
    let mut last_print = 0.0f64;
    let total = config.steps;
    let tokens_per_step = config.batch * config.model.ctx;
    let mut progress = |step: usize, loss: f64| {
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed - last_print > 0.5 || step == total {
            last_print = elapsed;
            let eta = elapsed / step as f64 * (total - step) as f64;
            let rate = (step * tokens_per_step) as f64 / elapsed.max(1e-9);
            say_inline!(
                "\rstep {step}/{total}  loss {loss:.3}  {rate:.0} tok/s  ETA {eta:.0} s   "
            );
        }
        interrupted()
    };
    let (params, log) = match &device {
        None => {
            say!("training on the CPU");
            train::train_cpu(&config, &mut progress)?
        }
        Some(g) => {
            say!(
                "training on the GPU: {} ({}{})",
                g.adapter.name,
                g.adapter.backend,
                if g.adapter.software { ", software" } else { "" }
            );
            pollster::block_on(train::train_gpu(g, &config, &mut progress))?
        }
    };
    say!();
    write_file(
        &out.join("model.safetensors"),
        &checkpoint::to_safetensors(&config.model, &layout, &params),
    )?;
    write_file(&out.join("log.json"), pretty(&log).as_bytes())?;
    if let Some(step) = log.diverged_at {
        say!("diverged at step {step}: stopped before its update, kept the last good weights");
    }
    if log.status == train::RunStatus::Interrupted {
        say!(
            "interrupted after {} steps: the weights of that step and the log are in {}",
            log.steps.len(),
            out.display()
        );
        return Err(Error::Cancelled.into());
    }
    if let (Some(step), Some(loss)) = (log.eval_steps.last(), log.eval_loss.last()) {
        say!(
            "held-out loss {loss:.3} nats/byte (perplexity {:.2}) after {step} steps, {:.1} s -> {}",
            loss.exp(),
            start.elapsed().as_secs_f64(),
            out.display()
        );
    }
    Ok(())
}
