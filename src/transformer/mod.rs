//! Small decoder-only transformers (science.md §3), in progress. `layers` holds the CPU
//! reference of every layer as a pair of plain functions, `*_forward` and `*_backward`,
//! over flat row-major f32 buffers (llm.c style), each checked against finite differences
//! in tests/transformer_layers.rs. The model, its training loop and the WGSL kernels of the
//! same names build on them.

pub mod checkpoint;
pub mod config;
pub mod layers;
pub mod model;
pub mod params;
pub mod train;
