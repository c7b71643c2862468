//! How a config field is shown and checked: a plain-language label, one sentence of help,
//! its kind and its allowed range, grouped as the forms group them. Each config module
//! lists its own fields (`linear::config::fields`, `experiment::config::fields`); the page
//! builds both labs' forms, its URL state and its preset list from them
//! (`web::field_schema`), and a malformed value's error quotes the field's range
//! ([`hint`]). The ranges are those the configs' `validate` enforces (tests/schema.rs holds
//! the two equal).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A whole number.
    Int,
    /// A finite number.
    Number,
    /// Comma-separated numbers; `min`/`max` bound each entry.
    List,
    /// One of `values`.
    Choice,
    Bool,
    /// Free text (null when empty).
    Text,
    /// The linear lab's spectrum object: {kind: power|flat|values, exponent|value|values}.
    Spectrum,
    /// The transformer lab's sweep: null, or {field: another field's path, values: 2 to 5
    /// of that field's values}.
    Sweep,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The dotted config path.
    pub path: &'static str,
    pub label: &'static str,
    pub help: Option<&'static str>,
    pub kind: Kind,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The minimum itself is not allowed: (min, max].
    pub min_open: bool,
    pub values: Option<&'static [&'static str]>,
    /// A slider beside the input: [min, max, step].
    pub slider: Option<[f64; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub title: &'static str,
    pub fields: Vec<Field>,
}

pub const fn field(path: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        path,
        label,
        help: None,
        kind,
        min: None,
        max: None,
        min_open: false,
        values: None,
        slider: None,
    }
}

impl Field {
    pub fn help(mut self, text: &'static str) -> Field {
        self.help = Some(text);
        self
    }
    /// [min, max].
    pub fn range(mut self, min: f64, max: f64) -> Field {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    /// (min, max].
    pub fn above(mut self, min: f64, max: f64) -> Field {
        self.min_open = true;
        self.range(min, max)
    }
    /// At most `max`; the minimum depends on other fields (the help says how).
    pub fn at_most(mut self, max: f64) -> Field {
        self.max = Some(max);
        self
    }
    pub fn at_least(mut self, min: f64) -> Field {
        self.min = Some(min);
        self
    }
    pub fn choices(mut self, values: &'static [&'static str]) -> Field {
        self.values = Some(values);
        self
    }
    pub fn slider(mut self, min: f64, max: f64, step: f64) -> Field {
        self.slider = Some([min, max, step]);
        self
    }
}

/// What a field allows, in words ("an integer in 1..=256", "one of gelu, swiglu"), for the
/// error of a value of the wrong type; None for a path that is not a field.
pub fn hint(groups: &[Group], path: &str) -> Option<String> {
    // A list entry's path is the list's with an index: "finetune.lrs[1]".
    let base = path.split('[').next().unwrap_or(path);
    let f = groups
        .iter()
        .flat_map(|g| &g.fields)
        .find(|f| f.path == base)?;
    let open = if f.min_open { "(" } else { "[" };
    let range = match (f.min, f.max) {
        (Some(lo), Some(hi)) if f.kind == Kind::Int => format!(" in {lo}..={hi}"),
        (Some(lo), None) if f.kind == Kind::Int => format!(" ≥ {lo}"),
        (Some(lo), Some(hi)) => format!(" in {open}{lo}, {hi}]"),
        (Some(lo), None) => format!(" ≥ {lo}"),
        (None, Some(hi)) => format!(" ≤ {hi}"),
        _ => String::new(),
    };
    Some(match f.kind {
        Kind::Int => format!("an integer{range}"),
        Kind::Number => format!("a finite number{range}"),
        Kind::List if path != base => format!("a finite number{range}"),
        Kind::List => format!("a list of numbers{range}"),
        Kind::Choice => format!("one of {}", f.values.unwrap_or_default().join(", ")),
        Kind::Bool => "true or false".into(),
        Kind::Text => "a string or null".into(),
        Kind::Spectrum => {
            "an object {\"kind\": \"power\", \"exponent\": a}, {\"kind\": \"flat\", \"value\": c} or {\"kind\": \"values\", \"values\": […]}".into()
        }
        Kind::Sweep => {
            "null or an object {\"field\": \"model.d_model\", \"values\": [2 to 5 of its values]}".into()
        }
    })
}
