//! Model configuration of the small decoder-only transformer (science.md §3).

use crate::error::{check_int, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    Layernorm,
    Rmsnorm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mlp {
    Gelu,
    Swiglu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pos {
    Rope,
    Learned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub n_layer: usize,
    pub d_model: usize,
    pub n_head: usize,
    /// Hidden width of the MLP (per branch for SwiGLU).
    pub d_ff: usize,
    /// Context length in bytes.
    pub ctx: usize,
    pub norm: Norm,
    pub mlp: Mlp,
    pub pos: Pos,
    /// The language-model head reuses the token embedding (transposed).
    pub tie_embeddings: bool,
}

impl Default for ModelConfig {
    /// The pilot runs' model (science.md §4): 2 layers, width 32, 4 heads, context 64,
    /// learned positions, LayerNorm, GELU, tied embeddings.
    fn default() -> Self {
        ModelConfig {
            n_layer: 2,
            d_model: 32,
            n_head: 4,
            d_ff: 128,
            ctx: 64,
            norm: Norm::Layernorm,
            mlp: Mlp::Gelu,
            pos: Pos::Learned,
            tie_embeddings: true,
        }
    }
}

impl ModelConfig {
    pub fn head_size(&self) -> usize {
        self.d_model / self.n_head.max(1)
    }

    /// The width of `mlp.fc`'s output: d_ff for GELU; for SwiGLU its gate and up branches
    /// side by side, 2·d_ff (the activation's output is d_ff wide either way).
    pub fn fc_width(&self) -> usize {
        match self.mlp {
            Mlp::Gelu => self.d_ff,
            Mlp::Swiglu => 2 * self.d_ff,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        check_int("model.n_layer", self.n_layer, 1, 24)?;
        check_int("model.d_model", self.d_model, 2, 1024)?;
        check_int("model.n_head", self.n_head, 1, 64)?;
        check_int("model.d_ff", self.d_ff, 1, 8192)?;
        check_int("model.ctx", self.ctx, 2, 2048)?;
        if !self.d_model.is_multiple_of(self.n_head) {
            return Err(ConfigError::new(
                "model.d_model",
                format!(
                    "must be divisible by model.n_head = {}, got {}",
                    self.n_head, self.d_model
                ),
            ));
        }
        if self.pos == Pos::Rope && !self.head_size().is_multiple_of(2) {
            return Err(ConfigError::new(
                "model.pos",
                format!(
                    "rope needs an even head size (d_model / n_head), got {}",
                    self.head_size()
                ),
            ));
        }
        Ok(())
    }
}
