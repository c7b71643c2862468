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

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

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
    let value = T::deserialize(Objects(&mut *de)).map_err(|e| error(e, false))?;
    de.end().map_err(|e| error(e, true))?;
    Ok(value)
}

/// A reader (or a visitor, or an access to a map's members, …) that reads a struct only
/// from an object. serde's derived reading of a struct takes an array of its fields in
/// order as well, and serde_json offers both; no value of ours is written as an array, and
/// each struct's reading from one was compiled all the same: 43 kB of the wasm (README,
/// "Size"). Every reader handed on (of a member, an element, an option's value, a
/// variant's) is wrapped again, so that the rule holds at every depth; an array where a
/// struct belongs is refused as `invalid type: sequence, expected struct …`.
struct Objects<T>(T);

/// The reader's methods that only pass the visitor on, wrapped.
macro_rules! pass_on {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method($($arg,)* Objects(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Objects<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(Objects(visitor))
    }

    pass_on! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
        deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
        deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
        deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_option(); deserialize_unit(); deserialize_seq(); deserialize_map();
        deserialize_identifier(); deserialize_ignored_any();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// The visits that carry a plain value, passed on as they are.
macro_rules! visit_as_is {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.0.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Objects<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.0.expecting(f)
    }

    visit_as_is! {
        visit_bool(bool); visit_i64(i64); visit_i128(i128); visit_u64(u64); visit_u128(u128);
        visit_f64(f64); visit_char(char); visit_str(&str); visit_borrowed_str(&'de str);
        visit_string(String); visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Objects(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Objects(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Objects(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Objects(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Objects(data))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Objects<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Objects(d))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Objects<A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.0.next_element_seed(Objects(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Objects<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Objects(seed))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(Objects(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Objects<A> {
    type Error = A::Error;
    type Variant = Objects<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(Objects(seed))?;
        Ok((value, Objects(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Objects<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.0.newtype_variant_seed(Objects(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Objects(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Objects(visitor))
    }
}

/// `value` as a `serde_json::Value`, made through its JSON text: the serializer to text
/// exists for every type that is written out, where `serde_json::to_value` would compile
/// each type's serializer once more.
pub fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    let text = serde_json::to_string(value).expect("plain data");
    read_json(&text).expect("serde_json reads its own text")
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
            // A struct given as an array is refused where it stands (serde's derived
            // reading would take the fields in order; `Objects` does not offer it).
            (r#"[1, [0.1]]"#.to_string(), ""),
            (r#"{"name": "a", "inner": [1, [0.1]]}"#.to_string(), "inner"),
            (
                format!(r#"{{"name": "a", "inner": {inner}, "list": [[1, [0.1]]]}}"#),
                "list[0]",
            ),
        ] {
            assert_eq!(path_of(&text), path, "{text}");
        }
        let as_array = read_json::<Inner>("[1, [0.1]]").unwrap_err();
        assert_eq!(
            message(&as_array.inner),
            "invalid type: sequence, expected struct Inner"
        );
        // Everything else an array may hold still reads, at any depth.
        let read: Outer = read_json(&format!(
            r#"{{"name": "a", "inner": {inner}, "list": [{inner}, {inner}]}}"#
        ))
        .unwrap();
        assert_eq!((read.list.len(), read.list[1].lrs.clone()), (2, vec![0.1]));
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
