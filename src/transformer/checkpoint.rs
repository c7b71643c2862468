//! Model files: every parameter tensor under its layout name (`wte`, `h.0.attn.qkv`, …),
//! f32, row-major with the layout's shape, in the safetensors format (loadable by Python's
//! `safetensors` package). The model config travels in the file's metadata as JSON.
//!
//! Beside a model file, `overtrain train` keeps the optimizer's state, so that an
//! interrupted run can be continued exactly ([`optimizer_to_safetensors`]): AdamW's first
//! and second moments as tensors `m.NAME` and `v.NAME` of the shapes of the weights `NAME`,
//! and under the metadata key [`OPTIMIZER_KEY`] the steps taken (AdamW's t, which is also
//! the number of batches read) and a hash of the weights it belongs with.

use super::config::ModelConfig;
use super::engine::TrainState;
use super::params::Layout;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The metadata key holding the model config (JSON).
pub const META_KEY: &str = "overtrain_model";

/// The metadata key of an optimizer file (JSON, see [`OptimizerMeta`]).
pub const OPTIMIZER_KEY: &str = "overtrain_optimizer";

/// What an optimizer file says besides its moments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerMeta {
    /// "adamw".
    pub optimizer: String,
    /// Steps taken: AdamW's t, and the batches of the training stream read.
    pub step: usize,
    /// FNV-1a (64 bits, hex) of the weights' bytes (f32, little-endian, layout order): the
    /// model file this state belongs with.
    pub weights: String,
}

/// Tensors `{prefix}NAME` of every layout tensor NAME, cut from `values` (layout order).
fn views<'a>(layout: &Layout, prefix: &str, values: &'a [f32]) -> Vec<(String, TensorView<'a>)> {
    let bytes: &[u8] = bytemuck::cast_slice(values);
    layout
        .tensors
        .iter()
        .map(|t| {
            let view = TensorView::new(
                Dtype::F32,
                t.shape.clone(),
                &bytes[t.offset * 4..(t.offset + t.len()) * 4],
            )
            .expect("the layout's shapes match its ranges");
            (format!("{prefix}{}", t.name), view)
        })
        .collect()
}

/// A safetensors file of `views`, with one metadata entry only: a HashMap's order changes
/// between processes, and a file must be the same bytes for the same contents.
fn serialize(views: Vec<(String, TensorView)>, key: &str, value: String) -> Vec<u8> {
    let metadata = HashMap::from([(key.to_string(), value)]);
    safetensors::serialize(views, Some(metadata)).expect("f32 tensors serialize")
}

/// The safetensors bytes of a model's parameters.
pub fn to_safetensors(cfg: &ModelConfig, layout: &Layout, params: &[f32]) -> Vec<u8> {
    serialize(
        views(layout, "", params),
        META_KEY,
        serde_json::to_string(cfg).expect("plain data"),
    )
}

/// FNV-1a, 64 bits: a short, stable fingerprint (not a cryptographic one).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// The fingerprint of a model's weights that its optimizer file records.
fn weights_hash(params: &[f32]) -> String {
    format!("{:016x}", fnv1a(bytemuck::cast_slice(params)))
}

/// The safetensors bytes of a training state's optimizer part (see the module's doc); its
/// weights go to the model file ([`to_safetensors`]).
pub fn optimizer_to_safetensors(layout: &Layout, state: &TrainState) -> Vec<u8> {
    let meta = OptimizerMeta {
        optimizer: "adamw".into(),
        step: state.step,
        weights: weights_hash(&state.params),
    };
    let mut tensors = views(layout, "m.", &state.m);
    tensors.extend(views(layout, "v.", &state.v));
    serialize(
        tensors,
        OPTIMIZER_KEY,
        serde_json::to_string(&meta).expect("plain data"),
    )
}

/// The training state of a model file's weights (`params`, of `cfg`) and of the optimizer
/// file beside it; an error when the optimizer file is not one, or not of these weights.
pub fn optimizer_from_safetensors(
    data: &[u8],
    cfg: &ModelConfig,
    params: Vec<f32>,
) -> Result<TrainState, String> {
    let (_, header) =
        SafeTensors::read_metadata(data).map_err(|e| format!("not a safetensors file: {e}"))?;
    let text = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(OPTIMIZER_KEY))
        .ok_or("the file has no overtrain optimizer state in its metadata")?;
    let meta: OptimizerMeta =
        crate::json::read_json(text).map_err(|e| format!("{OPTIMIZER_KEY}: {}", e.inner))?;
    if meta.optimizer != "adamw" {
        return Err(format!(
            "the optimizer is '{}', not adamw",
            crate::error::quote(&meta.optimizer)
        ));
    }
    if meta.weights != weights_hash(&params) {
        return Err("it belongs with other weights than the model file's (a run stopped while saving them?)".into());
    }
    let layout = Layout::new(cfg);
    let st = SafeTensors::deserialize(data).map_err(|e| format!("not a safetensors file: {e}"))?;
    Ok(TrainState {
        m: read_tensors(&st, &layout, "m.")?,
        v: read_tensors(&st, &layout, "v.")?,
        params,
        step: meta.step,
    })
}

/// Reads a model file back: its config and its parameters in layout order.
pub fn from_safetensors(data: &[u8]) -> Result<(ModelConfig, Vec<f32>), String> {
    let (_, meta) =
        SafeTensors::read_metadata(data).map_err(|e| format!("not a safetensors file: {e}"))?;
    let model = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or("the file has no overtrain model config in its metadata")?;
    let cfg: ModelConfig =
        crate::json::read_json(model).map_err(|e| format!("model config: {}", e.inner))?;
    cfg.validate().map_err(|e| e.to_string())?;
    let layout = Layout::new(&cfg);
    let st = SafeTensors::deserialize(data).map_err(|e| format!("not a safetensors file: {e}"))?;
    Ok((cfg, read_tensors(&st, &layout, "")?))
}

/// The tensors `{prefix}NAME` of every layout tensor NAME, in layout order; an error names
/// a tensor that is missing or of another type or shape.
fn read_tensors(st: &SafeTensors, layout: &Layout, prefix: &str) -> Result<Vec<f32>, String> {
    let mut values = vec![0.0f32; layout.total];
    for t in &layout.tensors {
        let name = format!("{prefix}{}", t.name);
        let view = st
            .tensor(&name)
            .map_err(|e| format!("tensor {name}: {e}"))?;
        if view.dtype() != Dtype::F32 || view.shape() != t.shape.as_slice() {
            return Err(format!(
                "tensor {name}: expected f32 {:?}, found {:?} {:?}",
                t.shape,
                view.dtype(),
                view.shape()
            ));
        }
        for (p, chunk) in values[t.range()]
            .iter_mut()
            .zip(view.data().chunks_exact(4))
        {
            *p = f32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optimizer_file_gives_back_its_state_with_its_own_weights_only() {
        let cfg = ModelConfig {
            n_layer: 1,
            d_model: 8,
            n_head: 2,
            d_ff: 16,
            ctx: 8,
            ..ModelConfig::default()
        };
        let layout = Layout::new(&cfg);
        let n = layout.total;
        let ramp = |k: f32| (0..n).map(|i| k * i as f32).collect::<Vec<f32>>();
        let state = TrainState {
            params: ramp(0.5),
            m: ramp(-0.25),
            v: ramp(0.125),
            step: 17,
        };
        let bytes = optimizer_to_safetensors(&layout, &state);
        assert_eq!(
            bytes,
            optimizer_to_safetensors(&layout, &state),
            "the same bytes"
        );
        let back = optimizer_from_safetensors(&bytes, &cfg, state.params.clone()).unwrap();
        assert_eq!(back, state);
        let err = optimizer_from_safetensors(&bytes, &cfg, ramp(0.75)).unwrap_err();
        assert!(err.contains("other weights"), "{err}");
        let model = to_safetensors(&cfg, &layout, &state.params);
        let err = optimizer_from_safetensors(&model, &cfg, state.params.clone()).unwrap_err();
        assert!(err.contains("no overtrain optimizer"), "{err}");
    }
}
