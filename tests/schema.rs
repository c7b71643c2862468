//! The field schema the page's forms are built from (`linear::config::fields`,
//! `experiment::config::fields`) agrees with the configs: every field once, every config
//! leaf covered, and each range exactly the one `validate` enforces (just past either end
//! is refused, naming that field).

use overtrain::experiment::ExperimentConfig;
use overtrain::linear::LinearConfig;
use overtrain::schema::{Group, Kind};
use overtrain::ConfigError;
use serde_json::Value;

/// Dotted paths of a config's leaves (objects recurse; the spectrum objects are leaves).
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in v.as_object().unwrap() {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if v.is_object() && !k.ends_with("spectrum") {
            leaves(v, &path, out);
        } else {
            out.push(path);
        }
    }
}

fn field_value<'a>(config: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(config, |v, k| &v[k])
}

fn set(config: &mut Value, path: &str, value: Value) {
    let mut v = config;
    let keys: Vec<&str> = path.split('.').collect();
    for k in &keys[..keys.len() - 1] {
        v = v.get_mut(*k).unwrap();
    }
    v[keys[keys.len() - 1]] = value;
}

fn check(groups: &[Group], default: Value, parse: &dyn Fn(&str) -> Result<(), ConfigError>) {
    let paths: Vec<&str> = groups
        .iter()
        .flat_map(|g| &g.fields)
        .map(|f| f.path)
        .collect();
    let mut want = Vec::new();
    leaves(&default, "", &mut want);
    want.retain(|p| p != "schema_version");
    // The sweep is absent from a config without one, but always in the form.
    if paths.contains(&"sweep") && !want.iter().any(|p| p == "sweep") {
        want.push("sweep".into());
    }
    let mut sorted = paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), paths.len(), "a field listed twice");
    want.sort();
    assert_eq!(sorted, want, "the schema lists exactly the config's fields");
    let mut checked = 0;
    for f in groups.iter().flat_map(|g| &g.fields) {
        assert!(
            !f.label.is_empty() && f.label != f.path,
            "{}: a plain label",
            f.path
        );
        if f.kind == Kind::Choice {
            assert!(f.values.is_some_and(|v| !v.is_empty()), "{}", f.path);
        }
        let list = f.kind == Kind::List;
        // Whole numbers where the config holds whole numbers (token budgets).
        let whole = f.kind == Kind::Int || (list && field_value(&default, f.path)[0].is_u64());
        let number = |x: f64| {
            if whole && x.fract() == 0.0 && x >= 0.0 {
                Value::from(x as u64)
            } else if whole && x.fract() == 0.0 {
                Value::from(x as i64)
            } else {
                Value::from(x)
            }
        };
        let refused = |x: f64| {
            let mut c = default.clone();
            let v = number(x);
            set(&mut c, f.path, if list { Value::from(vec![v]) } else { v });
            let e = parse(&c.to_string()).expect_err(&format!("{} = {x} is refused", f.path));
            let field = if list {
                format!("{}[0]", f.path)
            } else {
                f.path.to_string()
            };
            assert_eq!(e.field, field, "{} = {x}: {e}", f.path);
        };
        let accepted = |x: f64| {
            let mut c = default.clone();
            let v = number(x);
            set(&mut c, f.path, if list { Value::from(vec![v]) } else { v });
            if let Err(e) = parse(&c.to_string()) {
                // Another field's rule may refuse the combination; never this field.
                assert!(
                    !e.field.starts_with(f.path),
                    "{} = {x} is allowed: {e}",
                    f.path
                );
            }
        };
        let step = |x: f64| if whole { 1.0 } else { x.abs() * 1e-6 + 1e-9 };
        if let Some(hi) = f.max {
            refused(hi + step(hi));
            accepted(hi);
            checked += 1;
        }
        if let Some(lo) = f.min {
            if f.min_open {
                refused(lo);
            } else {
                refused(lo - step(lo));
                accepted(lo);
            }
            checked += 1;
        }
    }
    assert!(checked > 10);
}

#[test]
fn the_linear_labs_fields_match_its_config() {
    // 200 steps, so that a checkpoint at every step stays within the checkpoint cap.
    let config = LinearConfig::from_json(r#"{"pretrain": {"steps": 200}}"#).unwrap();
    check(
        &overtrain::linear::config::fields(),
        serde_json::to_value(config).unwrap(),
        &|t| LinearConfig::from_json(t).map(drop),
    );
}

#[test]
fn the_transformer_labs_fields_match_its_config() {
    // Micro, so that the largest values of one field do not exceed a work cap.
    check(
        &overtrain::experiment::config::fields(),
        serde_json::to_value(ExperimentConfig::preset("micro").unwrap()).unwrap(),
        &|t| ExperimentConfig::from_json(t).map(drop),
    );
}
