//! The `overtrain` command line, on clap: one file per command (linear, train,
//! experiment with shard for its cluster modes, merge, data), and what they share —
//! output and failures (output.rs), the atomic writing of every output file (atomic.rs),
//! the lock beside each output that keeps two runs from writing it at once (lock.rs),
//! Ctrl-C and SIGTERM (signals.rs), the backend, memory and time checks (device.rs), configs
//! (input.rs) and an experiment's progress (progress.rs).
//!
//! Exit codes: 0 success; 1 a failure of the GPU or of reading and writing; 2 bad usage
//! (clap's errors) or bad input (a config, a results file to resume, shard parts); 130
//! stopped by Ctrl-C, 143 by SIGTERM.

mod atomic;
mod data;
mod device;
mod experiment;
mod input;
mod linear;
mod lock;
mod merge;
mod output;
mod progress;
mod shard;
mod signals;
mod train;

use clap::{Parser, Subcommand};
use output::{say, Failure};
use overtrain::Error;
use std::process::ExitCode;

/// Catastrophic overtraining (Springer et al., 2025): the linear transfer lab, small
/// transformers and the overtraining experiment, natively
///
/// `overtrain COMMAND --help` describes a command's options. Exit codes: 0 success, 1 a
/// failure of the GPU or of reading and writing, 2 bad usage or bad input (a config, a
/// results file to resume, shard parts), 130 stopped by Ctrl-C, 143 by SIGTERM.
#[derive(Parser)]
#[command(name = "overtrain", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// The commands. In each, the last value given for an option wins (`args_override_self`),
// as it did before clap: a script may append an option to override an earlier one.
#[derive(Subcommand)]
enum Command {
    #[command(args_override_self = true)]
    Linear(linear::LinearArgs),
    #[command(args_override_self = true)]
    Train(train::TrainArgs),
    #[command(args_override_self = true)]
    Experiment(experiment::ExperimentArgs),
    #[command(args_override_self = true)]
    Merge(merge::MergeArgs),
    #[command(args_override_self = true)]
    Data(data::DataArgs),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return parse_failure(&e),
    };
    let done = match cli.command {
        Command::Linear(args) => linear::run(args),
        Command::Train(args) => train::run(args),
        Command::Experiment(args) => experiment::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Data(args) => data::run(args),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            say!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Run(Error::Cancelled)) => {
            let (signal, code) = signals::stopped_by();
            say!("stopped ({signal})");
            ExitCode::from(code)
        }
        Err(Failure::Run(e)) => {
            say!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// What clap's answer was: `--help` and `--version` on stdout (exit 0, or 1 when stdout
/// cannot be written), a usage error on stderr (exit 2).
fn parse_failure(e: &clap::Error) -> ExitCode {
    let printed = e.print();
    if !e.use_stderr() {
        if let Err(err) = printed {
            say!("error: cannot write to standard output: {err}");
            return ExitCode::from(1);
        }
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// clap's own consistency checks of the definition (ids, groups, requirements).
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
