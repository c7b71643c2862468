//! The `overtrain` command line: the same library as the page, natively.
//!
//! ```text
//! overtrain linear --config CONFIG.json --out RESULTS.json [--svg DIR] [--backend cpu|gpu|auto]
//! overtrain experiment --preset quick --out RESULTS.json
//! overtrain data --preset quick --out DIR
//! ```
//! `overtrain --help` lists the commands (linear, train, experiment, merge, data) and
//! `overtrain COMMAND --help` their options; each command is a file of `src/cli/`. Exit
//! codes: 0 success, 1 a failure of the GPU or of reading and writing, 2 bad usage or bad
//! input (a config, a results file to resume), 130 stopped by Ctrl-C, 143 by SIGTERM.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// The command line is native only (clap is a native-only dependency); the wasm build of
/// this crate is the page's library.
#[cfg(target_arch = "wasm32")]
fn main() {}
