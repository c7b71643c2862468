//! Model files: every parameter tensor under its layout name (`wte`, `h.0.attn.qkv`, …),
//! f32, row-major with the layout's shape, in the safetensors format (loadable by Python's
//! `safetensors` package). The model config travels in the file's metadata as JSON.

use super::config::ModelConfig;
use super::params::Layout;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;

/// The metadata key holding the model config (JSON).
pub const META_KEY: &str = "overtrain_model";

/// The safetensors bytes of a model's parameters.
pub fn to_safetensors(cfg: &ModelConfig, layout: &Layout, params: &[f32]) -> Vec<u8> {
    let bytes: &[u8] = bytemuck::cast_slice(params);
    let views: Vec<(String, TensorView)> = layout
        .tensors
        .iter()
        .map(|t| {
            let view = TensorView::new(
                Dtype::F32,
                t.shape.clone(),
                &bytes[t.offset * 4..(t.offset + t.len()) * 4],
            )
            .expect("the layout's shapes match its ranges");
            (t.name.clone(), view)
        })
        .collect();
    // One metadata entry only: a HashMap's order changes between processes, and the file
    // must be the same bytes for the same model.
    let metadata = HashMap::from([(
        META_KEY.to_string(),
        serde_json::to_string(cfg).expect("plain data"),
    )]);
    safetensors::serialize(views, Some(metadata)).expect("f32 tensors serialize")
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
    let cfg: ModelConfig = serde_json::from_str(model).map_err(|e| format!("model config: {e}"))?;
    cfg.validate().map_err(|e| e.to_string())?;
    let layout = Layout::new(&cfg);
    let st = SafeTensors::deserialize(data).map_err(|e| format!("not a safetensors file: {e}"))?;
    let mut params = vec![0.0f32; layout.total];
    for t in &layout.tensors {
        let view = st
            .tensor(&t.name)
            .map_err(|e| format!("tensor {}: {e}", t.name))?;
        if view.dtype() != Dtype::F32 || view.shape() != t.shape.as_slice() {
            return Err(format!(
                "tensor {}: expected f32 {:?}, found {:?} {:?}",
                t.name,
                t.shape,
                view.dtype(),
                view.shape()
            ));
        }
        for (p, chunk) in params[t.range()]
            .iter_mut()
            .zip(view.data().chunks_exact(4))
        {
            *p = f32::from_le_bytes(chunk.try_into().expect("4 bytes"));
        }
    }
    Ok((cfg, params))
}
