//! Output files written so that an interruption never leaves half of one: a regular file
//! or a new path is written to a temporary file beside it, which is then renamed over it.
//! A symlink is followed to the file it names; a device, pipe or other special file is
//! written in place (as the shell's `>` would: `--out /dev/null` works).

use overtrain::Error;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` (see the module's doc).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_with(path, |out| out.write_all(bytes))
}

/// Writes what `fill` writes to `path` (see the module's doc), streamed through a buffer:
/// for files too large to hold in memory. An error of `fill` leaves `path` as it was.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::Io(format!("cannot write '{}': {e}", path.display()));
    let target = resolve_symlinks(path).map_err(fail)?;
    match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => Err(Error::Io(format!(
            "cannot write '{}': it is a directory",
            path.display()
        ))),
        Ok(m) if !m.is_file() => write_through(&target, fill).map_err(fail),
        _ => {
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| "out".into());
            let tmp = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
            let written = write_through(&tmp, fill).and_then(|()| std::fs::rename(&tmp, &target));
            if written.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            written.map_err(fail)
        }
    }
}

/// The path that `path` names once its symlinks are followed (at most 40, as the kernel
/// does); `path` itself when it is no symlink or does not exist.
fn resolve_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    let mut target = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&target)?;
                target = match target.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            _ => break,
        }
    }
    Ok(target)
}

/// Creates (or truncates) `path` and writes what `fill` writes to it.
fn write_through(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    fill(&mut out)?;
    out.flush()
}
