//! Results of the linear lab (schema version 1): plain data, the JSON the CLI writes and
//! the page plots. Arrays are per checkpoint, in the order of `steps`; a value that does
//! not exist because its run diverged is `null`, never a number.

use super::config::LinearConfig;
use super::theory::{theory_curves, Theory};
use crate::inflection::inflection;
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

/// The result of fine-tuning one checkpoint with one (η_ft, λ).
pub struct FinetuneOutcome {
    pub pretrain_loss: Option<f64>,
    pub finetune_loss: Option<f64>,
    /// Fine-tuning step at which the loss turned non-finite.
    pub diverged_at: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearResults {
    pub schema_version: u32,
    /// The full config, defaults filled in.
    pub config: LinearConfig,
    /// Pre-training step of each checkpoint.
    pub steps: Vec<usize>,
    /// ‖W₁W₂ − A_pre‖² at each checkpoint.
    pub pretrain_loss: Vec<f64>,
    /// Step at which pre-training turned non-finite; the checkpoints stop before it.
    pub pretrain_diverged_at: Option<usize>,
    /// diag(Uᵀ W₁W₂ V) at each checkpoint (length dim).
    pub singular_values: Vec<Vec<f64>>,
    pub perturb: Vec<PerturbCurve>,
    pub finetune: Vec<FinetuneCurve>,
    pub theory: Theory,
    /// Wall time of the run, set by the shell that timed it (excluded from determinism).
    pub elapsed_ms: Option<f64>,
    /// Which backend computed it, set by the shell that ran it.
    #[serde(default)]
    pub backend: Option<BackendInfo>,
}

/// The backend a run used: `"cpu"`, or `"gpu"` with its adapter and dispatch count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    pub kind: String,
    pub adapter: Option<crate::gpu::AdapterSummary>,
    pub dispatches: Option<usize>,
    /// Why `auto` did not use the GPU, when it did not.
    pub fallback_reason: Option<String>,
}

impl BackendInfo {
    pub fn cpu(fallback_reason: Option<String>) -> Self {
        BackendInfo {
            kind: "cpu".into(),
            adapter: None,
            dispatches: None,
            fallback_reason,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerturbCurve {
    pub gamma: f64,
    /// Monte Carlo mean of the perturbed pre-training loss over M draws.
    pub mean_loss: Vec<f64>,
    /// Standard error of that mean.
    pub mean_loss_se: Vec<f64>,
    /// Closed-form expectation of the perturbed loss.
    pub expected_loss: Vec<f64>,
    /// mean_loss − pretrain_loss.
    pub sensitivity: Vec<f64>,
    /// expected_loss − pretrain_loss.
    pub expected_sensitivity: Vec<f64>,
    /// Inflection of `mean_loss` by the rule of both labs ([`crate::inflection`]): its
    /// minimum must stand out from both ends by the Monte Carlo noise (`mean_loss_se`).
    pub inflection_step: Option<usize>,
}

impl PerturbCurve {
    /// A curve from its Monte Carlo statistics and closed form at each checkpoint.
    pub fn new(
        gamma: f64,
        mean_loss: Vec<f64>,
        mean_loss_se: Vec<f64>,
        expected_loss: Vec<f64>,
        base: &[f64],
    ) -> Self {
        let minus_base = |v: &[f64]| v.iter().zip(base).map(|(m, b)| m - b).collect();
        PerturbCurve {
            gamma,
            sensitivity: minus_base(&mean_loss),
            expected_sensitivity: minus_base(&expected_loss),
            mean_loss,
            mean_loss_se,
            expected_loss,
            inflection_step: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneCurve {
    pub lr: f64,
    pub l2: f64,
    /// Pre-training loss ‖θ − A_pre‖² after fine-tuning each checkpoint.
    pub pretrain_loss: Vec<Option<f64>>,
    /// Fine-tuning loss ‖θ − A_ft‖² after fine-tuning each checkpoint.
    pub finetune_loss: Vec<Option<f64>>,
    /// Inflection of `pretrain_loss` ([`crate::inflection`]; fine-tuning is deterministic,
    /// so the rise must only be visible: [`crate::inflection::MIN_RISE`]).
    pub inflection_step: Option<usize>,
    /// Earliest fine-tuning step at which a run of this curve turned non-finite.
    pub diverged_at: Option<usize>,
    /// Pre-training steps of the checkpoints whose fine-tuning diverged.
    pub diverged_checkpoints: Vec<usize>,
    /// Per checkpoint: the fine-tuning step at which its run diverged, if it did.
    pub diverged_steps: Vec<Option<usize>>,
}

impl FinetuneCurve {
    pub fn new(lr: f64, l2: f64, len: usize) -> Self {
        FinetuneCurve {
            lr,
            l2,
            pretrain_loss: Vec::with_capacity(len),
            finetune_loss: Vec::with_capacity(len),
            inflection_step: None,
            diverged_at: None,
            diverged_checkpoints: Vec::new(),
            diverged_steps: Vec::with_capacity(len),
        }
    }

    /// Appends the outcome of fine-tuning the next checkpoint.
    pub fn push(&mut self, outcome: FinetuneOutcome) {
        self.pretrain_loss.push(outcome.pretrain_loss);
        self.finetune_loss.push(outcome.finetune_loss);
        self.diverged_steps.push(outcome.diverged_at);
    }
}

impl LinearResults {
    /// Results from the per-checkpoint values of a run (either backend); the derived
    /// fields are computed by [`LinearResults::finalize`].
    pub fn new(
        config: &LinearConfig,
        steps: Vec<usize>,
        pretrain_loss: Vec<f64>,
        pretrain_diverged_at: Option<usize>,
        singular_values: Vec<Vec<f64>>,
        perturb: Vec<PerturbCurve>,
        finetune: Vec<FinetuneCurve>,
    ) -> Self {
        let mut results = LinearResults {
            schema_version: SCHEMA_VERSION,
            config: config.clone(),
            steps,
            pretrain_loss,
            pretrain_diverged_at,
            singular_values,
            perturb,
            finetune,
            theory: Theory::default(),
            elapsed_ms: None,
            backend: None,
        };
        results.finalize();
        results
    }

    /// Recomputes everything derived from the per-checkpoint values: inflections,
    /// divergence summaries and the theory curves.
    pub fn finalize(&mut self) {
        let steps = &self.steps;
        for p in &mut self.perturb {
            let mean: Vec<Option<f64>> = p.mean_loss.iter().map(|&x| Some(x)).collect();
            let se: Vec<Option<f64>> = p.mean_loss_se.iter().map(|&x| Some(x)).collect();
            p.inflection_step = inflection(steps, &mean, &se);
        }
        for c in &mut self.finetune {
            c.inflection_step = inflection(steps, &c.pretrain_loss, &[]);
            c.diverged_checkpoints = steps
                .iter()
                .zip(&c.diverged_steps)
                .filter(|(_, d)| d.is_some())
                .map(|(&s, _)| s)
                .collect();
            c.diverged_at = c.diverged_steps.iter().flatten().copied().min();
        }
        self.theory = theory_curves(&self.config, steps, &self.singular_values);
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results are plain data")
    }
}
