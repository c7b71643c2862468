//! `overtrain experiment --plan` and `--shard`: an experiment's units of work, and one
//! shard of them run on this machine's CPU (for a cluster; `merge.rs` joins the parts).

use super::atomic::write_file;
use super::device::{check_cpu_memory, cpu_threads};
use super::output::{pretty, print_out, say, Failure};
use super::progress::Stderr;
use super::signals::catch_interrupts;
use overtrain::experiment::shard::{assign, plan_lines, Checkpoints, Part, Shard};
use overtrain::experiment::{plan, ExperimentConfig};
use std::path::Path;

/// `--plan`: every unit of work (or shard K's), one line each, and their count.
pub fn print_plan(config: &ExperimentConfig, shard: Option<Shard>) -> Result<(), Failure> {
    let lines = plan_lines(config, shard.map(|s| s.n));
    let show = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let mut text = String::from("id\tkind\tbudget\tlr\tl2\tseed\tflops\tshard\n");
    let mut count = 0;
    let mut flops = 0.0;
    for l in &lines {
        if shard.is_some_and(|s| l.shard != Some(s.k)) {
            continue;
        }
        count += 1;
        flops += l.flops;
        let kind = serde_json::to_value(l.unit).expect("plain data")["kind"]
            .as_str()
            .unwrap_or("")
            .to_string();
        text += &format!(
            "{}\t{kind}\t{}\t{}\t{}\t{}\t{:.3e}\t{}\n",
            l.id,
            l.budget_tokens,
            show(l.lr.map(|x| x.to_string())),
            show(l.l2.map(|x| x.to_string())),
            show(l.seed.map(|x| x.to_string())),
            l.flops,
            show(l.shard.map(|x| x.to_string()))
        );
    }
    text += &format!("{count} units, {flops:.3e} FLOPs");
    print_out(&text)
}

/// `--shard K/N --out PART.json`: runs shard K's units on the CPU (on `threads`, default
/// every core) and writes its part after every unit (atomically), so that a shard stopped
/// by Ctrl-C, SIGTERM (a preemption) or SIGKILL keeps what it finished; with `resume`, goes
/// on from the part in `out` (none there: starts afresh). Pre-trained checkpoints are
/// shared through `checkpoints` when given.
pub fn run_shard(
    config: &ExperimentConfig,
    shard: Shard,
    threads: Option<usize>,
    checkpoints: Option<&Path>,
    out: &Path,
    resume: bool,
) -> Result<(), Failure> {
    check_cpu_memory(&overtrain::transformer::micro::cpu_memory_estimate(
        &config.model,
        config.batch,
        config.micro_batches,
        config.eval_batches,
    ))?;
    catch_interrupts();
    let checkpoints = checkpoints
        .map(|dir| Checkpoints::new(dir, config))
        .transpose()?;
    let threads = cpu_threads(threads);
    say!(
        "shard {}/{}: {} of {} units, on {threads} thread{}{}",
        shard.k,
        shard.n,
        assign(config, shard.n)
            .values()
            .filter(|&&s| s == shard.k)
            .count(),
        plan::plan(config).len(),
        if threads > 1 { "s" } else { "" },
        if checkpoints.is_some() {
            ", sharing checkpoints"
        } else {
            ""
        }
    );
    let earlier = if resume { read_part(out)? } else { None };
    if let Some(part) = &earlier {
        say!(
            "resuming shard {}/{}: {} of its units finished, kept",
            shard.k,
            shard.n,
            part.units.len()
        );
    } else if resume {
        say!("nothing to resume in {}: starting afresh", out.display());
    }
    // The part is written after every unit: the host's results file is not used.
    let mut host = Stderr::new(None);
    let mut save = |part: &Part| write_file(out, pretty(part).as_bytes());
    let part = pollster::block_on(overtrain::experiment::shard::run_shard(
        config,
        shard,
        threads,
        checkpoints.as_ref(),
        earlier,
        &mut save,
        &mut host,
    ));
    Stderr::clear_line();
    let part = match part {
        Err(overtrain::Error::Cancelled) => {
            say!(
                "interrupted: the finished units are saved in '{}'; add --resume to continue",
                out.display()
            );
            return Err(overtrain::Error::Cancelled.into());
        }
        other => other?,
    };
    write_file(out, pretty(&part).as_bytes())?;
    say!(
        "shard {}/{}: {} units in {:.1} s -> {}",
        shard.k,
        shard.n,
        part.units.len(),
        part.elapsed_s,
        out.display()
    );
    Ok(())
}

/// The part of an earlier run in `out`, for `--resume`: none when there is no file (a
/// fresh start); a file that is not a part is refused naming --resume (exit 2). Whether the
/// part belongs to this shard and config is checked when the run starts.
fn read_part(out: &Path) -> Result<Option<Part>, Failure> {
    let text = match std::fs::read_to_string(out) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::Usage(format!(
                "--resume: cannot read '{}': {e}",
                out.display()
            )))
        }
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Failure::Usage(format!(
            "--resume: '{}' is not a part file: {e}",
            out.display()
        ))
    })
}
