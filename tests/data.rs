//! The transformer lab's data: determinism, splits, the long tail of the synthetic
//! language, each fine-tuning task's format, user text and batching.

use overtrain::data::language::{Language, LanguageSpec};
use overtrain::data::tasks::{task_source, KnowledgeBase, UserText, BUILT_IN, USER_TEXT_MIN_BYTES};
use overtrain::data::{batch, decode, encode, ByteSource, Split};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

fn text(source: &mut dyn ByteSource, n: usize) -> String {
    let mut buf = vec![0u8; n];
    source.fill(&mut buf);
    String::from_utf8(buf).expect("ASCII text")
}

fn pretraining(seed: u64, split: Split) -> impl ByteSource {
    Arc::new(Language::new(LanguageSpec::pretraining(), seed)).stream(seed, split)
}

#[test]
fn byte_tokenizer_round_trips() {
    let s = "Zorvania — ünïcode, too.\n";
    assert_eq!(decode(&encode(s)), s);
    assert_eq!(encode("ab"), vec![97, 98]);
}

#[test]
fn streams_are_deterministic_and_splits_differ() {
    let a = text(&mut pretraining(7, Split::Train), 20_000);
    let b = text(&mut pretraining(7, Split::Train), 20_000);
    assert_eq!(a, b, "same seed, same text");
    let held = text(&mut pretraining(7, Split::Heldout), 20_000);
    assert_ne!(a, held);
    let other = text(&mut pretraining(8, Split::Train), 20_000);
    assert_ne!(a, other);
    // Reading in pieces gives the same stream as reading at once.
    let mut s = pretraining(7, Split::Train);
    let mut pieces = String::new();
    for n in [1, 999, 5000, 14_000] {
        pieces.push_str(&text(&mut s, n));
    }
    assert_eq!(pieces, a);
    // The held-out text is the same language: its words come from the same lexicon.
    let words = |t: &str| {
        t.split(|c: char| !c.is_ascii_alphabetic())
            .map(str::to_lowercase)
            .filter(|w| !w.is_empty())
            .collect::<HashSet<_>>()
    };
    let (train_words, held_words) = (
        words(&text(&mut pretraining(7, Split::Train), 400_000)),
        words(&held),
    );
    let shared = held_words
        .iter()
        .filter(|w| train_words.contains(*w))
        .count();
    // (Not all: the long tail means rare held-out words may not have appeared yet.)
    assert!(
        shared as f64 > 0.8 * held_words.len() as f64,
        "{shared} of {}",
        held_words.len()
    );
}

#[test]
fn the_language_has_a_long_tail() {
    let t = text(&mut pretraining(1, Split::Train), 2_000_000);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut distinct_at = Vec::new();
    for (i, w) in t
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        *counts.entry(w).or_default() += 1;
        if [10_000, 100_000, 300_000].contains(&(i + 1)) {
            distinct_at.push(counts.len());
        }
    }
    // New words keep appearing as more text is read (a long tail)…
    assert!(
        distinct_at[0] < distinct_at[1] && distinct_at[1] < distinct_at[2],
        "{distinct_at:?}"
    );
    // …while a few words are very common (Zipf).
    let mut freq: Vec<usize> = counts.values().copied().collect();
    freq.sort_unstable_by(|a, b| b.cmp(a));
    let total: usize = freq.iter().sum();
    let top10: usize = freq[..10].iter().sum();
    assert!(
        top10 * 5 > total,
        "the 10 commonest words are over a fifth of the text"
    );
    let once = freq.iter().filter(|&&c| c <= 2).count();
    assert!(once > 100, "{once} words seen at most twice");
    // Documents are lines of capitalized sentences.
    let first = t.lines().next().unwrap();
    assert!(first.chars().next().unwrap().is_ascii_uppercase() && first.ends_with('.'));
}

#[test]
fn grammar_shows_agreement_and_word_order() {
    let lang = Language::new(LanguageSpec::pretraining(), 3);
    let shifted = Language::new(LanguageSpec::shifted(), 3);
    let mut rng = overtrain::data::split_rng(3, Split::Train);
    let (mut en, mut ta) = (0, 0);
    for _ in 0..2000 {
        let s = lang.sentence(0, &mut rng);
        en += s.split(' ').filter(|w| w.ends_with("en")).count();
        let s = shifted.sentence(0, &mut rng);
        // Verb-final: in a sentence without a prepositional phrase, the last word is the verb.
        ta += s
            .trim_end_matches('.')
            .split(' ')
            .filter(|w| w.ends_with("ta"))
            .count();
    }
    assert!(
        en > 300 && ta > 300,
        "agreement suffixes appear: {en}, {ta}"
    );
    // The shifted language uses the same letters and other words.
    let a = text(&mut pretraining(3, Split::Train), 50_000);
    let b = text(
        &mut *task_source("shifted", 3, Split::Train, 0).unwrap(),
        50_000,
    );
    let letters = |t: &str| {
        t.bytes()
            .map(|c| c.to_ascii_lowercase())
            .collect::<HashSet<u8>>()
    };
    assert!(letters(&b).is_subset(&letters(&a)), "same alphabet");
    let words = |t: &str| {
        t.split(|c: char| !c.is_ascii_alphabetic())
            .map(str::to_lowercase)
            .filter(|w| w.len() > 3)
            .collect::<HashSet<_>>()
    };
    let (wa, wb) = (words(&a), words(&b));
    assert!(
        wb.iter().filter(|w| wa.contains(*w)).count() * 5 < wb.len(),
        "mostly different words"
    );
}

#[test]
fn every_built_in_task_has_its_format() {
    for task in BUILT_IN {
        let train = text(&mut *task_source(task, 5, Split::Train, 0).unwrap(), 5000);
        let held = text(&mut *task_source(task, 5, Split::Heldout, 0).unwrap(), 5000);
        assert_ne!(train, held, "{task}");
        assert_eq!(
            train,
            text(&mut *task_source(task, 5, Split::Train, 0).unwrap(), 5000),
            "{task} is deterministic"
        );
        assert!(train.contains('\n'), "{task}");
    }
    let arithmetic = text(
        &mut *task_source("arithmetic", 1, Split::Train, 0).unwrap(),
        20_000,
    );
    for line in arithmetic
        .lines()
        .filter(|l| l.contains('='))
        .skip(1)
        .take(500)
    {
        let (lhs, sum) = line.split_once('=').unwrap();
        let (a, b) = lhs.split_once('+').unwrap();
        if let (Ok(a), Ok(b), Ok(sum)) = (a.parse::<u32>(), b.parse::<u32>(), sum.parse::<u32>()) {
            assert_eq!(a + b, sum, "{line}");
        }
    }
    let code = text(
        &mut *task_source("code", 1, Split::Train, 0).unwrap(),
        20_000,
    );
    for line in code.lines().skip(1).take(400) {
        assert_eq!(
            line.matches('(').count(),
            line.matches(')').count(),
            "{line}"
        );
        assert!(
            line.ends_with(';') || line.ends_with('}') || line.len() < 40,
            "{line}"
        );
    }
    // Facts: the same question always gets the same answer, in train and held-out.
    let kb = KnowledgeBase::new(2);
    let answers: HashMap<(String, &str), String> = kb
        .facts
        .iter()
        .map(|(p, r, v)| ((p.clone(), *r), v.clone()))
        .collect();
    let facts = text(
        &mut *task_source("facts", 2, Split::Heldout, 0).unwrap(),
        20_000,
    );
    let mut checked = 0;
    for line in facts.lines().skip(1).filter(|l| l.starts_with("Q: ")) {
        let Some((q, a)) = line.split_once(" A: ") else {
            continue;
        };
        let Some(a) = a.strip_suffix('.') else {
            continue;
        };
        let rel = ["capital", "colour", "river"]
            .into_iter()
            .find(|r| q.contains(r))
            .unwrap();
        let place = q.rsplit(' ').next().unwrap().trim_end_matches(['?', '.']);
        assert_eq!(answers[&(place.to_string(), rel)], a, "{line}");
        checked += 1;
    }
    assert!(checked > 100);
    let err = task_source("poetry", 1, Split::Train, 0).err().unwrap();
    assert_eq!(err.field, "task");
    assert!(err.message.contains("shifted, code, facts, arithmetic"));
}

#[test]
fn user_text_splits_into_train_and_heldout() {
    let line = "the quick brown fox jumps over the lazy dog\n";
    let t = line.repeat(100);
    let u = UserText::new(&t).unwrap();
    assert_eq!([u.train.clone(), u.heldout.clone()].concat(), t.as_bytes());
    assert!(u.heldout.len() >= t.len() / 20 && u.heldout.len() <= t.len() / 5);
    assert!(u.train.ends_with(b"\n"), "cut at a line break");
    let mut held = u.source(Split::Heldout);
    let twice = text(&mut held, u.heldout.len() * 2);
    assert_eq!(
        twice.as_bytes(),
        [u.heldout.clone(), u.heldout.clone()].concat()
    );
    let err = UserText::new("too short").err().unwrap();
    assert_eq!(err.field, "user_text");
    assert!(err.message.contains(&USER_TEXT_MIN_BYTES.to_string()));
}

#[test]
fn batches_are_consecutive_sequences() {
    let mut s = pretraining(4, Split::Train);
    let b = batch(&mut s, 3, 16);
    assert_eq!(b.len(), 3 * 17);
    let mut again = pretraining(4, Split::Train);
    assert_eq!(b, text(&mut again, 51).into_bytes());
}
