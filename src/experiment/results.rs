//! The results of a transformer-lab experiment (schema version 1): arrays per budget, in
//! the order of `budgets`; perplexities are exp(mean held-out cross-entropy per byte).
//! A value is `null` when every run behind it diverged.

use super::config::{self, ExperimentConfig};
use crate::error::Error;
use crate::inflection::inflection;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Base {
    /// Held-out pre-training perplexity of the pre-trained model.
    pub pretrain_ppl: Vec<f64>,
    /// Training loss curve of each budget's run (nats per byte, sampled), for live plots.
    pub train_loss: Vec<Vec<f64>>,
    /// Whether each budget's pre-training diverged (then later phases use its last good
    /// weights).
    pub diverged_at: Vec<Option<usize>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerturbCurve {
    pub gamma: f64,
    pub pretrain_ppl_mean: Vec<f64>,
    /// Standard deviation over the draws.
    pub pretrain_ppl_std: Vec<f64>,
    /// Perturbed minus base perplexity: the sensitivity.
    pub change_mean: Vec<f64>,
    pub inflection_budget: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneCurve {
    pub task: String,
    pub lr: f64,
    pub l2: f64,
    /// Held-out pre-training perplexity after fine-tuning (mean over seeds).
    pub pretrain_ppl: Vec<Option<f64>>,
    pub pretrain_ppl_std: Vec<Option<f64>>,
    /// Fine-tuning minus base pre-training perplexity (mean over seeds).
    pub pretrain_change: Vec<Option<f64>>,
    /// Held-out fine-tuning-task (in-distribution) perplexity after fine-tuning.
    pub id_ppl: Vec<Option<f64>>,
    pub id_ppl_std: Vec<Option<f64>>,
    /// Seeds that diverged, per budget (left out of the means).
    pub diverged: Vec<usize>,
    pub inflection_budget: Option<u64>,
}

/// Per budget and λ, the learning rate with the best mean ID perplexity (paper's "tuned").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunedCurve {
    pub l2: f64,
    pub lr: Vec<Option<f64>>,
    pub pretrain_ppl: Vec<Option<f64>>,
    pub id_ppl: Vec<Option<f64>>,
    pub inflection_budget: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResults {
    pub schema_version: u32,
    pub config: ExperimentConfig,
    /// The budgets finished so far (all of them once the experiment is complete).
    pub budgets: Vec<u64>,
    /// Parameters of the model, for tokens-per-parameter axes.
    pub parameters: usize,
    pub base: Base,
    pub perturb: Vec<PerturbCurve>,
    pub finetune: Vec<FinetuneCurve>,
    pub tuned: Vec<TunedCurve>,
    /// "CPU" or the adapter that ran it.
    pub backend: String,
    pub elapsed_s: f64,
    /// The sharpness of each pre-trained model — the top eigenvalue of its pre-training
    /// loss's Hessian on the held-out batches — when measured; else absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sharpness: Vec<Option<f64>>,
    /// Every measurement behind the curves, per finished budget: what resuming an
    /// unfinished experiment continues from.
    #[serde(default)]
    pub raw: Raw,
    /// A sweep of one lever: the results of each of its values, in order (the fields above
    /// are then the first value's, under the sweep's config); absent without a sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepResults>,
}

/// The sections of a sweep's results: one whole experiment per value of its lever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    /// The lever: a field's dotted path.
    pub field: String,
    pub values: Vec<serde_json::Value>,
    /// Each value's results (its config has the field at that value).
    pub sections: Vec<ExperimentResults>,
}

impl SweepResults {
    /// The lever's last name: `d_model` for `model.d_model`.
    pub fn short_field(&self) -> &str {
        self.field.rsplit('.').next().unwrap_or(&self.field)
    }

    /// Whether the lever sizes the model (its inflections are read against parameters).
    pub fn sizes_the_model(&self) -> bool {
        [
            "model.d_model",
            "model.n_layer",
            "model.d_ff",
            "model.n_head",
        ]
        .contains(&self.field.as_str())
    }
}

impl ExperimentResults {
    /// The measurements to resume from, one per variant (one without a sweep), when these
    /// (unfinished) results belong to `config`: resuming another config's budgets would mix
    /// two experiments in one set of curves.
    pub fn resume_for(self, config: &ExperimentConfig) -> Result<Vec<Raw>, Error> {
        if self.config != *config {
            return Err(Error::data(
                "resume",
                "the saved results belong to another config",
            ));
        }
        let variants = config
            .variants()
            .map_err(|e| Error::data("resume", e.message))?;
        let raws = match self.sweep {
            None => vec![self.raw],
            Some(sweep) => sweep.sections.into_iter().map(|s| s.raw).collect(),
        };
        if raws.len() != variants.len() {
            return Err(Error::data(
                "resume.sweep.sections",
                format!(
                    "{} sections, the sweep has {} values",
                    raws.len(),
                    variants.len()
                ),
            ));
        }
        for (raw, variant) in raws.iter().zip(&variants) {
            raw.check(variant)?;
        }
        Ok(raws)
    }

    /// Each value's results: the sweep's sections, or these results alone.
    pub fn sections(&self) -> Vec<&ExperimentResults> {
        match &self.sweep {
            Some(s) => s.sections.iter().collect(),
            None => vec![self],
        }
    }
}

/// One fine-tuning run's (pre-training ppl, ID ppl); None when it diverged.
pub type FinetuneRun = Option<(f64, f64)>;

/// The raw measurements per finished budget.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Raw {
    pub base: Vec<f64>,
    pub train_loss: Vec<Vec<f64>>,
    pub diverged: Vec<Option<usize>>,
    /// [budget][γ][draw]
    pub perturb: Vec<Vec<Vec<f64>>>,
    /// [budget][λ][lr][seed]
    pub finetune: Vec<Vec<Vec<Vec<FinetuneRun>>>>,
    /// [budget]: the sharpness, when measured (`perturb.sharpness_iterations` > 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sharpness: Vec<Option<f64>>,
}

impl Raw {
    /// Checks that the measurements are whole budgets of `config`'s shape (a results file
    /// edited or cut short by hand must not make a resumed run read past its arrays).
    pub fn check(&self, config: &ExperimentConfig) -> Result<(), Error> {
        let n = self.base.len();
        let bad =
            |part: &str, message: String| Err(Error::data(format!("resume.raw.{part}"), message));
        if n > config.pretrain.budgets.len() {
            return bad(
                "base",
                format!(
                    "{n} finished budgets, the config has {}",
                    config.pretrain.budgets.len()
                ),
            );
        }
        let sharpness = if config.perturb.sharpness_iterations > 0 {
            n
        } else {
            0
        };
        for (part, len, want) in [
            ("train_loss", self.train_loss.len(), n),
            ("diverged", self.diverged.len(), n),
            ("perturb", self.perturb.len(), n),
            ("finetune", self.finetune.len(), n),
            ("sharpness", self.sharpness.len(), sharpness),
        ] {
            if len != want {
                return bad(part, format!("{len} budgets, but base has {n}"));
            }
        }
        if let Some(b) = self.base.iter().position(|v| !v.is_finite()) {
            return bad(&format!("base[{b}]"), "not a finite perplexity".into());
        }
        let (gammas, draws) = (config.perturb.gammas.len(), config.perturb.draws);
        for (b, per_gamma) in self.perturb.iter().enumerate() {
            if per_gamma.len() != gammas || per_gamma.iter().any(|d| d.len() != draws) {
                return bad(
                    &format!("perturb[{b}]"),
                    format!("expected {gammas} noise scales × {draws} draws"),
                );
            }
        }
        let f = &config.finetune;
        for (b, per_l2) in self.finetune.iter().enumerate() {
            let shape_ok = per_l2.len() == f.l2.len()
                && per_l2.iter().all(|per_lr| {
                    per_lr.len() == f.lrs.len() && per_lr.iter().all(|s| s.len() == f.seeds)
                });
            if !shape_ok {
                return bad(
                    &format!("finetune[{b}]"),
                    format!(
                        "expected {} λ × {} learning rates × {} seeds",
                        f.l2.len(),
                        f.lrs.len(),
                        f.seeds
                    ),
                );
            }
        }
        Ok(())
    }
}

/// Mean and sample standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// At most this many points of each training-loss curve are kept in the results.
const LOSS_POINTS: usize = 200;

fn downsample(xs: &[f64]) -> Vec<f64> {
    if xs.len() <= LOSS_POINTS {
        return xs.to_vec();
    }
    (0..LOSS_POINTS)
        .map(|i| xs[i * (xs.len() - 1) / (LOSS_POINTS - 1)])
        .collect()
}

impl Raw {
    /// The results of the finished budgets: each curve's means and spreads, its
    /// inflection, and the tuned view.
    pub fn results(
        &self,
        cfg: &ExperimentConfig,
        parameters: usize,
        backend: &str,
        elapsed_s: f64,
    ) -> ExperimentResults {
        let n = self.base.len();
        let budgets: Vec<u64> = cfg.pretrain.budgets[..n].to_vec();
        let mut perturb = Vec::new();
        for (g, &gamma) in cfg.perturb.gammas.iter().enumerate() {
            let stats: Vec<(f64, f64)> = (0..n).map(|b| mean_std(&self.perturb[b][g])).collect();
            let draws = cfg.perturb.draws as f64;
            let mean: Vec<Option<f64>> = stats.iter().map(|s| Some(s.0)).collect();
            let se: Vec<Option<f64>> = stats.iter().map(|s| Some(s.1 / draws.sqrt())).collect();
            perturb.push(PerturbCurve {
                gamma,
                pretrain_ppl_mean: stats.iter().map(|s| s.0).collect(),
                pretrain_ppl_std: stats.iter().map(|s| s.1).collect(),
                change_mean: stats.iter().zip(&self.base).map(|(s, b)| s.0 - b).collect(),
                inflection_budget: inflection(&budgets, &mean, &se),
            });
        }
        let f = &cfg.finetune;
        let mut finetune = Vec::new();
        let mut tuned = Vec::new();
        for (li, &l2) in f.l2.iter().enumerate() {
            let mut curves = Vec::new();
            for (ri, &lr) in f.lrs.iter().enumerate() {
                let mut c = FinetuneCurve {
                    task: f.task.clone(),
                    lr,
                    l2,
                    pretrain_ppl: vec![],
                    pretrain_ppl_std: vec![],
                    pretrain_change: vec![],
                    id_ppl: vec![],
                    id_ppl_std: vec![],
                    diverged: vec![],
                    inflection_budget: None,
                };
                let mut se = Vec::new();
                for b in 0..n {
                    let runs = &self.finetune[b][li][ri];
                    let ok: Vec<(f64, f64)> = runs.iter().flatten().copied().collect();
                    c.diverged.push(runs.len() - ok.len());
                    if ok.is_empty() {
                        for v in [
                            &mut c.pretrain_ppl,
                            &mut c.pretrain_ppl_std,
                            &mut c.pretrain_change,
                            &mut c.id_ppl,
                            &mut c.id_ppl_std,
                        ] {
                            v.push(None);
                        }
                        se.push(None);
                        continue;
                    }
                    let (pm, ps) = mean_std(&ok.iter().map(|r| r.0).collect::<Vec<_>>());
                    let (im, is) = mean_std(&ok.iter().map(|r| r.1).collect::<Vec<_>>());
                    c.pretrain_ppl.push(Some(pm));
                    c.pretrain_ppl_std.push(Some(ps));
                    c.pretrain_change.push(Some(pm - self.base[b]));
                    c.id_ppl.push(Some(im));
                    c.id_ppl_std.push(Some(is));
                    se.push(Some(ps / (ok.len() as f64).sqrt()));
                }
                c.inflection_budget = inflection(&budgets, &c.pretrain_ppl, &se);
                curves.push((c, se));
            }
            // Tuned: per budget, the learning rate with the best mean ID perplexity.
            let mut t = TunedCurve {
                l2,
                lr: vec![],
                pretrain_ppl: vec![],
                id_ppl: vec![],
                inflection_budget: None,
            };
            let mut se = Vec::new();
            for b in 0..n {
                let best = curves
                    .iter()
                    .filter_map(|(c, s)| c.id_ppl[b].map(|id| (c.lr, id, c.pretrain_ppl[b], s[b])))
                    .min_by(|x, y| x.1.total_cmp(&y.1));
                t.lr.push(best.map(|x| x.0));
                t.id_ppl.push(best.map(|x| x.1));
                t.pretrain_ppl.push(best.and_then(|x| x.2));
                se.push(best.and_then(|x| x.3));
            }
            t.inflection_budget = inflection(&budgets, &t.pretrain_ppl, &se);
            tuned.push(t);
            finetune.extend(curves.into_iter().map(|(c, _)| c));
        }
        ExperimentResults {
            schema_version: config::SCHEMA_VERSION,
            config: cfg.clone(),
            budgets,
            parameters,
            base: Base {
                pretrain_ppl: self.base.clone(),
                train_loss: self.train_loss.iter().map(|l| downsample(l)).collect(),
                diverged_at: self.diverged.clone(),
            },
            perturb,
            finetune,
            tuned,
            backend: backend.to_string(),
            elapsed_s,
            sharpness: self.sharpness.clone(),
            raw: self.clone(),
            sweep: None,
        }
    }
}
