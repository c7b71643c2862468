//! Errors are values. [`Error`] is the crate's one error type: every fallible run, in the
//! CLI and in the page, ends in one of its kinds (`config`, `gpu`, `cancelled`, `data`,
//! `io`). It crosses the wasm boundary as `{kind, message, field?}` ([`Error::value`]) so
//! the page decides what to show by the kind; the CLI maps kinds to exit codes
//! ([`Error::exit_code`]). Validation returns a [`ConfigError`] that names the offending
//! field (as a dotted path, `pretrain.lr`) and says what is allowed.

use crate::gpu::GpuError;
use serde::Serialize;
use std::fmt;

/// Why a run could not go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Bad input in a config: names the field and what is allowed.
    Config(ConfigError),
    /// The GPU failed (no adapter, device lost, a WebGPU error, a limit met at run time).
    Gpu(GpuError),
    /// Input data other than a config is inconsistent (a results file to resume from,
    /// a saved state of another model, shard parts): `part` names what.
    Data { part: String, message: String },
    /// Stopped by the user.
    Cancelled,
    /// Reading or writing outside the program failed.
    Io(String),
}

/// The kind of an [`Error`], as the page and the CLI see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    Config,
    Gpu,
    Data,
    Cancelled,
    Io,
}

/// An error as it crosses the wasm boundary: `{kind, message, field?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorValue {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Error {
    pub fn data(part: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Data {
            part: part.into(),
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Config,
            Error::Gpu(_) => ErrorKind::Gpu,
            Error::Data { .. } => ErrorKind::Data,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Io(_) => ErrorKind::Io,
        }
    }

    /// The config field or data part the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Config(e) if !e.field.is_empty() => Some(&e.field),
            Error::Data { part, .. } => Some(part),
            _ => None,
        }
    }

    /// The CLI's exit code: 2 for bad input (a config or a data file), 130 for an
    /// interruption, 1 for a failure of the device or of reading and writing.
    pub fn exit_code(&self) -> u8 {
        match self.kind() {
            ErrorKind::Config | ErrorKind::Data => 2,
            ErrorKind::Cancelled => 130,
            ErrorKind::Gpu | ErrorKind::Io => 1,
        }
    }

    /// The error as the page receives it.
    pub fn value(&self) -> ErrorValue {
        let message = match self {
            Error::Config(e) => e.message.clone(),
            Error::Data { message, .. } => message.clone(),
            other => other.to_string(),
        };
        ErrorValue {
            kind: self.kind(),
            message,
            field: self.field().map(str::to_string),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Gpu(e) => e.fmt(f),
            Error::Data { part, message } => write!(f, "{part}: {message}"),
            Error::Cancelled => write!(f, "cancelled"),
            Error::Io(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(e)
    }
}

impl From<GpuError> for Error {
    fn from(e: GpuError) -> Error {
        Error::Gpu(e)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigError {
    /// Dotted path of the field, e.g. `finetune.lrs[1]`; empty for a whole-document error.
    pub field: String,
    /// What is wrong and what is allowed, e.g. `must be a number in (0, 10], got -1`.
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "invalid config: {}", self.message)
        } else {
            write!(f, "invalid config: {}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Checks that `value` is finite and inside `[lo, hi]` (or `(lo, hi]` when `lo_open`).
pub fn check_range(
    field: &str,
    value: f64,
    lo: f64,
    lo_open: bool,
    hi: f64,
) -> Result<(), ConfigError> {
    let ok_lo = if lo_open { value > lo } else { value >= lo };
    if value.is_finite() && ok_lo && value <= hi {
        Ok(())
    } else {
        let open = if lo_open { "(" } else { "[" };
        Err(ConfigError::new(
            field,
            format!("must be a finite number in {open}{lo}, {hi}], got {value}"),
        ))
    }
}

/// Checks that an integer lies in `lo..=hi`.
pub fn check_int(field: &str, value: usize, lo: usize, hi: usize) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!("must be an integer in {lo}..={hi}, got {value}"),
        ))
    }
}

/// Checks a list's length.
pub fn check_len(field: &str, len: usize, lo: usize, hi: usize) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&len) {
        Ok(())
    } else if len == 0 {
        Err(ConfigError::new(
            field,
            format!("must not be empty (allowed: {lo} to {hi} entries)"),
        ))
    } else {
        Err(ConfigError::new(
            field,
            format!("must have {lo} to {hi} entries, got {len}"),
        ))
    }
}

/// At most this many characters of a value or message are quoted back in an error (a 2 MB
/// string in a config must not come back whole).
const QUOTE_MAX: usize = 200;

/// `text` cut to [`QUOTE_MAX`] characters, with "…" when cut.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Parses a JSON config object (omitted fields take their defaults). A UTF-8 byte-order
/// mark is skipped. Errors name the field as a dotted path, or the line and column:
/// anything but one JSON object (an array, content after the object), a config section
/// given as an array, a value of the wrong type (quoting what `fields` allows there).
pub fn parse_json<T: serde::de::DeserializeOwned>(
    text: &str,
    fields: &[crate::schema::Group],
) -> Result<T, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // serde would also accept a JSON array of the fields in order: only objects are configs.
    let rest = text.trim_start();
    if rest.chars().next().is_some_and(|c| c != '{') {
        let before = &text[..text.len() - rest.len()];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        return Err(ConfigError::new(
            "",
            format!(
                "malformed JSON at line {line} column {column}: the config must be a JSON object {{ … }}"
            ),
        ));
    }
    let config: T = crate::json::read_json(text).map_err(|e| {
        use serde_json::error::Category;
        let field = e.path;
        if e.trailing {
            return ConfigError::new(
                "",
                format!(
                    "malformed JSON: content after the config object at line {} column {}",
                    e.inner.line(),
                    e.inner.column()
                ),
            );
        }
        let inner = e.inner;
        let syntax = matches!(
            inner.classify(),
            Category::Syntax | Category::Eof | Category::Io
        );
        let inner = quote(&inner.to_string());
        if syntax && field.is_empty() {
            return ConfigError::new("", format!("malformed JSON: {inner}"));
        }
        let message = match (
            crate::schema::hint(fields, &field),
            section_given_as(&inner),
        ) {
            (Some(allowed), _) => format!("must be {allowed} ({inner})"),
            (None, Some(got)) => format!("must be a JSON object {{ … }}, got {got}"),
            (None, None) => inner,
        };
        ConfigError::new(quote(&field), message)
    })?;
    Ok(config)
}

/// What was given where a section (an object) belongs, from serde's message
/// `invalid type: sequence, expected struct PretrainConfig` (the reader takes a struct only
/// from an object, `json::Objects`).
fn section_given_as(message: &str) -> Option<&'static str> {
    let given = message.strip_prefix("invalid type: ")?;
    let (given, expected) = given.split_once(", expected ")?;
    expected.starts_with("struct ").then_some(match given {
        "sequence" => "an array",
        "null" => "null",
        _ => "a single value",
    })
}
