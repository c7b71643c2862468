//! Errors are values: validation returns an error that names the offending field
//! (as a dotted path, `pretrain.lr`) and says what is allowed. The CLI prints it and
//! exits with code 2; the page shows it next to the control of that field.

use serde::Serialize;
use std::fmt;

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

/// Parses a JSON config object (omitted fields take their defaults). Errors name the field
/// as a dotted path; `integer_range` gives the allowed range of integer fields, quoted when
/// the document has something else there.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    text: &str,
    integer_range: fn(&str) -> Option<String>,
) -> Result<T, ConfigError> {
    // serde would also accept a JSON array of the fields in order: only objects are configs.
    let first = text.trim_start().chars().next();
    if first.is_some() && first != Some('{') {
        return Err(ConfigError::new(
            "",
            "malformed JSON: the config must be a JSON object { … }",
        ));
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        use serde_json::error::Category;
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." || path == "?" {
            String::new()
        } else {
            path
        };
        let syntax = matches!(
            inner.classify(),
            Category::Syntax | Category::Eof | Category::Io
        );
        if syntax && field.is_empty() {
            return ConfigError::new("", format!("malformed JSON: {inner}"));
        }
        let message = match integer_range(&field) {
            Some(range) => format!("must be an integer in {range} ({inner})"),
            None => inner.to_string(),
        };
        ConfigError::new(field, message)
    })
}
