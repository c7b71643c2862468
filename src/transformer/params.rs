//! The flat parameter buffer: every tensor's name, shape, offset, initialization and
//! whether weight decay applies (llm.c style: parameters, gradients and optimizer state
//! share this layout, so the optimizer is one pass over flat buffers).
//!
//! Initialization (science.md §3): N(0, 0.02) for weight matrices and embeddings, the
//! block output projections (attn.proj, mlp.proj) scaled by 1/√(2·n_layer), norm gains 1,
//! norm biases 0. Weight decay applies to weight matrices only, not to norms, biases or
//! embeddings (a tied head is the embedding, so it gets none either).

use super::config::{Mlp, ModelConfig, Norm, Pos};
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub tensors: Vec<TensorInfo>,
    pub total: usize,
}

impl Layout {
    pub fn new(cfg: &ModelConfig) -> Layout {
        let (d, f, l) = (cfg.d_model, cfg.d_ff, cfg.n_layer);
        let std = 0.02f32;
        let proj_std = std / ((2 * l) as f32).sqrt();
        let mut tensors = Vec::new();
        let mut offset = 0;
        let mut add =
            |name: String, shape: Vec<usize>, init_std: f32, init_const: f32, decay: bool| {
                let len: usize = shape.iter().product();
                tensors.push(TensorInfo {
                    name,
                    shape,
                    offset,
                    init_std,
                    init_const,
                    decay,
                });
                offset += len;
            };
        add("wte".into(), vec![VOCAB, d], std, 0.0, false);
        if cfg.pos == Pos::Learned {
            add("wpe".into(), vec![cfg.ctx, d], std, 0.0, false);
        }
        let fc_out = if cfg.mlp == Mlp::Swiglu { 2 * f } else { f };
        for i in 0..l {
            add(format!("h.{i}.ln1.g"), vec![d], 0.0, 1.0, false);
            if cfg.norm == Norm::Layernorm {
                add(format!("h.{i}.ln1.b"), vec![d], 0.0, 0.0, false);
            }
            add(format!("h.{i}.attn.qkv"), vec![d, 3 * d], std, 0.0, true);
            add(format!("h.{i}.attn.proj"), vec![d, d], proj_std, 0.0, true);
            add(format!("h.{i}.ln2.g"), vec![d], 0.0, 1.0, false);
            if cfg.norm == Norm::Layernorm {
                add(format!("h.{i}.ln2.b"), vec![d], 0.0, 0.0, false);
            }
            add(format!("h.{i}.mlp.fc"), vec![d, fc_out], std, 0.0, true);
            add(format!("h.{i}.mlp.proj"), vec![f, d], proj_std, 0.0, true);
        }
        add("lnf.g".into(), vec![d], 0.0, 1.0, false);
        if cfg.norm == Norm::Layernorm {
            add("lnf.b".into(), vec![d], 0.0, 0.0, false);
        }
        if !cfg.tie_embeddings {
            add("lm_head".into(), vec![d, VOCAB], std, 0.0, true);
        }
        Layout {
            tensors,
            total: offset,
        }
    }

    pub fn get(&self, name: &str) -> &TensorInfo {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
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
