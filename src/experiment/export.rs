//! The bytes an experiment reads, for export (`overtrain data`), so that a
//! re-implementation (README's "Model details for a re-implementation") can train and
//! evaluate on the very same bytes instead of rebuilding the synthetic language.
//!
//! Each stream is drawn by the functions the run itself uses — the pre-training corpus
//! of [`Context::corpus`] and the task streams of [`task_stream`] — batch by batch with
//! [`batch`], so what is exported is what the run consumes:
//!
//! - the pre-training training stream, as far as the largest budget's run reads it (every
//!   budget's run reads a prefix of the same stream: `independent` from its start, `wsd`'s
//!   stable run and its decay branches continue it);
//! - the pre-training held-out batches, behind every pre-training perplexity;
//! - the fine-tuning task's training stream of each seed, `finetune.steps` batches (with
//!   `finetune.replay`, the first round(replay × batch) rows of each batch replay
//!   pre-training text: [`finetune_stream`]);
//! - the task's held-out batches, behind every task perplexity.

use super::config::ExperimentConfig;
use super::shard::config_key;
use super::units::{finetune_stream, task_stream, Context};
use crate::data::{batch, replay_rows, Split};
use serde::Serialize;

/// What the folder's `manifest.json` calls it.
pub const FORMAT: &str = "overtrain experiment data";

/// One exported stream: which of the run's byte streams, and how many batches of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub kind: StreamKind,
    /// Batches of `batch` rows of `ctx + 1` bytes.
    pub batches: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    PretrainTrain,
    PretrainHeldout,
    /// Fine-tuning seed (repeat) `seed`'s training stream.
    FinetuneTrain {
        seed: usize,
    },
    FinetuneHeldout,
}

/// Every stream an experiment of `cfg` reads, in the order of the manifest.
pub fn streams(cfg: &ExperimentConfig) -> Vec<Stream> {
    let longest = cfg.budget_steps().into_iter().max().unwrap_or(0);
    let mut out = vec![
        Stream {
            kind: StreamKind::PretrainTrain,
            batches: longest,
        },
        Stream {
            kind: StreamKind::PretrainHeldout,
            batches: cfg.eval_batches,
        },
    ];
    out.extend((0..cfg.finetune.seeds).map(|seed| Stream {
        kind: StreamKind::FinetuneTrain { seed },
        batches: cfg.finetune.steps,
    }));
    out.push(Stream {
        kind: StreamKind::FinetuneHeldout,
        batches: cfg.eval_batches,
    });
    out
}

impl Stream {
    /// The file it is written to.
    pub fn file_name(&self) -> String {
        match self.kind {
            StreamKind::PretrainTrain => "pretrain-train.bin".into(),
            StreamKind::PretrainHeldout => "pretrain-heldout.bin".into(),
            StreamKind::FinetuneTrain { seed } => format!("finetune-train-seed-{seed}.bin"),
            StreamKind::FinetuneHeldout => "finetune-heldout.bin".into(),
        }
    }

    /// Its size in bytes.
    pub fn bytes(&self, cfg: &ExperimentConfig) -> u64 {
        self.batches as u64 * cfg.batch as u64 * (cfg.model.ctx as u64 + 1)
    }

    /// Its batches, in order, each `batch · (ctx + 1)` bytes (rows one after another), drawn
    /// as the run draws them. The training streams are drawn lazily: the pre-training one
    /// can be far larger than memory.
    pub fn batches(&self, cfg: &ExperimentConfig) -> Box<dyn Iterator<Item = Vec<u8>>> {
        let (b, t, n) = (cfg.batch, cfg.model.ctx, self.batches);
        match self.kind {
            StreamKind::PretrainTrain => {
                let mut corpus = Context::corpus(cfg);
                Box::new((0..n).map(move |_| batch(corpus.train_source(), b, t)))
            }
            StreamKind::PretrainHeldout => Box::new(Context::corpus(cfg).eval.into_iter()),
            StreamKind::FinetuneTrain { seed } => {
                let mut source = finetune_stream(cfg, seed as u64);
                Box::new((0..n).map(move |_| batch(source.as_mut(), b, t)))
            }
            StreamKind::FinetuneHeldout => {
                // As the run's context draws it: stream 0 of the task's held-out split.
                let mut source = task_stream(cfg, Split::Heldout, 0);
                Box::new((0..n).map(move |_| batch(source.as_mut(), b, t)))
            }
        }
    }

    /// The manifest's entry for it.
    pub fn entry(&self, cfg: &ExperimentConfig) -> FileEntry {
        let task = cfg.finetune.task.clone();
        let (source, split, repeat, read_by) = match self.kind {
            StreamKind::PretrainTrain => (
                "pretraining".to_string(),
                "train",
                None,
                "pre-training: budget b's run reads its first budget_steps[b] batches, one per \
                 step (wsd: the stable run and each decay branch continue this one stream)"
                    .to_string(),
            ),
            StreamKind::PretrainHeldout => (
                "pretraining".to_string(),
                "heldout",
                None,
                "every pre-training perplexity: the mean loss over these batches, after \
                 pre-training, perturbation and fine-tuning"
                    .to_string(),
            ),
            StreamKind::FinetuneTrain { seed } => (
                task,
                "train",
                Some(seed),
                match replay_rows(cfg.finetune.replay, cfg.batch) {
                    0 => format!(
                        "every fine-tuning run of seed {seed} (each budget, lr and λ): one batch per step"
                    ),
                    rows => format!(
                        "every fine-tuning run of seed {seed} (each budget, lr and λ): one batch per \
                         step; the first {rows} rows of each batch replay fresh pre-training text, \
                         the rest are the task's"
                    ),
                },
            ),
            StreamKind::FinetuneHeldout => (
                task,
                "heldout",
                Some(0),
                "every task (ID) perplexity after fine-tuning".to_string(),
            ),
        };
        FileEntry {
            file: self.file_name(),
            bytes: self.bytes(cfg),
            batches: self.batches,
            rows_per_batch: cfg.batch,
            row_bytes: cfg.model.ctx + 1,
            source,
            split,
            seed: cfg.seed,
            repeat,
            read_by,
        }
    }
}

/// `manifest.json`: what each file holds, its size and shape, and the config that made it.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format: &'static str,
    /// The config's short name (as the shards' checkpoint folders use it).
    pub config_key: String,
    /// Steps of each budget's pre-training run, one batch each.
    pub budget_steps: Vec<usize>,
    pub files: Vec<FileEntry>,
    /// The experiment's config, every field filled in.
    pub config: ExperimentConfig,
}

/// One file of the folder.
#[derive(Debug, Clone, Serialize)]
pub struct FileEntry {
    pub file: String,
    /// `batches · rows_per_batch · row_bytes`.
    pub bytes: u64,
    pub batches: usize,
    /// `batch`: rows per batch.
    pub rows_per_batch: usize,
    /// `ctx + 1`: a row's inputs are its first ctx bytes, its targets its last ctx.
    pub row_bytes: usize,
    /// "pretraining" (the synthetic language) or the fine-tuning task's name.
    pub source: String,
    /// "train" or "heldout".
    pub split: &'static str,
    /// The experiment's seed (`seed` of the config).
    pub seed: u64,
    /// The task stream's repeat: the fine-tuning seed; none for pre-training.
    pub repeat: Option<usize>,
    /// Which runs read it, and how, in words.
    pub read_by: String,
}

/// The manifest of `cfg`'s streams.
pub fn manifest(cfg: &ExperimentConfig, streams: &[Stream]) -> Manifest {
    Manifest {
        format: FORMAT,
        config_key: config_key(cfg),
        budget_steps: cfg.budget_steps(),
        files: streams.iter().map(|s| s.entry(cfg)).collect(),
        config: cfg.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stream_yields_its_batches_of_batch_rows_of_ctx_plus_one_bytes() {
        let cfg = ExperimentConfig::preset("micro").unwrap();
        for s in streams(&cfg) {
            let batches: Vec<Vec<u8>> = s.batches(&cfg).collect();
            assert_eq!(batches.len(), s.batches, "{}", s.file_name());
            let total: u64 = batches.iter().map(|b| b.len() as u64).sum();
            assert_eq!(total, s.bytes(&cfg), "{}", s.file_name());
            assert!(batches
                .iter()
                .all(|b| b.len() == cfg.batch * (cfg.model.ctx + 1)));
        }
    }
}
