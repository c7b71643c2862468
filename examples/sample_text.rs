//! Prints samples of the synthetic pre-training text and of each built-in fine-tuning task.
//! `cargo run --example sample_text [SEED]`
use overtrain::data::language::{Language, LanguageSpec};
use overtrain::data::tasks::{task_source, BUILT_IN};
use overtrain::data::{ByteSource, Split};
use std::sync::Arc;

fn show(name: &str, source: &mut dyn ByteSource) {
    let mut buf = vec![0u8; 400];
    source.fill(&mut buf);
    println!("--- {name}\n{}\n", String::from_utf8_lossy(&buf));
}

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let lang = Arc::new(Language::new(LanguageSpec::pretraining(), seed));
    show("pre-training", &mut lang.stream(seed, Split::Train));
    for task in BUILT_IN {
        show(
            task,
            &mut *task_source(task, seed, Split::Train, 0).expect("built-in"),
        );
    }
}
