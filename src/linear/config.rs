//! Configuration of the linear transfer lab (schema version 1), its defaults (science.md
//! §2's reference config) and its validation. Every limit lives in [`limits`] so that the
//! README, the CLI and the page quote the same numbers.

use crate::error::{check_int, check_len, check_range, ConfigError};
use crate::schema::{field, Group, Kind::*};
use serde::{Deserialize, Serialize};

/// Documented caps. They keep one recompute bounded (a page must never hang for minutes).
pub mod limits {
    pub const DIM_MAX: usize = 256;
    pub const HIDDEN_MAX: usize = 256;
    pub const INIT_SCALE_MAX: f64 = 1.0;
    pub const LR_MAX: f64 = 10.0;
    pub const PRETRAIN_STEPS_MAX: usize = 100_000;
    pub const CHECKPOINTS_MAX: usize = 1_000;
    pub const FINETUNE_STEPS_MAX: usize = 10_000;
    pub const LIST_MAX: usize = 8;
    pub const L2_MAX: f64 = 1_000.0;
    pub const GAMMA_MAX: f64 = 10.0;
    pub const SAMPLES_MAX: usize = 1_000;
    pub const SPECTRUM_VALUE_MAX: f64 = 100.0;
    pub const EXPONENT_MAX: f64 = 10.0;
    /// Cap on the total work of one run, in multiply-adds (about 30 s natively).
    pub const WORK_MAX: f64 = 2.0e11;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearConfig {
    /// Seed of the task basis and of the perturbation noise.
    pub seed: u64,
    /// Input / output dimension d.
    pub dim: usize,
    /// Hidden width h.
    pub hidden: usize,
    /// Singular vectors U, V shared by both tasks.
    pub basis: Basis,
    /// ε of the balanced initialisation W₁ = W₂ = ε·I.
    pub init_scale: f64,
    pub pretrain: PretrainConfig,
    pub finetune: FinetuneConfig,
    pub perturb: PerturbConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// U, V random orthogonal matrices from the seed.
    Random,
    /// U = V = I: every direction is an independent scalar problem.
    Identity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", try_from = "SpectrumFields")]
pub enum Spectrum {
    /// s_i = i^(−exponent), i = 1..d.
    Power { exponent: f64 },
    /// s_i = value.
    Flat { value: f64 },
    /// Explicit values, one per direction.
    Values { values: Vec<f64> },
}

/// A [`Spectrum`] as it is read: every kind's fields (see [`crate::json::required`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpectrumFields {
    kind: SpectrumKind,
    exponent: Option<f64>,
    value: Option<f64>,
    values: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum SpectrumKind {
    Power,
    Flat,
    Values,
}

impl TryFrom<SpectrumFields> for Spectrum {
    type Error = String;
    fn try_from(f: SpectrumFields) -> Result<Spectrum, String> {
        use crate::json::{absent, required};
        Ok(match f.kind {
            SpectrumKind::Power => {
                absent("power", "value", &f.value)?;
                absent("power", "values", &f.values)?;
                Spectrum::Power {
                    exponent: required("power", "exponent", f.exponent)?,
                }
            }
            SpectrumKind::Flat => {
                absent("flat", "exponent", &f.exponent)?;
                absent("flat", "values", &f.values)?;
                Spectrum::Flat {
                    value: required("flat", "value", f.value)?,
                }
            }
            SpectrumKind::Values => {
                absent("values", "exponent", &f.exponent)?;
                absent("values", "value", &f.value)?;
                Spectrum::Values {
                    values: required("values", "values", f.values)?,
                }
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    pub spectrum: Spectrum,
    pub lr: f64,
    pub steps: usize,
    pub checkpoint_every: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    pub spectrum: Spectrum,
    pub lrs: Vec<f64>,
    pub steps: usize,
    /// λ of the pull ‖θ − θ₀‖² toward the pre-trained product.
    pub l2: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerturbConfig {
    pub gammas: Vec<f64>,
    /// Monte Carlo draws M per checkpoint and γ.
    pub samples: usize,
}

impl Default for LinearConfig {
    fn default() -> Self {
        LinearConfig {
            seed: 0,
            dim: 20,
            hidden: 20,
            basis: Basis::Random,
            init_scale: 0.001,
            pretrain: PretrainConfig::default(),
            finetune: FinetuneConfig::default(),
            perturb: PerturbConfig::default(),
        }
    }
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            spectrum: Spectrum::Power { exponent: 1.0 },
            lr: 0.05,
            steps: 2000,
            checkpoint_every: 50,
        }
    }
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            spectrum: Spectrum::Flat { value: 0.3 },
            lrs: vec![0.01, 0.03, 0.1],
            steps: 200,
            l2: vec![0.0, 1.0],
        }
    }
}

impl Default for PerturbConfig {
    fn default() -> Self {
        PerturbConfig {
            gammas: vec![0.02, 0.05],
            samples: 20,
        }
    }
}

/// Allowed range of each integer field, quoted when JSON gives a non-integer there.
/// The linear lab's fields, as the page shows them (see [`crate::schema`]).
pub fn fields() -> Vec<Group> {
    use limits::*;
    vec![
        Group {
            title: "Model and tasks",
            fields: vec![
                field("seed", "Seed", Int)
                    .at_least(0.0)
                    .help("Seeds the random task directions and the noise."),
                field("dim", "Dimension d", Int)
                    .range(1.0, DIM_MAX as f64)
                    .slider(2.0, 64.0, 1.0)
                    .help("Number of task directions (input = output size)."),
                field("hidden", "Hidden width h", Int)
                    .range(1.0, HIDDEN_MAX as f64)
                    .slider(1.0, 64.0, 1.0),
                field("basis", "Task basis", Choice)
                    .choices(&["random", "identity"])
                    .help("Shared singular vectors U, V: random rotations, or the identity (every direction independent)."),
                field("init_scale", "Init scale ε", Number)
                    .above(0.0, INIT_SCALE_MAX)
                    .help("Small balanced start W₁ = W₂ = εI: what makes learning one direction at a time."),
            ],
        },
        Group {
            title: "Pre-training (gradient descent on A_pre)",
            fields: vec![
                field("pretrain.spectrum", "Spectrum s", Spectrum)
                    .help("Strength of each direction of A_pre."),
                field("pretrain.lr", "Learning rate η_pt", Number)
                    .above(0.0, LR_MAX)
                    .slider(0.005, 0.2, 0.005),
                field("pretrain.steps", "Steps T", Int)
                    .range(1.0, PRETRAIN_STEPS_MAX as f64)
                    .slider(100.0, 5000.0, 100.0),
                field("pretrain.checkpoint_every", "Checkpoint every", Int)
                    .at_least(1.0)
                    .help("Each checkpoint is perturbed and fine-tuned (at most one checkpoint per step, 1,000 in all)."),
            ],
        },
        Group {
            title: "Fine-tuning (on A_ft, from every checkpoint)",
            fields: vec![
                field("finetune.spectrum", "Spectrum f", Spectrum)
                    .help("Strength of each direction of A_ft (same directions as A_pre)."),
                field("finetune.lrs", "Learning rates η_ft", List)
                    .above(0.0, LR_MAX)
                    .help("Comma-separated; one curve each."),
                field("finetune.steps", "Steps K", Int)
                    .range(1.0, FINETUNE_STEPS_MAX as f64)
                    .slider(10.0, 1000.0, 10.0),
                field("finetune.l2", "Pull to pre-trained λ", List)
                    .range(0.0, L2_MAX)
                    .help("Comma-separated; λ‖θ − θ₀‖² keeps the model near its checkpoint."),
            ],
        },
        Group {
            title: "Gaussian perturbation",
            fields: vec![
                field("perturb.gammas", "Noise scales γ", List)
                    .range(0.0, GAMMA_MAX)
                    .help("Comma-separated; W ← W + γZ, Z standard normal."),
                field("perturb.samples", "Draws M", Int)
                    .range(1.0, SAMPLES_MAX as f64)
                    .slider(1.0, 200.0, 1.0),
            ],
        },
    ]
}

impl LinearConfig {
    /// Parses a JSON document (omitted fields take defaults) and validates it.
    pub fn from_json(text: &str) -> Result<LinearConfig, ConfigError> {
        let config: LinearConfig = crate::error::parse_json(text, &fields())?;
        config.validate()?;
        Ok(config)
    }

    /// Number of checkpoints: steps 0, every, 2·every, …, and the last step.
    pub fn checkpoint_steps(&self) -> Vec<usize> {
        let every = self.pretrain.checkpoint_every.max(1);
        let mut steps: Vec<usize> = (0..=self.pretrain.steps).step_by(every).collect();
        if *steps.last().unwrap() != self.pretrain.steps {
            steps.push(self.pretrain.steps);
        }
        steps
    }

    /// Multiply-adds of one full run: pre-training, perturbation and every fine-tuning run.
    pub fn work(&self) -> f64 {
        let (d, h) = (self.dim as f64, self.hidden as f64);
        let step = 3.0 * d * d * h;
        let checkpoints = self.checkpoint_steps().len() as f64;
        let runs = checkpoints * (self.finetune.lrs.len() * self.finetune.l2.len()) as f64;
        let perturb =
            checkpoints * (self.perturb.gammas.len() * self.perturb.samples) as f64 * d * d * h;
        step * (self.pretrain.steps as f64 + runs * self.finetune.steps as f64) + perturb
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        use limits::*;
        check_int("dim", self.dim, 1, DIM_MAX)?;
        check_int("hidden", self.hidden, 1, HIDDEN_MAX)?;
        check_range("init_scale", self.init_scale, 0.0, true, INIT_SCALE_MAX)?;
        validate_spectrum("pretrain.spectrum", &self.pretrain.spectrum, self.dim)?;
        check_range("pretrain.lr", self.pretrain.lr, 0.0, true, LR_MAX)?;
        check_int("pretrain.steps", self.pretrain.steps, 1, PRETRAIN_STEPS_MAX)?;
        check_int(
            "pretrain.checkpoint_every",
            self.pretrain.checkpoint_every,
            1,
            self.pretrain.steps,
        )?;
        let checkpoints = self.checkpoint_steps().len();
        if checkpoints > CHECKPOINTS_MAX {
            return Err(ConfigError::new(
                "pretrain.checkpoint_every",
                format!(
                    "gives {checkpoints} checkpoints; at most {CHECKPOINTS_MAX} are allowed \
                     (use checkpoint_every ≥ {})",
                    self.pretrain.steps.div_ceil(CHECKPOINTS_MAX - 1)
                ),
            ));
        }
        validate_spectrum("finetune.spectrum", &self.finetune.spectrum, self.dim)?;
        check_len("finetune.lrs", self.finetune.lrs.len(), 1, LIST_MAX)?;
        for (i, &lr) in self.finetune.lrs.iter().enumerate() {
            check_range(&format!("finetune.lrs[{i}]"), lr, 0.0, true, LR_MAX)?;
        }
        check_int("finetune.steps", self.finetune.steps, 1, FINETUNE_STEPS_MAX)?;
        check_len("finetune.l2", self.finetune.l2.len(), 1, LIST_MAX)?;
        for (i, &l2) in self.finetune.l2.iter().enumerate() {
            check_range(&format!("finetune.l2[{i}]"), l2, 0.0, false, L2_MAX)?;
        }
        check_len("perturb.gammas", self.perturb.gammas.len(), 1, LIST_MAX)?;
        for (i, &g) in self.perturb.gammas.iter().enumerate() {
            check_range(&format!("perturb.gammas[{i}]"), g, 0.0, false, GAMMA_MAX)?;
        }
        check_int("perturb.samples", self.perturb.samples, 1, SAMPLES_MAX)?;
        let work = self.work();
        if work > WORK_MAX {
            return Err(ConfigError::new(
                "",
                format!(
                    "this run needs {work:.2e} multiply-adds; at most {WORK_MAX:.0e} are allowed \
                     (reduce dim, hidden, steps, checkpoints or the number of fine-tuning runs)"
                ),
            ));
        }
        Ok(())
    }
}

fn validate_spectrum(field: &str, spectrum: &Spectrum, dim: usize) -> Result<(), ConfigError> {
    use limits::*;
    match spectrum {
        Spectrum::Power { exponent } => check_range(
            &format!("{field}.exponent"),
            *exponent,
            0.0,
            false,
            EXPONENT_MAX,
        ),
        Spectrum::Flat { value } => check_range(
            &format!("{field}.value"),
            *value,
            0.0,
            false,
            SPECTRUM_VALUE_MAX,
        ),
        Spectrum::Values { values } => {
            if values.len() != dim {
                return Err(ConfigError::new(
                    format!("{field}.values"),
                    format!(
                        "must have exactly dim = {dim} entries, got {}",
                        values.len()
                    ),
                ));
            }
            for (i, &v) in values.iter().enumerate() {
                check_range(
                    &format!("{field}.values[{i}]"),
                    v,
                    0.0,
                    false,
                    SPECTRUM_VALUE_MAX,
                )?;
            }
            Ok(())
        }
    }
}

impl Spectrum {
    /// The d singular values this spectrum describes.
    pub fn values(&self, dim: usize) -> Vec<f64> {
        match self {
            Spectrum::Power { exponent } => (1..=dim).map(|i| (i as f64).powf(-exponent)).collect(),
            Spectrum::Flat { value } => vec![*value; dim],
            Spectrum::Values { values } => values.clone(),
        }
    }
}
