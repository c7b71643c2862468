//! Reading JSON text into a value, with the path of the part that is not one
//! (`pretrain.steps`, `finetune.lrs[1]`) in the error: the crate's one reader of JSON — the
//! CLI's config files, the values the page passes in (src/web/values.rs), a sweep's
//! variants.
//!
//! Why one reader, and why not serde_path_to_error: each reader (serde_json over text,
//! serde-wasm-bindgen over JavaScript values, serde_json over a `Value`) compiles every
//! type's deserializer again, and serde_path_to_error wraps each of those once more; in the
//! wasm that was about a quarter of the module. Here serde_json reads the text plainly, and
//! only when it fails is the path found, by [`path_at`] from the position serde_json gives:
//! a scan of the text up to there, a few lines of code that are not generic.

/// Why [`read_json`] refused a text: serde_json's error and the path of the part it was
/// reading there ("" for the whole value).
#[derive(Debug)]
pub struct JsonError {
    pub path: String,
    pub inner: serde_json::Error,
    /// The value was whole, and more text came after it.
    pub trailing: bool,
}

/// `T` from JSON `text`; content after the value is an error (`trailing`).
pub fn read_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let error = |inner: serde_json::Error, trailing| JsonError {
        path: path_at(text, inner.line(), inner.column()),
        inner,
        trailing,
    };
    let value = T::deserialize(&mut *de).map_err(|e| error(e, false))?;
    de.end().map_err(|e| error(e, true))?;
    Ok(value)
}

/// `value` as a `serde_json::Value`, made through its JSON text: the serializer to text
/// exists for every type that is written out, where `serde_json::to_value` would compile
/// each type's serializer once more.
pub fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    let text = serde_json::to_string(value).expect("plain data");
    serde_json::from_str(&text).expect("serde_json reads its own text")
}

/// A field that variant `kind` of an internally tagged enum needs (`{"kind": "wsd",
/// "decay_fraction": 0.2}`). Such an enum is read through a struct of every variant's
/// fields, each optional (`#[serde(try_from = "...")]`), rather than by serde's own reading
/// of a tagged enum, which holds each value in a buffer first: that buffering's code was
/// 13 kB of the gzipped wasm (README, "Size"), and it copied every loss of a unit's output.
pub fn required<T>(kind: &str, name: &str, value: Option<T>) -> Result<T, String> {
    value.ok_or_else(|| format!("missing field `{name}` (kind \"{kind}\")"))
}

/// A field that variant `kind` does not have, where unknown fields are refused.
pub fn absent<T>(kind: &str, name: &str, value: &Option<T>) -> Result<(), String> {
    match value {
        Some(_) => Err(format!("unknown field `{name}` for kind \"{kind}\"")),
        None => Ok(()),
    }
}

/// serde_json's message without " at line L column C": for text made from a value, where
/// the position means nothing to the reader.
pub fn message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    message.strip_suffix(&at).unwrap_or(&message).to_string()
}

/// Where a scan of the text is: inside an object (the key of the member being read, once
/// its key is read) or an array (the element being read).
enum Frame {
    Object {
        key: Option<String>,
        expect_key: bool,
    },
    Array {
        index: usize,
    },
}

/// The path of the value that the reader was in at `line`, `column` of `text` (serde_json's
/// position of an error: `column` bytes after the start of the line, counting from 1).
/// A member's key names it from its key to the comma after its value; an element's index
/// from its start. Past the end of an object or array, the path is its own.
pub fn path_at(text: &str, line: usize, column: usize) -> String {
    let bytes = text.as_bytes();
    let line_start = if line <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(bytes.len(), |(i, _)| i + 1)
    };
    let end = (line_start + column).min(bytes.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { key, expect_key }) = stack.last_mut() {
                    if *expect_key {
                        let raw = &text[start..(i + 1).min(text.len())];
                        *key = Some(
                            serde_json::from_str(raw)
                                .unwrap_or_else(|_| raw.trim_matches('"').to_string()),
                        );
                        *expect_key = false;
                    }
                }
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                expect_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, expect_key }) => {
                    *key = None;
                    *expect_key = true;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        steps: u32,
        lrs: Vec<f64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
        list: Vec<Inner>,
    }

    fn path_of(text: &str) -> String {
        read_json::<Outer>(text).expect_err(text).path
    }

    #[test]
    fn an_error_names_the_part_being_read() {
        let inner = r#"{"steps": 1, "lrs": [0.1]}"#;
        for (text, path) in [
            // A value of the wrong type, first and not first in its object.
            (r#"{"name": 5}"#.to_string(), "name"),
            (
                r#"{"name": "a", "inner": {"steps": "x"}}"#.to_string(),
                "inner.steps",
            ),
            (
                r#"{"name": "a", "inner": {"steps": 1, "lrs": [1, "x"]}}"#.to_string(),
                "inner.lrs[1]",
            ),
            // An unknown field names itself; a missing one, its object.
            (
                r#"{"name": "a", "inner": {"stepz": 1}}"#.to_string(),
                "inner.stepz",
            ),
            (
                r#"{"name": "a", "inner": {"steps": 1}}"#.to_string(),
                "inner",
            ),
            (r#"{"name": "a"}"#.to_string(), ""),
            // Arrays of objects, keys with escapes, text over several lines.
            (
                format!(r#"{{"name": "a", "inner": {inner}, "list": [{inner}, {{"steps": -1}}]}}"#),
                "list[1].steps",
            ),
            (
                format!(r#"{{"name": "a", "inner": {inner}, "list": [], "\u0078": 1}}"#),
                "x",
            ),
            (
                "{\n \"name\": \"a\",\n \"inner\": {\n  \"steps\": true\n }\n}".to_string(),
                "inner.steps",
            ),
            // Syntax: the part it is in.
            (
                r#"{"name": "a", "inner": {"steps": 1x}}"#.to_string(),
                "inner.steps",
            ),
            (r#"{"name": "a", "#.to_string(), ""),
            // A struct read from an array, by position.
            (r#"[1]"#.to_string(), "[0]"),
        ] {
            assert_eq!(path_of(&text), path, "{text}");
        }
        // Strings holding brackets, quotes and commas do not move the scan.
        let tricky = r#"{"name": "{[\",", "inner": {"steps": 1, "lrs": [], "x": 0}}"#;
        assert_eq!(path_of(tricky), "inner.x");
        let trailing = read_json::<Inner>(r#"{"steps": 1, "lrs": []} x"#).unwrap_err();
        assert!(
            trailing.trailing && trailing.path.is_empty(),
            "{trailing:?}"
        );
        assert_eq!(message(&trailing.inner), "trailing characters");
    }
}
