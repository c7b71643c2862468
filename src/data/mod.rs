//! Data for the transformer lab (science.md §3 "Data"): a byte tokenizer, the synthetic
//! pre-training language with unlimited fresh text and a held-out stream, the built-in
//! fine-tuning tasks, user text, and batching. Nothing is downloaded: everything is
//! generated from a seed, so a larger budget means more *new* text, never more epochs.
//!
//! Every source is a [`ByteSource`]: an endless, deterministic stream of bytes for one
//! [`Split`], from which [`batch`] cuts training sequences; [`WithReplay`] mixes two of them
//! row by row (fine-tuning batches with replayed pre-training text).

pub mod language;
pub mod tasks;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Byte-level tokens: the vocabulary is the 256 byte values.
pub const VOCAB: usize = 256;

/// Text to tokens (its UTF-8 bytes).
pub fn encode(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// Tokens to text (invalid UTF-8 shown as U+FFFD).
pub fn decode(tokens: &[u8]) -> String {
    String::from_utf8_lossy(tokens).into_owned()
}

/// Which part of a source: training text, or the held-out text used for evaluation.
/// The two come from independent random streams of the same seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Heldout,
}

impl Split {
    fn stream(self) -> u64 {
        match self {
            Split::Train => 0,
            Split::Heldout => 1,
        }
    }
}

/// The random generator of one split of a seeded source.
pub fn split_rng(seed: u64, split: Split) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(split.stream() + 16);
    rng
}

/// An endless, deterministic byte stream.
pub trait ByteSource {
    /// The next `out.len()` bytes of the stream.
    fn fill(&mut self, out: &mut [u8]);
}

/// A source built from a generator of text pieces (documents, lines): pieces are
/// concatenated into one endless stream.
pub struct PieceStream<F: FnMut(&mut ChaCha8Rng) -> String> {
    rng: ChaCha8Rng,
    next_piece: F,
    buffer: Vec<u8>,
    pos: usize,
}

impl<F: FnMut(&mut ChaCha8Rng) -> String> PieceStream<F> {
    pub fn new(rng: ChaCha8Rng, next_piece: F) -> Self {
        PieceStream {
            rng,
            next_piece,
            buffer: Vec::new(),
            pos: 0,
        }
    }
}

impl<F: FnMut(&mut ChaCha8Rng) -> String> ByteSource for PieceStream<F> {
    fn fill(&mut self, out: &mut [u8]) {
        let mut filled = 0;
        while filled < out.len() {
            if self.pos == self.buffer.len() {
                self.buffer = (self.next_piece)(&mut self.rng).into_bytes();
                self.pos = 0;
                continue;
            }
            let n = (self.buffer.len() - self.pos).min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&self.buffer[self.pos..self.pos + n]);
            self.pos += n;
            filled += n;
        }
    }
}

/// A batch of `batch` sequences of `ctx + 1` consecutive bytes each (inputs are the first
/// `ctx`, targets the last `ctx`), row-major.
pub fn batch(source: &mut dyn ByteSource, batch: usize, ctx: usize) -> Vec<u8> {
    let mut out = vec![0u8; batch * (ctx + 1)];
    source.fill(&mut out);
    out
}

/// Splits a batch of B rows of T + 1 bytes into inputs and next-byte targets (B·T each).
pub fn inputs_and_targets(rows: &[u8], b: usize, t: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut x, mut y) = (Vec::with_capacity(b * t), Vec::with_capacity(b * t));
    for row in rows.chunks(t + 1).take(b) {
        x.extend_from_slice(&row[..t]);
        y.extend_from_slice(&row[1..]);
    }
    (x, y)
}

/// Rows of a batch of `batch` that replay pre-training text for a replay share `replay`
/// (`finetune.replay`): round(replay × batch), halves away from zero.
pub fn replay_rows(replay: f64, batch: usize) -> usize {
    ((replay * batch as f64).round() as usize).min(batch)
}

/// Batches mixed from two streams (fine-tuning with replay): of every batch of `rows` rows
/// of `row_bytes` bytes, the first `replayed` rows come from `replay` and the rest from
/// `task`, each stream read on in order. It counts bytes, so it must be read one whole
/// batch after another from the start (as [`batch`] reads it), however `fill` splits them.
pub struct WithReplay {
    task: Box<dyn ByteSource>,
    replay: Box<dyn ByteSource>,
    /// Bytes of a batch, and of its replayed rows.
    batch_bytes: usize,
    replay_bytes: usize,
    /// Position within the current batch.
    pos: usize,
}

impl WithReplay {
    pub fn new(
        task: Box<dyn ByteSource>,
        replay: Box<dyn ByteSource>,
        rows: usize,
        replayed: usize,
        row_bytes: usize,
    ) -> WithReplay {
        WithReplay {
            task,
            replay,
            // At least a byte, so that a degenerate shape reads the task rather than divide by 0.
            batch_bytes: (rows * row_bytes).max(1),
            replay_bytes: replayed.min(rows) * row_bytes,
            pos: 0,
        }
    }
}

impl ByteSource for WithReplay {
    fn fill(&mut self, out: &mut [u8]) {
        let mut filled = 0;
        while filled < out.len() {
            let (source, end) = if self.pos < self.replay_bytes {
                (&mut self.replay, self.replay_bytes)
            } else {
                (&mut self.task, self.batch_bytes)
            };
            let n = (end - self.pos).min(out.len() - filled);
            source.fill(&mut out[filled..filled + n]);
            filled += n;
            self.pos = (self.pos + n) % self.batch_bytes;
        }
    }
}
