//! `overtrain merge`: an experiment's results from the parts its shards wrote.

use super::atomic::write_file;
use super::lock::lock_output;
use super::output::{io, pretty, say, Failure};
use overtrain::experiment::shard::{merge, Part};
use overtrain::{plot, Error};
use std::path::PathBuf;

/// Merge the parts of a sharded experiment into its results
///
/// The parts (of `experiment --shard K/N`) must be of one config and cover every unit
/// exactly once; the results are those an unsharded run writes, number for number.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// The results JSON file
    #[arg(long, value_name = "RESULTS.json")]
    out: PathBuf,
    /// Also write the plots as SVG files into DIR
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
    /// The part files, one per shard
    #[arg(value_name = "PART.json", required = true)]
    parts: Vec<PathBuf>,
}

pub fn run(args: MergeArgs) -> Result<(), Failure> {
    let _lock = lock_output(&args.out, "merge")?;
    let mut parts = Vec::new();
    for path in &args.parts {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read '{name}': {e}")))?;
        let part: Part =
            serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
                Error::data(
                    name.clone(),
                    format!(
                        "not an experiment part: {}",
                        overtrain::error::quote(&e.to_string())
                    ),
                )
            })?;
        parts.push((name, part));
    }
    let results = merge(&parts)?;
    write_file(&args.out, pretty(&results).as_bytes())?;
    if let Some(dir) = &args.svg {
        plot::write_svgs(
            dir,
            plot::experiment::all_plots(Some(&results), None, &plot::PlotOptions::default()),
        )
        .map_err(io)?;
    }
    say!(
        "merged {} parts: {} budgets, {:.1} s of compute -> {}",
        parts.len(),
        results.budgets.len(),
        results.elapsed_s,
        args.out.display()
    );
    Ok(())
}
