//! How every command talks to the user and fails: lines on stderr that never panic
//! ([`say!`], [`say_inline!`]), stdout whose failure is an I/O error ([`print_out`]), and
//! [`Failure`], which decides the exit code.

use overtrain::Error;

/// A line on stderr. A closed or full stderr cannot report anything, so its errors are
/// ignored: never a panic, whatever happens to the terminal or pipe.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// A progress line on stderr, without a newline (see [`say`]).
macro_rules! say_inline {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut err = std::io::stderr();
        let _ = write!(err, $($arg)*);
        let _ = err.flush();
    }};
}

pub(crate) use say;
pub(crate) use say_inline;

/// Why a command failed.
pub enum Failure {
    /// Arguments that the parser cannot check by itself: a config file that cannot be
    /// read, options that do not go together. Exit 2, like the parser's usage errors.
    Usage(String),
    /// The run failed: the exit code of its error's kind (see [`Error::exit_code`]).
    Run(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Run(e)
    }
}

impl From<overtrain::ConfigError> for Failure {
    fn from(e: overtrain::ConfigError) -> Failure {
        Failure::Run(e.into())
    }
}

impl From<overtrain::gpu::GpuError> for Failure {
    fn from(e: overtrain::gpu::GpuError) -> Failure {
        Failure::Run(e.into())
    }
}

/// A failure of reading or writing (exit 1).
pub fn io(message: String) -> Failure {
    Failure::Run(Error::Io(message))
}

/// Writes `text` and a newline to stdout; a closed or full stdout is an I/O failure
/// (exit 1), not a panic.
pub fn print_out(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| io(format!("cannot write to standard output: {e}")))
}

/// Plain data as pretty JSON.
pub fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("plain data")
}
