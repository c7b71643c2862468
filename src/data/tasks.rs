//! Built-in fine-tuning tasks (science.md §3 "Data"), each with a train and a held-out
//! split, over the pre-training alphabet where it matters:
//!
//! - `shifted`: a second synthetic language with the same letters, other words, verb-final
//!   order and other suffixes (the best default, science.md §4);
//! - `code`: a small code-like language of assignments, conditionals and prints;
//! - `facts`: templated questions and answers over a fixed random knowledge base;
//! - `arithmetic`: `37+48=85` lines (digits and symbols pre-training never shows);
//! - user text: a file or pasted text, split into train and held-out.

use super::language::{Language, LanguageSpec};
use super::{split_rng, ByteSource, PieceStream, Split};
use crate::error::ConfigError;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// The names of the built-in tasks, as configs spell them.
pub const BUILT_IN: [&str; 4] = ["shifted", "code", "facts", "arithmetic"];

/// Fewest bytes of user text: enough for a held-out tenth of at least one batch row.
pub const USER_TEXT_MIN_BYTES: usize = 2048;

/// A fine-tuning task's byte stream for one split. `seed` picks the task's content (its
/// lexicon, knowledge base); `stream` picks one of many independent samplings of the same
/// task (fine-tuning repeats use streams 0, 1, 2, … of the train split over one fixed task
/// and one fixed held-out set).
pub fn task_source(
    task: &str,
    seed: u64,
    split: Split,
    stream: u64,
) -> Result<Box<dyn ByteSource>, ConfigError> {
    let sampling = seed.wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    Ok(match task {
        "shifted" => Box::new(
            Arc::new(Language::new(LanguageSpec::shifted(), seed ^ 0x5348_4946))
                .stream(sampling, split),
        ),
        "code" => Box::new(PieceStream::new(split_rng(sampling, split), code_line)),
        "facts" => {
            let kb = Arc::new(KnowledgeBase::new(seed));
            Box::new(PieceStream::new(split_rng(sampling, split), move |rng| {
                kb.question(rng)
            }))
        }
        "arithmetic" => Box::new(PieceStream::new(split_rng(sampling, split), |rng| {
            let (a, b) = (rng.random_range(0..100u32), rng.random_range(0..100u32));
            format!("{a}+{b}={}\n", a + b)
        })),
        other => {
            return Err(ConfigError::new(
                "task",
                format!(
                    "unknown task '{other}'; built-in tasks are {}",
                    BUILT_IN.join(", ")
                ),
            ))
        }
    })
}

/// One line of the code-like language.
fn code_line(rng: &mut ChaCha8Rng) -> String {
    let var = |rng: &mut ChaCha8Rng| format!("v{}", rng.random_range(0..6));
    let atom = |rng: &mut ChaCha8Rng| {
        if rng.random::<f64>() < 0.5 {
            var(rng)
        } else {
            rng.random_range(0..10).to_string()
        }
    };
    let ops = ["+", "-", "*"];
    let expr = |rng: &mut ChaCha8Rng| {
        let (a, b, c) = (atom(rng), atom(rng), atom(rng));
        let (o1, o2) = (ops[rng.random_range(0..3)], ops[rng.random_range(0..3)]);
        if rng.random::<f64>() < 0.5 {
            format!("({a} {o1} {b}) {o2} {c}")
        } else {
            format!("{a} {o1} {b}")
        }
    };
    match rng.random_range(0..4) {
        0 | 1 => format!("let {} = {};\n", var(rng), expr(rng)),
        2 => format!(
            "if {} > {} {{ {} = {}; }}\n",
            var(rng),
            atom(rng),
            var(rng),
            expr(rng)
        ),
        _ => format!("print({});\n", expr(rng)),
    }
}

/// A fixed random knowledge base: invented places with a capital, a colour and a river.
pub struct KnowledgeBase {
    pub facts: Vec<(String, &'static str, String)>,
}

const RELATIONS: [&str; 3] = ["capital", "colour", "river"];

impl KnowledgeBase {
    pub fn new(seed: u64) -> Self {
        let mut rng = split_rng(seed, Split::Train);
        rng.set_stream(77);
        let name = |rng: &mut ChaCha8Rng| {
            let syllables = rng.random_range(2..=3);
            let mut s: String = (0..syllables)
                .map(|_| {
                    let c = b"bdfgklmnprstvz"[rng.random_range(0..14)] as char;
                    let v = b"aeiou"[rng.random_range(0..5)] as char;
                    format!("{c}{v}")
                })
                .collect();
            s[..1].make_ascii_uppercase();
            s
        };
        let mut facts = Vec::new();
        for _ in 0..64 {
            let place = name(&mut rng);
            for rel in RELATIONS {
                facts.push((place.clone(), rel, name(&mut rng)));
            }
        }
        KnowledgeBase { facts }
    }

    /// A question and its answer about a random fact, in one of two phrasings.
    pub fn question(&self, rng: &mut ChaCha8Rng) -> String {
        let (place, rel, value) = &self.facts[rng.random_range(0..self.facts.len())];
        if rng.random::<f64>() < 0.5 {
            format!("Q: What is the {rel} of {place}? A: {value}.\n")
        } else {
            format!("Q: Name the {rel} of {place}. A: {value}.\n")
        }
    }
}

/// User text split into train (the first 90%, cut at a line break when there is one
/// nearby) and held-out (the rest). Each split repeats its text endlessly.
pub struct UserText {
    pub train: Vec<u8>,
    pub heldout: Vec<u8>,
}

impl UserText {
    pub fn new(text: &str) -> Result<UserText, ConfigError> {
        let bytes = text.as_bytes();
        if bytes.len() < USER_TEXT_MIN_BYTES {
            return Err(ConfigError::new(
                "user_text",
                format!(
                    "needs at least {USER_TEXT_MIN_BYTES} bytes, got {}",
                    bytes.len()
                ),
            ));
        }
        let cut = bytes.len() * 9 / 10;
        let cut = bytes[cut..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(cut, |p| (cut + p + 1).min(bytes.len() - 1));
        Ok(UserText {
            train: bytes[..cut].to_vec(),
            heldout: bytes[cut..].to_vec(),
        })
    }

    pub fn source(&self, split: Split) -> impl ByteSource {
        let text = match split {
            Split::Train => self.train.clone(),
            Split::Heldout => self.heldout.clone(),
        };
        Cycle { text, pos: 0 }
    }
}

struct Cycle {
    text: Vec<u8>,
    pos: usize,
}

impl ByteSource for Cycle {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out.iter_mut() {
            *b = self.text[self.pos];
            self.pos = (self.pos + 1) % self.text.len();
        }
    }
}
