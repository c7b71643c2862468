//! A seeded synthetic language with structure at many scales and a long tail, so that
//! common regularities are learned early and rare ones keep being learned late (the
//! analogue of the linear model's small singular directions, science.md §3 "Data"):
//!
//! - a lexicon of invented words per word class, used with Zipf frequencies;
//! - topics: each document draws one, which makes some nouns and verbs far more likely;
//! - a grammar over word classes (noun phrases with optional adjectives, verb phrases,
//!   prepositional phrases), in subject–verb–object or subject–object–verb order;
//! - number agreement: a plural subject puts a suffix on its noun and on its verb.
//!
//! The same generator with another seed and another [`Grammar`] is the *shifted
//! language* fine-tuning task: same letters, different words and word order.

use super::{split_rng, ByteSource, PieceStream, Split};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Word order and morphology.
#[derive(Debug, Clone, PartialEq)]
pub struct Grammar {
    /// Subject–object–verb instead of subject–verb–object.
    pub verb_final: bool,
    pub plural_suffix: &'static str,
    /// Added to the verb of a plural subject.
    pub agreement_suffix: &'static str,
}

/// The shape of a language.
#[derive(Debug, Clone, PartialEq)]
pub struct LanguageSpec {
    pub nouns: usize,
    pub verbs: usize,
    pub adjectives: usize,
    pub determiners: usize,
    pub prepositions: usize,
    /// Zipf exponent of word frequencies within a class.
    pub zipf: f64,
    pub topics: usize,
    /// Share of a class's words that a topic favours, and how often a favoured word is used.
    pub topic_share: f64,
    pub topic_weight: f64,
    pub grammar: Grammar,
}

impl LanguageSpec {
    /// The pre-training language.
    pub fn pretraining() -> Self {
        LanguageSpec {
            nouns: 3000,
            verbs: 1200,
            adjectives: 600,
            determiners: 6,
            prepositions: 12,
            zipf: 1.1,
            topics: 24,
            topic_share: 0.03,
            topic_weight: 0.5,
            grammar: Grammar {
                verb_final: false,
                plural_suffix: "s",
                agreement_suffix: "en",
            },
        }
    }

    /// The shifted language: same alphabet, other words, verb-final order, other suffixes.
    pub fn shifted() -> Self {
        LanguageSpec {
            nouns: 800,
            verbs: 300,
            grammar: Grammar {
                verb_final: true,
                plural_suffix: "i",
                agreement_suffix: "ta",
            },
            ..LanguageSpec::pretraining()
        }
    }
}

/// Words of one class, most frequent first, with the cumulative Zipf weights.
#[derive(Debug, Clone)]
struct WordClass {
    words: Vec<String>,
    cdf: Vec<f64>,
    /// Per topic: the favoured words' indices, with their cumulative Zipf weights.
    topics: Vec<(Vec<usize>, Vec<f64>)>,
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut total = 0.0;
    weights
        .map(|w| {
            total += w;
            total
        })
        .collect()
}

fn pick(cdf: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let x = rng.random::<f64>() * cdf.last().copied().unwrap_or(1.0);
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

impl WordClass {
    fn new(words: Vec<String>, spec: &LanguageSpec, rng: &mut ChaCha8Rng) -> Self {
        let zipf = |rank: usize| 1.0 / libm::pow((rank + 1) as f64, spec.zipf);
        let cdf = cumulative((0..words.len()).map(zipf));
        let favoured = ((words.len() as f64 * spec.topic_share).ceil() as usize).max(1);
        let topics = (0..spec.topics)
            .map(|_| {
                // The favoured words, ascending and each once: marked, then listed (the
                // same list a sort and dedup of the draws gives, without compiling a sort
                // of indices into the wasm).
                let mut favoured_word = vec![false; words.len()];
                for _ in 0..favoured {
                    favoured_word[rng.random_range(0..words.len())] = true;
                }
                let idx: Vec<usize> = (0..words.len()).filter(|&w| favoured_word[w]).collect();
                let weights = cumulative(idx.iter().enumerate().map(|(r, _)| zipf(r)));
                (idx, weights)
            })
            .collect();
        WordClass { words, cdf, topics }
    }

    fn sample(&self, topic: usize, weight: f64, rng: &mut ChaCha8Rng) -> &str {
        if let Some((idx, cdf)) = self.topics.get(topic) {
            if rng.random::<f64>() < weight {
                return &self.words[idx[pick(cdf, rng)]];
            }
        }
        &self.words[pick(&self.cdf, rng)]
    }
}

#[derive(Debug, Clone)]
pub struct Language {
    pub spec: LanguageSpec,
    nouns: WordClass,
    verbs: WordClass,
    adjectives: WordClass,
    determiners: WordClass,
    prepositions: WordClass,
}

const CONSONANTS: &[u8] = b"bdfgklmnprstvz";
const VOWELS: &[u8] = b"aeiou";

impl Language {
    /// A language from its spec and seed: the lexicon is drawn once, then every document
    /// is fresh.
    pub fn new(spec: LanguageSpec, seed: u64) -> Language {
        let mut rng = split_rng(seed, Split::Train);
        rng.set_stream(99); // the lexicon has its own stream, apart from the text
        let mut seen = std::collections::HashSet::new();
        let mut words =
            |n: usize, syllables: std::ops::RangeInclusive<usize>, rng: &mut ChaCha8Rng| {
                let mut out = Vec::with_capacity(n);
                while out.len() < n {
                    let count = rng.random_range(syllables.clone());
                    let mut w = String::new();
                    for _ in 0..count {
                        w.push(CONSONANTS[rng.random_range(0..CONSONANTS.len())] as char);
                        w.push(VOWELS[rng.random_range(0..VOWELS.len())] as char);
                    }
                    if rng.random::<f64>() < 0.3 {
                        w.push(CONSONANTS[rng.random_range(0..CONSONANTS.len())] as char);
                    }
                    if seen.insert(w.clone()) {
                        out.push(w);
                    }
                }
                out
            };
        let det = words(spec.determiners, 1..=1, &mut rng);
        let prep = words(spec.prepositions, 1..=2, &mut rng);
        let noun = words(spec.nouns, 2..=3, &mut rng);
        let verb = words(spec.verbs, 2..=3, &mut rng);
        let adj = words(spec.adjectives, 2..=4, &mut rng);
        Language {
            determiners: WordClass::new(det, &spec, &mut rng),
            prepositions: WordClass::new(prep, &spec, &mut rng),
            nouns: WordClass::new(noun, &spec, &mut rng),
            verbs: WordClass::new(verb, &spec, &mut rng),
            adjectives: WordClass::new(adj, &spec, &mut rng),
            spec,
        }
    }

    fn noun_phrase(&self, topic: usize, plural: bool, rng: &mut ChaCha8Rng, out: &mut Vec<String>) {
        let w = self.spec.topic_weight;
        out.push(self.determiners.sample(topic, 0.0, rng).to_string());
        let adjectives = [0, 0, 0, 1, 1, 2][rng.random_range(0..6)];
        for _ in 0..adjectives {
            out.push(self.adjectives.sample(topic, w, rng).to_string());
        }
        let mut noun = self.nouns.sample(topic, w, rng).to_string();
        if plural {
            noun.push_str(self.spec.grammar.plural_suffix);
        }
        out.push(noun);
    }

    /// One sentence: subject, verb and object in the grammar's order, sometimes a
    /// prepositional phrase; capitalized, ending with a period.
    pub fn sentence(&self, topic: usize, rng: &mut ChaCha8Rng) -> String {
        let g = &self.spec.grammar;
        let plural = rng.random::<f64>() < 0.3;
        let mut subject = Vec::new();
        self.noun_phrase(topic, plural, rng, &mut subject);
        let mut verb = self
            .verbs
            .sample(topic, self.spec.topic_weight, rng)
            .to_string();
        if plural {
            verb.push_str(g.agreement_suffix);
        }
        let mut object = Vec::new();
        self.noun_phrase(topic, rng.random::<f64>() < 0.3, rng, &mut object);
        let mut words = subject;
        if g.verb_final {
            words.extend(object);
            words.push(verb);
        } else {
            words.push(verb);
            words.extend(object);
        }
        if rng.random::<f64>() < 0.35 {
            words.push(self.prepositions.sample(topic, 0.0, rng).to_string());
            self.noun_phrase(topic, rng.random::<f64>() < 0.3, rng, &mut words);
        }
        let mut text = words.join(" ");
        if let Some(first) = text.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        text.push('.');
        text
    }

    /// One document: a topic, then 3 to 8 sentences on one line.
    pub fn document(&self, rng: &mut ChaCha8Rng) -> String {
        let topic = rng.random_range(0..self.spec.topics.max(1));
        let n = rng.random_range(3..=8);
        let mut doc: Vec<String> = (0..n).map(|_| self.sentence(topic, rng)).collect();
        doc.last_mut().unwrap().push('\n');
        doc.join(" ")
    }

    /// The endless text of one split.
    pub fn stream(self: std::sync::Arc<Self>, seed: u64, split: Split) -> impl ByteSource {
        PieceStream::new(split_rng(seed, split), move |rng| self.document(rng))
    }
}
