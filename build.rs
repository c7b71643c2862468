//! Writes the WGSL kernels of shaders/ into OUT_DIR as the crate embeds them (the `wgsl!`
//! macro of src/gpu/mod.rs): comments and indentation removed, every line kept, so that a
//! compiler's line numbers still point into shaders/. About half of the kernels' text is
//! comments, which the wasm would otherwise carry (README, "Size"). WGSL has no string
//! literals, so `//` always starts a comment; block comments are refused rather than
//! stripped wrongly.
use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=shaders");
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("shaders");
    fs::create_dir_all(&out).expect("OUT_DIR is writable");
    for entry in fs::read_dir("shaders").expect("shaders/ is read") {
        let path = entry.expect("shaders/ is read").path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("a kernel file is UTF-8 text");
        assert!(
            !text.contains("/*"),
            "{}: use // comments (block comments are not stripped)",
            path.display()
        );
        let stripped: String = text
            .lines()
            .map(|line| format!("{}\n", line.split("//").next().unwrap_or("").trim()))
            .collect();
        fs::write(out.join(path.file_name().expect("a file")), stripped)
            .expect("OUT_DIR is writable");
    }
}
