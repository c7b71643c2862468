//! `overtrain train`: trains a small transformer on the synthetic pre-training language.

use super::atomic::write_file;
use super::device::{
    check_cpu_memory, choose_device, cpu_threads, duration, parse_threads, BackendOption,
};
use super::input::read_config;
use super::lock::lock_output;
use super::output::{io, pretty, print_out, say, say_inline, Failure};
use super::signals::{catch_interrupts, interrupted};
use overtrain::transformer::{checkpoint, gpu, micro, params::Layout, train};
use overtrain::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Train a small transformer on the synthetic pre-training language
///
/// Writes DIR/config.json, DIR/model.safetensors, DIR/optimizer.safetensors (AdamW's
/// moments and step) and DIR/log.json, each atomically. Ctrl-C or SIGTERM stops it, keeping
/// the state of the last step taken; --resume continues it to the same weights and log as
/// an uninterrupted run.
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
    /// On the CPU: compute each training step on N threads (default: every core); the
    /// weights and losses are the same for every N
    #[arg(
        long,
        value_name = "N",
        allow_negative_numbers = true,
        value_parser = parse_threads
    )]
    threads: Option<usize>,
    /// Continue the run stopped in DIR (by Ctrl-C or SIGTERM) from its weights, AdamW's
    /// state and log; a finished run is left as it is, and a folder with nothing to
    /// continue starts afresh
    #[arg(long)]
    resume: bool,
    /// Print the default config and exit
    #[arg(long)]
    print_default_config: bool,
}

const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";

/// What `--resume` finds in the run folder.
enum Found {
    /// An interrupted run of this config: go on from it.
    Resume(train::Resume),
    /// A finished run: nothing to do.
    Finished,
    /// Nothing to continue (no run, or one killed before it saved): start afresh, saying why.
    Afresh(String),
}

/// Reads the run stopped in `out`, which must be of `config`.
fn find_run(out: &Path, config: &train::TrainConfig) -> Result<Found, Failure> {
    let read = |name: &str| std::fs::read(out.join(name));
    let log = match read("log.json") {
        Ok(bytes) => serde_json::from_slice::<train::TrainLog>(&bytes).map_err(|e| {
            Failure::Usage(format!(
                "--resume: '{}' is not a training log: {e}",
                out.join("log.json").display()
            ))
        })?,
        Err(_) => return Ok(Found::Afresh("no run to resume there".into())),
    };
    match log.status {
        train::RunStatus::Done => return Ok(Found::Finished),
        train::RunStatus::Running => {
            return Ok(Found::Afresh(
                "its run was killed before it could save (status running)".into(),
            ))
        }
        train::RunStatus::Interrupted => {}
    }
    let theirs = read("config.json")
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|text| train::TrainConfig::from_json(&text).ok());
    if theirs.as_ref() != Some(config) {
        return Err(Failure::Usage(format!(
            "--resume: the run in '{}' is of another config than --config (its config.json differs); \
             resume it with its own config, or choose another --out",
            out.display()
        )));
    }
    let cannot = |why: String| {
        Failure::Usage(format!(
            "--resume: cannot resume the run in '{}': {why}",
            out.display()
        ))
    };
    let model = read(MODEL).map_err(|e| cannot(format!("{MODEL}: {e}")))?;
    let (model_cfg, params) =
        checkpoint::from_safetensors(&model).map_err(|e| cannot(format!("{MODEL}: {e}")))?;
    if model_cfg != config.model {
        return Err(cannot(format!(
            "{MODEL} holds another model than the config's"
        )));
    }
    let optimizer = read(OPTIMIZER).map_err(|e| cannot(format!("{OPTIMIZER}: {e}")))?;
    let state = checkpoint::optimizer_from_safetensors(&optimizer, &config.model, params)
        .map_err(|e| cannot(format!("{OPTIMIZER}: {e}")))?;
    Ok(Found::Resume(train::Resume { state, log }))
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
    let resume = if args.resume {
        match find_run(out, &config)? {
            Found::Resume(r) => {
                say!(
                    "resuming after step {} of {} (its weights, AdamW's state and log)",
                    r.state.step,
                    config.steps
                );
                Some(r)
            }
            Found::Finished => {
                say!(
                    "the run in {} is finished: nothing to resume",
                    out.display()
                );
                return Ok(());
            }
            Found::Afresh(why) => {
                say!(
                    "nothing to resume in {}: {why}; starting afresh",
                    out.display()
                );
                None
            }
        }
    } else {
        None
    };
    let layout = Layout::new(&config.model);
    let memory = gpu::memory_estimate(&config.model, config.batch, config.eval_batches);
    say!(
        "model: {} parameters; GPU memory {}",
        layout.total,
        memory.describe()
    );
    let device = choose_device(args.backend.choice, |g| memory.fits(&g.limits))?;
    if device.is_none() {
        check_cpu_memory(&micro::cpu_memory_estimate(
            &config.model,
            config.batch,
            config.micro_batches,
            config.eval_batches,
        ))?;
    }
    std::fs::create_dir_all(out)
        .map_err(|e| io(format!("cannot create '{}': {e}", out.display())))?;
    // A fresh run: a log that says "running" and no stale state (a run killed before it
    // saves leaves nothing to resume from). A resumed one keeps its saved state until it
    // saves the next: killed meanwhile, it resumes from the same point again.
    if resume.is_none() {
        write_file(&out.join("config.json"), pretty(&config).as_bytes())?;
        write_file(
            &out.join("log.json"),
            pretty(&train::TrainLog::default()).as_bytes(),
        )?;
        for name in [MODEL, OPTIMIZER] {
            match std::fs::remove_file(out.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(format!(
                        "cannot replace '{}': {e}",
                        out.join(name).display()
                    )))
                }
                _ => {}
            }
        }
    }
    let start = Instant::now();
    let mut last_print = 0.0f64;
    let total = config.steps;
    let tokens_per_step = config.batch * config.model.ctx;
    // The time estimate comes from the run's own first steps (about 0.2 s of them, on all
    // its threads): a probe before the run would cost as much and measure less of it.
    let first_step = resume.as_ref().map_or(0, |r| r.state.step);
    let mut estimated = device.is_some();
    let mut progress = |step: usize, loss: f64| {
        let elapsed = start.elapsed().as_secs_f64();
        let taken = step - first_step;
        if !estimated && taken > 0 && (elapsed >= 0.2 || taken * 10 >= total - first_step) {
            estimated = true;
            let per_step = elapsed / taken as f64;
            say!(
                "\restimated time on the CPU: {} ({:.0} tokens/s over the first {taken} steps)",
                duration(per_step * (total - first_step) as f64),
                (taken * tokens_per_step) as f64 / elapsed.max(1e-9),
            );
        }
        if elapsed - last_print > 0.5 || step == total {
            last_print = elapsed;
            let eta = elapsed / taken.max(1) as f64 * (total - step) as f64;
            let rate = (taken * tokens_per_step) as f64 / elapsed.max(1e-9);
            say_inline!(
                "\rstep {step}/{total}  loss {loss:.3}  {rate:.0} tok/s  ETA {eta:.0} s   "
            );
        }
        interrupted()
    };
    let (state, log) = match &device {
        None => {
            let threads = cpu_threads(args.threads);
            say!(
                "training on the CPU, {threads} thread{}",
                if threads > 1 { "s" } else { "" }
            );
            // The other threads join each step's large products and attention.
            let _helpers = overtrain::cpu::par::Helpers::set(threads - 1);
            train::train_cpu(&config, resume, &mut progress)?
        }
        Some(g) => {
            say!(
                "training on the GPU: {} ({}{})",
                g.adapter.name,
                g.adapter.backend,
                if g.adapter.software { ", software" } else { "" }
            );
            pollster::block_on(train::train_gpu(g, &config, resume, &mut progress))?
        }
    };
    say!();
    // The weights, then the optimizer's state (which names the weights it belongs with),
    // then the log, which says what the two are.
    write_file(
        &out.join(MODEL),
        &checkpoint::to_safetensors(&config.model, &layout, &state.params),
    )?;
    write_file(
        &out.join(OPTIMIZER),
        &checkpoint::optimizer_to_safetensors(&layout, &state),
    )?;
    write_file(&out.join("log.json"), pretty(&log).as_bytes())?;
    if let Some(step) = log.diverged_at {
        say!("diverged at step {step}: stopped before its update, kept the last good weights");
    }
    if log.status == train::RunStatus::Interrupted {
        say!(
            "interrupted after {} steps: the state of that step and the log are in {} (--resume continues)",
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
