//! `overtrain data`: the exact bytes an experiment reads, as files, with a manifest — so
//! that a re-implementation can train and evaluate on the very same bytes.

use super::atomic::{write_file, write_with};
use super::input::ExperimentSource;
use super::lock::lock_output;
use super::output::{io, pretty, say, Failure};
use super::signals::{catch_interrupts, interrupted};
use overtrain::experiment::export::{manifest, streams};
use std::path::PathBuf;

/// Write the exact bytes an experiment reads, for a re-implementation
///
/// Into DIR: pretrain-train.bin (the pre-training stream, as far as the largest budget's
/// run reads it), pretrain-heldout.bin, finetune-train-seed-K.bin for each fine-tuning
/// seed K, finetune-heldout.bin, and manifest.json (each file's size, batches and rows,
/// and the config and seed that made it). Every file is batches of `batch` rows of
/// `ctx + 1` bytes.
#[derive(clap::Args)]
pub struct DataArgs {
    #[command(flatten)]
    source: ExperimentSource,
    /// The folder to write the files and manifest.json into (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: DataArgs) -> Result<(), Failure> {
    let config = args.source.load()?;
    let out = &args.out;
    let _lock = lock_output(out, "data")?;
    let streams = streams(&config);
    std::fs::create_dir_all(out)
        .map_err(|e| io(format!("cannot create '{}': {e}", out.display())))?;
    // The pre-training stream of a large budget takes a while to write: Ctrl-C (or SIGTERM) stops
    // between batches and leaves no half-written file.
    catch_interrupts();
    let mut total = 0;
    for stream in &streams {
        let path = out.join(stream.file_name());
        let written = write_with(&path, |file| {
            for rows in stream.batches(&config) {
                if interrupted().is_err() {
                    return Err(std::io::ErrorKind::Interrupted.into());
                }
                file.write_all(&rows)?;
            }
            Ok(())
        });
        interrupted()?;
        written?;
        total += stream.bytes(&config);
    }
    let manifest = manifest(&config, &streams);
    write_file(&out.join("manifest.json"), pretty(&manifest).as_bytes())?;
    say!(
        "data: {} files of batches of {} rows of {} bytes, {total} bytes in all, and manifest.json -> {}",
        streams.len(),
        config.batch,
        config.model.ctx + 1,
        out.display()
    );
    Ok(())
}
