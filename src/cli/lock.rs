//! Exclusive outputs: a run takes a lock beside its output (`results.json.lock` beside
//! `results.json`, `run.lock` beside a `train` run folder) for as long as it writes there,
//! so that two runs with the same `--out` (a job array with a typo, a script started twice)
//! never silently replace each other's results: the second is refused at once (exit 2),
//! naming the first (its process id and host).
//!
//! The lock is a small JSON file created with `create_new` (atomic on local filesystems and
//! on NFSv3+), removed when the run ends. A lock left by a run that was killed is stale when
//! it names this host and a process that is gone there; it is then taken over with a notice.
//! A lock of another host is never taken over (on a shared filesystem its process may still
//! run): the message says how to remove it.

use super::output::{say, Failure};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a lock file says about its run.
#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    /// The command that holds it (`experiment`, `train`…).
    command: String,
}

/// A held lock; dropping it removes the file. (None: an output that is a device or a
/// pipe, which no run replaces, needs none.)
#[derive(Debug)]
pub struct OutputLock {
    path: Option<PathBuf>,
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The lock file of an output: its path with `.lock` added (`results.json.lock`,
/// `runs/a.lock` for the folder `runs/a`).
pub fn lock_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "out".into());
    name.push(".lock");
    out.with_file_name(name)
}

/// This machine's name, as a lock records it.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether process `pid` is gone from this host: only where the process table can be read
/// (`/proc`); elsewhere a process is never assumed gone.
fn gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether an output is a device, a pipe or a socket (written in place, never replaced).
#[cfg(unix)]
fn not_a_file(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket()
}

#[cfg(not(unix))]
fn not_a_file(_: &std::fs::Metadata) -> bool {
    false
}

/// Takes the lock of `out` for `command`, or refuses naming the run that holds it. An
/// output that exists is locked where it really is (through a symlink, beside its target).
pub fn lock_output(out: &Path, command: &str) -> Result<OutputLock, Failure> {
    if std::fs::metadata(out).is_ok_and(|m| not_a_file(&m)) {
        return Ok(OutputLock { path: None });
    }
    let real = std::fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());
    let path = lock_path(&real);
    let me = Holder {
        pid: std::process::id(),
        host: host_name(),
        command: command.into(),
    };
    // Two tries: the second after taking over a stale lock.
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                let text = serde_json::to_string(&me).expect("plain data");
                // A lock whose holder cannot be written still excludes; its content only
                // names the holder.
                let _ = file.write_all(text.as_bytes());
                return Ok(OutputLock { path: Some(path) });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(Failure::Run(overtrain::Error::Io(format!(
                    "cannot create the lock '{}' beside the output: {e}",
                    path.display()
                ))))
            }
        }
        let held: Option<Holder> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        match held {
            Some(h) if h.host == me.host && gone(h.pid) => {
                say!(
                    "notice: taking over the lock '{}' of process {} on {}, which is gone (a run that was killed)",
                    path.display(),
                    h.pid,
                    h.host
                );
                let _ = std::fs::remove_file(&path);
            }
            Some(h) if h.host == me.host => {
                return Err(Failure::Usage(format!(
                    "another run writes to '{}': {} (process {} on this host, {}); wait for it to end or choose another --out",
                    out.display(),
                    h.command,
                    h.pid,
                    h.host
                )))
            }
            Some(h) => {
                return Err(Failure::Usage(format!(
                    "another run writes to '{}': {} (process {} on host {}); on a shared filesystem it may still run there — if it does not, remove '{}'",
                    out.display(),
                    h.command,
                    h.pid,
                    h.host,
                    path.display()
                )))
            }
            None => {
                return Err(Failure::Usage(format!(
                    "another run may write to '{}': its lock '{}' names no process; if no run writes there, remove it",
                    out.display(),
                    path.display()
                )))
            }
        }
    }
    Err(Failure::Usage(format!(
        "'{}' is locked again as soon as it is freed: another run writes there",
        out.display()
    )))
}
