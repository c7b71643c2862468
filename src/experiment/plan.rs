//! An experiment as units of work: each unit is a pure function of the config and of the
//! output of the one unit it needs, so units run in any order that respects those needs —
//! one after another (the GPU, the page's worker), on several threads, or split over the
//! shards of a cluster job — and give the same numbers bit for bit.
//!
//! - `stable b` (wsd only): the warmup–stable run from the previous budget's branch point
//!   to budget b's; needs `stable b−1`.
//! - `pretrain b`: the pre-trained model of budget b and its held-out perplexity: the whole
//!   cosine run (independent), or the decay branch from `stable b` (wsd).
//! - `perturb b`: every γ × draw of the perturbed model's perplexity; needs `pretrain b`.
//! - `finetune b λ lr seed`: one fine-tuning run and its two perplexities; needs `pretrain b`.

use super::config::{ExperimentConfig, Protocol};
use crate::transformer::schedule::decay_steps;
use serde::{Deserialize, Serialize};

/// Evaluation costs about a third of a training step per batch (forward only).
pub const EVAL_COST: f64 = 1.0 / 3.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Unit {
    Stable {
        budget: usize,
    },
    Pretrain {
        budget: usize,
    },
    Perturb {
        budget: usize,
    },
    /// Indices into `finetune.l2`, `finetune.lrs` and the seeds.
    Finetune {
        budget: usize,
        l2: usize,
        lr: usize,
        seed: usize,
    },
}

/// wsd: budget b's branch point, the step where its decay starts.
pub fn branch_at(cfg: &ExperimentConfig, b: usize) -> usize {
    let s = cfg.budget_steps()[b];
    s - decay_steps(s, cfg.pretrain.decay_fraction)
}

impl Unit {
    pub fn budget(&self) -> usize {
        match *self {
            Unit::Stable { budget }
            | Unit::Pretrain { budget }
            | Unit::Perturb { budget }
            | Unit::Finetune { budget, .. } => budget,
        }
    }

    /// The unit whose output this one starts from, if any.
    pub fn needs(&self, cfg: &ExperimentConfig) -> Option<Unit> {
        match *self {
            Unit::Stable { budget: 0 } => None,
            Unit::Stable { budget } => Some(Unit::Stable { budget: budget - 1 }),
            Unit::Pretrain { budget } => match cfg.pretrain.protocol {
                Protocol::Independent => None,
                Protocol::Wsd => Some(Unit::Stable { budget }),
            },
            Unit::Perturb { budget } | Unit::Finetune { budget, .. } => {
                Some(Unit::Pretrain { budget })
            }
        }
    }

    /// Its work in training-step equivalents (for the ETA and to balance shards).
    pub fn work(&self, cfg: &ExperimentConfig) -> f64 {
        let evals = cfg.eval_batches as f64 * EVAL_COST;
        match *self {
            Unit::Stable { budget } => {
                let from = if budget == 0 {
                    0
                } else {
                    branch_at(cfg, budget - 1)
                };
                branch_at(cfg, budget).saturating_sub(from) as f64
            }
            Unit::Pretrain { budget } => {
                let s = cfg.budget_steps()[budget];
                let steps = match cfg.pretrain.protocol {
                    Protocol::Independent => s,
                    Protocol::Wsd => decay_steps(s, cfg.pretrain.decay_fraction),
                };
                steps as f64 + evals
            }
            Unit::Perturb { .. } => {
                cfg.perturb.gammas.len() as f64 * cfg.perturb.draws as f64 * evals
            }
            Unit::Finetune { .. } => cfg.finetune.steps as f64 + 2.0 * evals,
        }
    }

    /// A short name: `pretrain/2`, `finetune/2/l2-0/lr-1/seed-2`.
    pub fn id(&self) -> String {
        match *self {
            Unit::Stable { budget } => format!("stable/{budget}"),
            Unit::Pretrain { budget } => format!("pretrain/{budget}"),
            Unit::Perturb { budget } => format!("perturb/{budget}"),
            Unit::Finetune {
                budget,
                l2,
                lr,
                seed,
            } => format!("finetune/{budget}/l2-{l2}/lr-{lr}/seed-{seed}"),
        }
    }

    /// The progress phase it belongs to.
    pub fn phase(&self) -> &'static str {
        match self {
            Unit::Stable { .. } | Unit::Pretrain { .. } => "pretrain",
            Unit::Perturb { .. } => "perturb",
            Unit::Finetune { .. } => "finetune",
        }
    }
}

/// Every unit of an experiment in the order one worker runs them: budget by budget (its
/// stable phase, pre-training, perturbation, then fine-tuning by λ, learning rate, seed).
pub fn plan(cfg: &ExperimentConfig) -> Vec<Unit> {
    let f = &cfg.finetune;
    let mut units = Vec::new();
    for budget in 0..cfg.pretrain.budgets.len() {
        if cfg.pretrain.protocol == Protocol::Wsd {
            units.push(Unit::Stable { budget });
        }
        units.push(Unit::Pretrain { budget });
        units.push(Unit::Perturb { budget });
        for l2 in 0..f.l2.len() {
            for lr in 0..f.lrs.len() {
                for seed in 0..f.seeds {
                    units.push(Unit::Finetune {
                        budget,
                        l2,
                        lr,
                        seed,
                    });
                }
            }
        }
    }
    units
}

/// Total work of an experiment, in training-step equivalents.
pub fn work_total(cfg: &ExperimentConfig) -> f64 {
    plan(cfg).iter().map(|u| u.work(cfg)).sum()
}
