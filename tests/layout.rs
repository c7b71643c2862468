//! The folder layout is a map of the architecture: no import cycle between the top-level
//! modules of `src/`, nor between the files of one module. Reads the sources (comments
//! left out) for `crate::a::…` and `super::b::…` paths.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A source file: (top-level module, file within it: "mod" for mod.rs or a top-level file).
type Node = (String, String);

fn sources(dir: &Path, out: &mut Vec<(Node, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix("src").unwrap();
            let parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            let node = match parts.as_slice() {
                [file] => (file.clone(), "mod".to_string()),
                // src/cpu is a crate of its own (src/cpu/lib.rs says why): its lib.rs is the
                // module's root, and its `crate::x` is the sibling file x.
                [module, file] if module == "cpu" && file == "lib" => {
                    (module.clone(), "mod".to_string())
                }
                [module, file] => (module.clone(), file.clone()),
                other => panic!("unexpected depth: {other:?} (extend this test)"),
            };
            let mut code: String = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            if node.0 == "cpu" {
                code = code.replace("crate::", "crate::cpu::");
            }
            out.push((node, code));
        }
    }
}

/// The first path segments after each occurrence of `prefix` (`crate::` or `super::`),
/// including each item of a braced group `prefix{a::x, b}`.
fn heads(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item_start) = (0, 0);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(&group[item_start..j]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&group[item_start..j]));
                        item_start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|h| !h.is_empty());
    out
}

fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if !state.contains_key(n.as_str()) {
            if let Some(c) = visit(n, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_import_cycles_between_modules_or_between_the_files_of_a_module() {
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|((m, _), _)| m.clone()).collect();
    let files_of = |m: &str| -> BTreeSet<String> {
        files
            .iter()
            .filter(|((fm, _), _)| fm == m)
            .map(|((_, f), _)| f.clone())
            .collect()
    };
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut inner: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for ((module, file), code) in &files {
        if module == "main" || module == "lib" {
            continue;
        }
        let siblings = files_of(module);
        let mut link = |to: String| {
            if &to != file {
                inner
                    .entry(module.clone())
                    .or_default()
                    .entry(file.clone())
                    .or_default()
                    .insert(to);
            }
        };
        for head in heads(code, "crate::") {
            if &head != module && modules.contains(&head) {
                top.entry(module.clone()).or_default().insert(head);
            }
        }
        // `crate::this_module::file::…` from inside the module.
        for head in heads(code, &format!("crate::{module}::")) {
            link(if siblings.contains(&head) {
                head
            } else {
                "mod".into()
            });
        }
        if file == "mod" {
            // mod.rs reaches its files by their names: `use file::…`, `file::item`.
            for f in &siblings {
                let pattern = format!("{f}::");
                let used = code.match_indices(&pattern).any(|(i, _)| {
                    !code[..i]
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if used && f != "mod" {
                    link(f.clone());
                }
            }
        } else {
            for head in heads(code, "super::") {
                link(if siblings.contains(&head) {
                    head
                } else {
                    "mod".into()
                });
            }
        }
    }
    if let Some(c) = cycle(&top) {
        panic!("import cycle between top-level modules: {}", c.join(" → "));
    }
    for (module, edges) in &inner {
        if let Some(c) = cycle(edges) {
            panic!(
                "import cycle between the files of {module}/: {}",
                c.join(" → ")
            );
        }
    }
    // The check sees what it should: the crate has layers at all.
    assert!(top
        .get("experiment")
        .is_some_and(|e| e.contains("transformer")));
    assert!(inner.get("transformer").is_some_and(|e| e.len() > 3));
}
