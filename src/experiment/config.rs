//! The transformer lab's experiment config (schema version 1) and its presets.

use crate::data::tasks::{UserText, BUILT_IN};
use crate::error::{check_int, check_len, check_range, ConfigError};
use crate::schema::{field, Group, Kind::*};
use crate::transformer::config::{Mlp, ModelConfig, Norm, Pos};
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

/// The largest budget a config may ask for, in tokens (bytes): about 20 hours of the CPU
/// path at the pilot's model size on a laptop; anything larger is a typo.
pub const MAX_BUDGET_TOKENS: u64 = 10_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The paper's: one run per budget from a fresh init, warmup then cosine to zero.
    Independent,
    /// One warmup–stable run; from its state at each budget's branch point, a linear decay
    /// to zero over `decay_fraction` of that budget.
    Wsd,
    /// One run, warmup then a constant rate with no decay (warmup–stable-only): each
    /// budget's checkpoint is that run's state at the budget's step count.
    Constant,
}

impl Protocol {
    /// Every budget's checkpoint comes from one run, in stable phases from one budget's
    /// point to the next (wsd's branch points, constant's budgets).
    pub fn one_run(self) -> bool {
        matches!(self, Protocol::Wsd | Protocol::Constant)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    pub protocol: Protocol,
    /// Token budgets, strictly increasing (each rounded up to whole steps of batch × ctx).
    pub budgets: Vec<u64>,
    pub lr: f64,
    /// Warmup steps as a fraction of each run (independent) or of the first budget (wsd,
    /// constant).
    pub warmup_fraction: f64,
    /// wsd only: the decay branch's share of each budget.
    pub decay_fraction: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    /// SAM's radius ρ (sharpness-aware minimization): each step's update uses the gradient
    /// at w + ρ·g/‖g‖; 0 = plain AdamW.
    pub sam_rho: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerturbConfig {
    /// Noise scales γ: each parameter gets γ·σ_init·z with σ_init its tensor's init std.
    pub gammas: Vec<f64>,
    /// Draws per (budget, γ).
    pub draws: usize,
    /// Also perturb constant-initialized tensors (norm gains, biases), with σ = 0.02.
    pub perturb_constant: bool,
    /// Power iterations of the sharpness (the top eigenvalue of the pre-training loss's
    /// Hessian on the held-out batches) of each pre-trained model; 0: not measured.
    pub sharpness_iterations: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    /// A built-in task (shifted, code, facts, arithmetic) or "user" with `user_text`.
    pub task: String,
    pub user_text: Option<String>,
    /// Peak learning rates (a log-spaced grid).
    pub lrs: Vec<f64>,
    /// λ values of the L2 pull toward the pre-trained weights (0 = none).
    pub l2: Vec<f64>,
    pub steps: usize,
    /// Repeats with different fine-tuning data orders; mean and spread are reported.
    pub seeds: usize,
    pub warmup_fraction: f64,
    pub weight_decay: f64,
    pub grad_clip: f64,
    /// The share of each batch's rows drawn from the pre-training language (replay),
    /// round(replay × batch) rows; 0 = the task alone.
    pub replay: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    pub schema_version: u32,
    pub seed: u64,
    pub model: ModelConfig,
    /// Sequences per step, for pre-training, fine-tuning and evaluation alike.
    pub batch: usize,
    /// The CPU path's micro-batches per step (`crate::transformer::micro`): its threads
    /// share a step with the same bits on any number of them (the presets: 1, the whole
    /// batch). The GPU takes the batch whole.
    pub micro_batches: usize,
    /// Held-out batches behind every perplexity.
    pub eval_batches: usize,
    pub pretrain: PretrainConfig,
    pub perturb: PerturbConfig,
    pub finetune: FinetuneConfig,
    /// Vary one lever: the experiment runs once per value of `field` (every value's whole
    /// protocol, as units of one plan) and its results hold one section per value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
}

/// A sweep of one config field over 2 to 5 values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// A field's dotted path, as the config's errors name it: `model.d_model`,
    /// `pretrain.protocol`, `finetune.lrs`…
    pub field: String,
    /// Its values (JSON: numbers, names, or lists for list fields).
    pub values: Vec<serde_json::Value>,
}

/// The fields a sweep may not vary: what identifies the config rather than an experiment.
const NOT_SWEPT: [&str; 2] = ["schema_version", "sweep"];

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig {
            protocol: Protocol::Independent,
            budgets: vec![250_000, 500_000, 1_000_000, 2_000_000, 4_000_000],
            lr: 3e-3,
            warmup_fraction: 0.05,
            decay_fraction: 0.2,
            weight_decay: 0.1,
            grad_clip: 1.0,
            sam_rho: 0.0,
        }
    }
}

impl Default for PerturbConfig {
    fn default() -> Self {
        PerturbConfig {
            gammas: vec![0.5, 1.0, 2.0],
            draws: 4,
            perturb_constant: false,
            sharpness_iterations: 0,
        }
    }
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            task: "shifted".into(),
            user_text: None,
            lrs: vec![1e-3, 3e-3],
            l2: vec![0.0],
            steps: 100,
            seeds: 3,
            warmup_fraction: 0.05,
            weight_decay: 0.1,
            grad_clip: 1.0,
            replay: 0.0,
        }
    }
}

impl Default for ExperimentConfig {
    /// The Quick preset.
    fn default() -> Self {
        ExperimentConfig::preset("quick").expect("a preset")
    }
}

/// The preset names, as the CLI and the page spell them. The last three are sweeps of the
/// Quick preset, one lever each (the follow-up literature's questions, README "What the
/// follow-up work found, measured here").
pub const PRESETS: [&str; 6] = [
    "quick",
    "paper",
    "micro",
    "scaling",
    "schedules",
    "mitigations",
];

impl ExperimentConfig {
    /// `quick`: a 7.8k-parameter model, budgets of 34 to 1,079 tokens per parameter — a few
    /// minutes on a CPU. `paper`: the pilot's 35k-parameter model (science.md §4), budgets of
    /// 7 to 455 tokens per parameter (the grid must start below the fine-tuning inflection,
    /// which this model reaches at 1–2M tokens) — about 20 minutes on a CPU. Both use the
    /// paper's independent runs and were calibrated on the command line to show every
    /// shape the issue asks for (docs/results/). `micro`: a few seconds, to try the page
    /// (too small to show the effect).
    pub fn preset(name: &str) -> Option<ExperimentConfig> {
        let base = |model, batch, budgets| ExperimentConfig {
            schema_version: SCHEMA_VERSION,
            seed: 0,
            model,
            batch,
            // Whole batches: the recorded runs (docs/results) are defined on them, and the
            // page's workers take a step on one core either way. Natively a config may ask
            // for micro-batches, so that idle threads share the running units' steps.
            micro_batches: 1,
            eval_batches: 8,
            pretrain: PretrainConfig {
                budgets,
                ..PretrainConfig::default()
            },
            perturb: PerturbConfig::default(),
            finetune: FinetuneConfig::default(),
            sweep: None,
        };
        match name {
            "quick" => Some(base(
                ModelConfig {
                    n_layer: 1,
                    d_model: 16,
                    n_head: 2,
                    d_ff: 64,
                    ctx: 32,
                    norm: Norm::Layernorm,
                    mlp: Mlp::Gelu,
                    pos: Pos::Learned,
                    tie_embeddings: true,
                },
                32,
                vec![262_144, 524_288, 1_048_576, 2_097_152, 4_194_304, 8_388_608],
            )),
            "paper" => Some(base(
                ModelConfig::default(),
                32,
                vec![
                    250_000, 500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 16_000_000,
                ],
            )),
            // Sweeps of one lever on the Quick preset, each calibrated on the command line
            // (docs/results/NAME): `scaling` the model's width (3.6k, 12k and 43k
            // parameters), `schedules` the pre-training protocol (cosine, warmup–stable–
            // decay, constant), `mitigations` replaying pre-training text in fine-tuning.
            "scaling" | "schedules" | "mitigations" => {
                let mut c = ExperimentConfig::preset("quick")?;
                let (field, values) = match name {
                    "scaling" => ("model.d_model", serde_json::json!([8, 24, 64])),
                    "schedules" => (
                        "pretrain.protocol",
                        serde_json::json!(["independent", "wsd", "constant"]),
                    ),
                    _ => ("finetune.replay", serde_json::json!([0.0, 0.25, 0.5])),
                };
                c.sweep = Some(Sweep {
                    field: field.into(),
                    values: values.as_array().expect("a list").clone(),
                });
                if name == "schedules" {
                    // The curvature beside the sensitivity: does decay sharpen the minimum?
                    c.perturb.sharpness_iterations = 20;
                }
                Some(c)
            }
            "micro" => {
                let mut c = base(
                    ModelConfig {
                        n_layer: 1,
                        d_model: 8,
                        n_head: 2,
                        d_ff: 16,
                        ctx: 16,
                        ..ModelConfig::default()
                    },
                    8,
                    vec![4096, 8192, 16384, 32768],
                );
                c.eval_batches = 2;
                c.perturb.draws = 2;
                c.finetune.steps = 20;
                c.finetune.seeds = 2;
                Some(c)
            }
            _ => None,
        }
    }

    /// Parses a JSON document (omitted fields take the Quick preset's values) and validates.
    pub fn from_json(text: &str) -> Result<ExperimentConfig, ConfigError> {
        let config: ExperimentConfig = crate::error::parse_json(text, &fields())?;
        config.validate()?;
        Ok(config)
    }

    /// Tokens per training step.
    pub fn tokens_per_step(&self) -> u64 {
        (self.batch * self.model.ctx) as u64
    }

    /// Steps of each budget (rounded up).
    pub fn budget_steps(&self) -> Vec<usize> {
        let per = self.tokens_per_step();
        self.pretrain
            .budgets
            .iter()
            .map(|&b| b.div_ceil(per) as usize)
            .collect()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(ConfigError::new(
                "schema_version",
                format!(
                    "this version reads schema {SCHEMA_VERSION}, got {}",
                    self.schema_version
                ),
            ));
        }
        self.model.validate()?;
        check_int("batch", self.batch, 1, 1024)?;
        check_int(
            "micro_batches",
            self.micro_batches,
            1,
            crate::transformer::micro::MAX_COUNT,
        )?;
        check_int("eval_batches", self.eval_batches, 1, 256)?;
        let p = &self.pretrain;
        check_len("pretrain.budgets", p.budgets.len(), 1, 16)?;
        for (i, &b) in p.budgets.iter().enumerate() {
            let field = format!("pretrain.budgets[{i}]");
            let per = self.tokens_per_step();
            if b < per || b > MAX_BUDGET_TOKENS {
                return Err(ConfigError::new(
                    &field,
                    format!(
                        "must be a token count in [{per} (one step of batch × ctx), \
                         {MAX_BUDGET_TOKENS}], got {b}"
                    ),
                ));
            }
            if i > 0 && b <= p.budgets[i - 1] {
                return Err(ConfigError::new(
                    &field,
                    format!(
                        "budgets must increase: {b} is not above {}",
                        p.budgets[i - 1]
                    ),
                ));
            }
        }
        check_range("pretrain.lr", p.lr, 0.0, true, 1.0)?;
        check_range(
            "pretrain.warmup_fraction",
            p.warmup_fraction,
            0.0,
            false,
            0.5,
        )?;
        check_range("pretrain.decay_fraction", p.decay_fraction, 0.0, true, 1.0)?;
        check_range("pretrain.weight_decay", p.weight_decay, 0.0, false, 10.0)?;
        check_range("pretrain.grad_clip", p.grad_clip, 0.0, false, 1e6)?;
        check_range("pretrain.sam_rho", p.sam_rho, 0.0, false, 1.0)?;
        let q = &self.perturb;
        check_len("perturb.gammas", q.gammas.len(), 1, 8)?;
        for (i, &g) in q.gammas.iter().enumerate() {
            check_range(&format!("perturb.gammas[{i}]"), g, 0.0, true, 100.0)?;
        }
        check_int("perturb.draws", q.draws, 1, 64)?;
        check_int(
            "perturb.sharpness_iterations",
            q.sharpness_iterations,
            0,
            200,
        )?;
        let f = &self.finetune;
        if f.task == "user" {
            match &f.user_text {
                Some(text) => {
                    UserText::new(text)
                        .map_err(|e| ConfigError::new("finetune.user_text", e.message))?;
                }
                None => {
                    return Err(ConfigError::new(
                        "finetune.user_text",
                        "task \"user\" needs the text to fine-tune on",
                    ))
                }
            }
        } else if !BUILT_IN.contains(&f.task.as_str()) {
            return Err(ConfigError::new(
                "finetune.task",
                format!(
                    "unknown task '{}'; choose one of {} or user",
                    f.task,
                    BUILT_IN.join(", ")
                ),
            ));
        }
        check_len("finetune.lrs", f.lrs.len(), 1, 8)?;
        for (i, &lr) in f.lrs.iter().enumerate() {
            check_range(&format!("finetune.lrs[{i}]"), lr, 0.0, true, 1.0)?;
        }
        check_len("finetune.l2", f.l2.len(), 1, 4)?;
        for (i, &l) in f.l2.iter().enumerate() {
            check_range(&format!("finetune.l2[{i}]"), l, 0.0, false, 100.0)?;
        }
        check_int("finetune.steps", f.steps, 1, 1_000_000)?;
        check_int("finetune.seeds", f.seeds, 1, 16)?;
        check_range(
            "finetune.warmup_fraction",
            f.warmup_fraction,
            0.0,
            false,
            0.5,
        )?;
        check_range("finetune.weight_decay", f.weight_decay, 0.0, false, 10.0)?;
        check_range("finetune.grad_clip", f.grad_clip, 0.0, false, 1e6)?;
        check_range("finetune.replay", f.replay, 0.0, false, 1.0)?;
        if self.sweep.is_some() {
            self.variants()?;
        }
        Ok(())
    }

    /// The experiments a config runs: itself, or with a sweep, one per value (each with the
    /// field set to that value and no sweep), each valid — an invalid value is an error on
    /// `sweep.values[i]` that says what the field allows.
    pub fn variants(&self) -> Result<Vec<ExperimentConfig>, ConfigError> {
        let Some(sweep) = &self.sweep else {
            return Ok(vec![self.clone()]);
        };
        check_len("sweep.values", sweep.values.len(), 2, 5)?;
        let path: Vec<&str> = sweep.field.split('.').collect();
        let base = ExperimentConfig {
            sweep: None,
            ..self.clone()
        };
        let json = crate::json::to_value(&base);
        let mut target = &json;
        for key in &path {
            target = match target.get(key) {
                Some(t) if !NOT_SWEPT.contains(&sweep.field.as_str()) => t,
                _ => {
                    return Err(ConfigError::new(
                        "sweep.field",
                        format!(
                            "must name a field of the config, e.g. model.d_model,                              pretrain.protocol, pretrain.weight_decay, finetune.lrs; got '{}'",
                            crate::error::quote(&sweep.field)
                        ),
                    ))
                }
            };
        }
        if target.is_object() {
            return Err(ConfigError::new(
                "sweep.field",
                format!("'{}' is a section; name one of its fields", sweep.field),
            ));
        }
        let mut variants: Vec<ExperimentConfig> = Vec::new();
        for (i, value) in sweep.values.iter().enumerate() {
            let field = format!("sweep.values[{i}]");
            let mut json = json.clone();
            let mut slot = &mut json;
            for key in &path {
                slot = slot.get_mut(key).expect("checked above");
            }
            *slot = value.clone();
            // Read from its text by the crate's one reader of JSON (src/json.rs).
            let variant: ExperimentConfig =
                crate::json::read_json(&json.to_string()).map_err(|e| {
                    ConfigError::new(
                        &field,
                        format!(
                            "not a value of {}: {}",
                            sweep.field,
                            crate::error::quote(&crate::json::message(&e.inner))
                        ),
                    )
                })?;
            variant
                .validate()
                .map_err(|e| ConfigError::new(&field, format!("{}: {}", e.field, e.message)))?;
            if variants.contains(&variant) {
                return Err(ConfigError::new(&field, "repeats an earlier value"));
            }
            variants.push(variant);
        }
        Ok(variants)
    }
}

/// The transformer lab's fields (this config's), as the page shows them (see
/// [`crate::schema`]).
pub fn fields() -> Vec<Group> {
    vec![
        Group {
            title: "Model",
            fields: vec![
                field("model.n_layer", "Layers", Int)
                    .range(1.0, 24.0)
                    .help("Transformer blocks, each attention then an MLP."),
                field("model.d_model", "Width", Int)
                    .range(2.0, 1024.0)
                    .help("Size of each byte's vector (d_model); a multiple of the number of heads."),
                field("model.n_head", "Attention heads", Int)
                    .range(1.0, 64.0)
                    .help("Each head attends with d_model / heads dimensions."),
                field("model.d_ff", "MLP width", Int)
                    .range(1.0, 8192.0)
                    .help("Hidden size of each MLP (d_ff), usually 4 × the width."),
                field("model.ctx", "Context (bytes)", Int)
                    .range(2.0, 2048.0)
                    .help("How many bytes the model sees at once."),
                field("model.norm", "Normalization", Choice)
                    .choices(&["layernorm", "rmsnorm"])
                    .help("LayerNorm (GPT-2) or RMSNorm (Llama)."),
                field("model.mlp", "MLP activation", Choice)
                    .choices(&["gelu", "swiglu"])
                    .help("GELU (GPT-2) or SwiGLU (Llama; doubles the MLP's first matrix)."),
                field("model.pos", "Positions", Choice)
                    .choices(&["learned", "rope"])
                    .help("Learned position vectors, or rotary embeddings (RoPE)."),
                field("model.tie_embeddings", "Tie embeddings", Bool)
                    .help("The output layer reuses the byte embeddings."),
            ],
        },
        Group {
            title: "Data",
            fields: vec![
                field("seed", "Seed", Int)
                    .at_least(0.0)
                    .help("Seeds the synthetic language, the initial weights and the noise."),
                field("batch", "Batch (sequences)", Int)
                    .range(1.0, 1024.0)
                    .help("Sequences per training step, in pre-training and fine-tuning."),
                field("micro_batches", "Micro-batches (CPU)", Int)
                    .range(1.0, crate::transformer::micro::MAX_COUNT as f64)
                    .help("The CPU path splits each batch into this many parts, summed in a fixed order, so that several cores can share a step with the same results on any number of them (the command line's threads; in this page each worker computes its parts in turn). Another count rounds differently, so its results differ slightly. The GPU takes the batch whole."),
                field("eval_batches", "Held-out batches", Int)
                    .range(1.0, 256.0)
                    .help("Batches of unseen text behind every perplexity."),
            ],
        },
        Group {
            title: "Pre-training",
            fields: vec![
                field("pretrain.protocol", "Protocol", Choice)
                    .choices(&["independent", "wsd", "constant"])
                    .help("independent: one run per budget, cosine to zero (the paper's). wsd: one warmup–stable run, branched and decayed at each budget. constant: one warmup–stable run, no decay; each budget is its state there."),
                field("pretrain.budgets", "Token budgets", List)
                    .at_most(MAX_BUDGET_TOKENS as f64)
                    .help("Comma-separated, increasing: how many bytes each pre-training run sees (at least one step of batch × context)."),
                field("pretrain.lr", "Peak learning rate", Number)
                    .above(0.0, 1.0)
                    .help("AdamW's learning rate after warmup."),
                field("pretrain.warmup_fraction", "Warmup fraction", Number)
                    .range(0.0, 0.5)
                    .help("Share of each run spent raising the learning rate linearly."),
                field("pretrain.decay_fraction", "Decay fraction (wsd)", Number)
                    .above(0.0, 1.0)
                    .help("wsd only: the share of each budget spent decaying to zero."),
                field("pretrain.weight_decay", "Weight decay", Number)
                    .range(0.0, 10.0)
                    .help("AdamW's decoupled weight decay, on weight matrices only."),
                field("pretrain.grad_clip", "Gradient clip", Number)
                    .range(0.0, 1e6)
                    .help("Largest global gradient norm (0: no clipping)."),
                field("pretrain.sam_rho", "SAM radius ρ", Number)
                    .range(0.0, 1.0)
                    .help("Sharpness-aware minimization: each step takes its gradient at w + ρ·g/‖g‖, uphill by ρ (twice the work per step). 0: plain AdamW."),
            ],
        },
        Group {
            title: "Gaussian perturbation",
            fields: vec![
                field("perturb.gammas", "Noise scales γ", List)
                    .above(0.0, 100.0)
                    .help("Comma-separated; each weight gets γ × its initial spread × a standard normal draw."),
                field("perturb.draws", "Draws", Int)
                    .range(1.0, 64.0)
                    .help("Random perturbations averaged per budget and γ."),
                field("perturb.perturb_constant", "Perturb norms and biases", Bool)
                    .help("Also add noise (spread 0.02) to the tensors that start constant."),
                field("perturb.sharpness_iterations", "Sharpness iterations", Int)
                    .range(0.0, 200.0)
                    .help("Measure each pre-trained model's sharpness — the largest curvature of its loss, the Hessian's top eigenvalue — with this many power iterations (each two gradients over the held-out batches); 0: not measured."),
            ],
        },
        Group {
            title: "Fine-tuning",
            fields: vec![
                field("finetune.task", "Task", Choice)
                    .choices(&["shifted", "code", "facts", "arithmetic", "user"])
                    .help("What each pre-trained model is fine-tuned on; user: your own text below."),
                field("finetune.user_text", "Your text", Text)
                    .help("At least 2 KB of text, for task \"user\"."),
                field("finetune.lrs", "Learning rates", List)
                    .above(0.0, 1.0)
                    .help("Comma-separated peak learning rates; one curve each."),
                field("finetune.l2", "Pull to pre-trained λ", List)
                    .range(0.0, 100.0)
                    .help("Comma-separated; λ‖θ − θ_pre‖² keeps the model near its pre-trained weights."),
                field("finetune.steps", "Steps", Int)
                    .range(1.0, 1e6)
                    .help("Fine-tuning steps of each run."),
                field("finetune.seeds", "Repeats", Int)
                    .range(1.0, 16.0)
                    .help("Runs per setting with different data orders; the plots show their mean and spread."),
                field("finetune.warmup_fraction", "Warmup fraction", Number)
                    .range(0.0, 0.5)
                    .help("Share of each fine-tuning run spent raising the learning rate."),
                field("finetune.weight_decay", "Weight decay", Number)
                    .range(0.0, 10.0)
                    .help("AdamW's decoupled weight decay, on weight matrices only."),
                field("finetune.grad_clip", "Gradient clip", Number)
                    .range(0.0, 1e6)
                    .help("Largest global gradient norm (0: no clipping)."),
                field("finetune.replay", "Replay share", Number)
                    .range(0.0, 1.0)
                    .help("Share of each fine-tuning batch's rows taken from fresh pre-training text (rounded to whole rows). 0: the task alone."),
            ],
        },
        Group {
            title: "Vary one lever",
            fields: vec![field("sweep", "Vary", Sweep).help(
                "Run the whole experiment once for each of 2 to 5 values of one field, and see where each one's curves turn upward. Nothing: one experiment.",
            )],
        },
    ]
}

/// A preset as the page lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preset {
    pub name: &'static str,
    pub label: &'static str,
    pub config: ExperimentConfig,
}

/// The presets, in the order the page lists them.
pub fn presets() -> Vec<Preset> {
    [
        ("micro", "Micro (seconds)"),
        ("quick", "Quick (minutes)"),
        ("paper", "Paper-like (about 20 minutes on a CPU)"),
        (
            "scaling",
            "Vary the model's width: 8, 24, 64 (about 5 minutes on 2 CPU cores)",
        ),
        (
            "schedules",
            "Vary the schedule: cosine, wsd, constant (about 2 minutes on 2 CPU cores)",
        ),
        (
            "mitigations",
            "Vary the replay share: 0, 0.25, 0.5 (about 3 minutes on 2 CPU cores)",
        ),
    ]
    .into_iter()
    .map(|(name, label)| Preset {
        name,
        label,
        config: ExperimentConfig::preset(name).expect("a preset"),
    })
    .collect()
}
