//! The flat parameter buffer: every tensor's name, shape, offset, initialization and
//! whether weight decay applies (llm.c style: parameters, gradients and optimizer state
//! share this layout, so the optimizer is one pass over flat buffers), and the same offsets
//! typed per layer ([`LayerSlots`]), resolved once in [`Layout::new`]: a training step on
//! either backend reads `layout.layers[l].qkv`, never a tensor's name.
//!
//! Initialization (science.md §3): N(0, 0.02) for weight matrices and embeddings, the
//! block output projections (attn.proj, mlp.proj) scaled by 1/√(2·n_layer), norm gains 1,
//! norm biases 0. Weight decay applies to weight matrices only, not to norms, biases or
//! embeddings (a tied head is the embedding, so it gets none either): `decay` below is
//! the one list both backends read.

use super::config::{ModelConfig, Norm, Pos};
use crate::data::VOCAB;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorInfo {
    pub name: String,
    pub shape: Vec<usize>,
    pub offset: usize,
    /// Standard deviation of the Gaussian init; 0 for constant-initialized tensors.
    pub init_std: f32,
    /// The constant of a constant-initialized tensor (norm gains 1, biases 0).
    pub init_const: f32,
    pub decay: bool,
}

impl TensorInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
    pub fn slot(&self) -> Slot {
        Slot {
            offset: self.offset,
            len: self.len(),
        }
    }
}

/// Where one tensor lives in the flat buffers (parameters, gradients, moments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub offset: usize,
    pub len: usize,
}

impl Slot {
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}

/// A norm's gain and (LayerNorm only) bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NormSlots {
    pub g: Slot,
    pub b: Option<Slot>,
}

/// One transformer block's tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LayerSlots {
    pub ln1: NormSlots,
    /// [d, 3d]: q, k, v side by side in each row.
    pub qkv: Slot,
    /// [d, d].
    pub attn_proj: Slot,
    pub ln2: NormSlots,
    /// [d, fc_width]: GELU's d_ff, or SwiGLU's gate and up side by side (2·d_ff).
    pub fc: Slot,
    /// [d_ff, d].
    pub mlp_proj: Slot,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    /// Every tensor in buffer order (names as in the safetensors checkpoints).
    pub tensors: Vec<TensorInfo>,
    pub total: usize,
    pub wte: Slot,
    /// Learned positions only.
    pub wpe: Option<Slot>,
    pub layers: Vec<LayerSlots>,
    pub lnf: NormSlots,
    /// Untied heads only (a tied head is `wte`).
    pub lm_head: Option<Slot>,
}

/// Builds a [`Layout`]: appends tensors at increasing offsets.
struct Builder {
    tensors: Vec<TensorInfo>,
    offset: usize,
}

impl Builder {
    fn add(&mut self, name: String, shape: Vec<usize>, init: Init, decay: bool) -> Slot {
        let (init_std, init_const) = match init {
            Init::Normal(std) => (std, 0.0),
            Init::Const(c) => (0.0, c),
        };
        let info = TensorInfo {
            name,
            shape,
            offset: self.offset,
            init_std,
            init_const,
            decay,
        };
        self.offset += info.len();
        let slot = info.slot();
        self.tensors.push(info);
        slot
    }

    fn norm(&mut self, prefix: &str, cfg: &ModelConfig) -> NormSlots {
        let d = cfg.d_model;
        NormSlots {
            g: self.add(format!("{prefix}.g"), vec![d], Init::Const(1.0), false),
            b: (cfg.norm == Norm::Layernorm)
                .then(|| self.add(format!("{prefix}.b"), vec![d], Init::Const(0.0), false)),
        }
    }
}

#[derive(Clone, Copy)]
enum Init {
    Normal(f32),
    Const(f32),
}

impl Layout {
    pub fn new(cfg: &ModelConfig) -> Layout {
        let (d, f, l) = (cfg.d_model, cfg.d_ff, cfg.n_layer);
        let std = Init::Normal(0.02);
        let proj_std = Init::Normal(0.02 / ((2 * l) as f32).sqrt());
        let mut b = Builder {
            tensors: Vec::new(),
            offset: 0,
        };
        let wte = b.add("wte".into(), vec![VOCAB, d], std, false);
        let wpe =
            (cfg.pos == Pos::Learned).then(|| b.add("wpe".into(), vec![cfg.ctx, d], std, false));
        let layers = (0..l)
            .map(|i| LayerSlots {
                ln1: b.norm(&format!("h.{i}.ln1"), cfg),
                qkv: b.add(format!("h.{i}.attn.qkv"), vec![d, 3 * d], std, true),
                attn_proj: b.add(format!("h.{i}.attn.proj"), vec![d, d], proj_std, true),
                ln2: b.norm(&format!("h.{i}.ln2"), cfg),
                fc: b.add(format!("h.{i}.mlp.fc"), vec![d, cfg.fc_width()], std, true),
                mlp_proj: b.add(format!("h.{i}.mlp.proj"), vec![f, d], proj_std, true),
            })
            .collect();
        let lnf = b.norm("lnf", cfg);
        let lm_head =
            (!cfg.tie_embeddings).then(|| b.add("lm_head".into(), vec![d, VOCAB], std, true));
        Layout {
            tensors: b.tensors,
            total: b.offset,
            wte,
            wpe,
            layers,
            lnf,
            lm_head,
        }
    }

    /// A tensor by its name (checkpoints and tests; the training step uses the typed slots).
    pub fn get(&self, name: &str) -> &TensorInfo {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }

    /// Whether weight decay applies, element by element in buffer order: the one
    /// decayed-parameter set of both backends.
    pub fn decay_mask(&self) -> impl Iterator<Item = bool> + '_ {
        self.tensors
            .iter()
            .flat_map(|t| std::iter::repeat_n(t.decay, t.len()))
    }

    /// Fresh parameters from a seed.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut params = vec![0.0f32; self.total];
        for t in &self.tensors {
            let slice = &mut params[t.range()];
            if t.init_std > 0.0 {
                let normal = Normal::new(0.0f32, t.init_std).expect("positive std");
                for x in slice.iter_mut() {
                    *x = normal.sample(&mut rng);
                }
            } else {
                slice.fill(t.init_const);
            }
        }
        params
    }
}
