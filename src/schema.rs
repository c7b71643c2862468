//! Every config field as the page shows it: a plain-language label, one sentence of help,
//! its kind and its allowed range, grouped as the forms group them, and the transformer
//! lab's presets. The page builds both labs' forms, its URL state and its preset list from
//! this (`web::field_schema`), so a field is described once. The ranges are those the
//! configs' `validate` enforces (a test holds the two equal).

use crate::experiment::ExperimentConfig;
use crate::linear::config::limits;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A whole number.
    Int,
    /// A finite number.
    Number,
    /// Comma-separated numbers; `min`/`max` bound each entry.
    List,
    /// One of `values`.
    Choice,
    Bool,
    /// Free text (null when empty).
    Text,
    /// The linear lab's spectrum object: {kind: power|flat|values, exponent|value|values}.
    Spectrum,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The dotted config path.
    pub path: &'static str,
    pub label: &'static str,
    pub help: Option<&'static str>,
    pub kind: Kind,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The minimum itself is not allowed: (min, max].
    pub min_open: bool,
    pub values: Option<&'static [&'static str]>,
    /// A slider beside the input: [min, max, step].
    pub slider: Option<[f64; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub title: &'static str,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preset {
    pub name: &'static str,
    pub label: &'static str,
    pub config: ExperimentConfig,
}

/// The whole schema: `{linear: [Group], transformer: [Group], presets: [Preset]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schema {
    pub linear: Vec<Group>,
    pub transformer: Vec<Group>,
    pub presets: Vec<Preset>,
}

const fn field(path: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        path,
        label,
        help: None,
        kind,
        min: None,
        max: None,
        min_open: false,
        values: None,
        slider: None,
    }
}

impl Field {
    fn help(mut self, text: &'static str) -> Field {
        self.help = Some(text);
        self
    }
    /// [min, max].
    fn range(mut self, min: f64, max: f64) -> Field {
        self.min = Some(min);
        self.max = Some(max);
        self
    }
    /// (min, max].
    fn above(mut self, min: f64, max: f64) -> Field {
        self.min_open = true;
        self.range(min, max)
    }
    fn at_least(mut self, min: f64) -> Field {
        self.min = Some(min);
        self
    }
    fn choices(mut self, values: &'static [&'static str]) -> Field {
        self.values = Some(values);
        self
    }
    fn slider(mut self, min: f64, max: f64, step: f64) -> Field {
        self.slider = Some([min, max, step]);
        self
    }
}

use Kind::*;

/// The linear lab's fields.
pub fn linear() -> Vec<Group> {
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

/// The transformer lab's fields (the experiment config).
pub fn transformer() -> Vec<Group> {
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
                field("eval_batches", "Held-out batches", Int)
                    .range(1.0, 256.0)
                    .help("Batches of unseen text behind every perplexity."),
            ],
        },
        Group {
            title: "Pre-training",
            fields: vec![
                field("pretrain.protocol", "Protocol", Choice)
                    .choices(&["independent", "wsd"])
                    .help("independent: one run per budget, cosine to zero (the paper's). wsd: one warmup–stable run, branched and decayed at each budget."),
                field("pretrain.budgets", "Token budgets", List)
                    .range(1.0, crate::experiment::config::MAX_BUDGET_TOKENS as f64)
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
            ],
        },
    ]
}

/// The transformer lab's presets, in the order the page lists them.
pub fn presets() -> Vec<Preset> {
    [
        ("micro", "Micro (seconds)"),
        ("quick", "Quick (minutes)"),
        ("paper", "Paper-like (about 20 minutes on a CPU)"),
    ]
    .into_iter()
    .map(|(name, label)| Preset {
        name,
        label,
        config: ExperimentConfig::preset(name).expect("a preset"),
    })
    .collect()
}

pub fn schema() -> Schema {
    Schema {
        linear: linear(),
        transformer: transformer(),
        presets: presets(),
    }
}
