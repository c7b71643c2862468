//! Small decoder-only transformers (science.md §3).
//! - `config`, `params`: the model's configuration and its flat parameter layout (names,
//!   shapes, offsets, init stds, weight-decay mask), shared by every backend.
//! - `model` over `crate::cpu::layers`: the CPU reference, every layer a pair of plain
//!   functions `*_forward`/`*_backward` over flat row-major f32 buffers (llm.c style),
//!   checked against finite differences (tests/transformer_layers.rs,
//!   tests/transformer_model.rs). The layers live in the CPU numerics crate (src/cpu), which
//!   the page's build compiles for speed.
//! - `kernels`, `gpu`: the same layers as WGSL kernels of the same names, and the model on
//!   the GPU with its training step built once as programs, checked against the CPU
//!   reference (tests/common/transformer_checks.rs); `optim`: AdamW's settings, the
//!   divergence guard and their GPU kernels.
//! - `schedule`: the learning-rate schedules (cosine, wsd with its branches, constant).
//! - `micro`: a step's batch as a fixed number of micro-batches, their gradients summed in
//!   one order, so that several cores share a step with the same bits as one.
//! - `engine`: the one owner of training over both backends (stretches of steps with a
//!   schedule, loss read-back, evaluation, state save and restore, L2 pull); `train`: the
//!   `overtrain train` run on it; `checkpoint`: safetensors; `bench`: throughput;
//!   `sharpness`: the Hessian's top eigenvalue by power iteration on its products.

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod gpu;
pub mod kernels;
pub mod micro;
pub mod model;
pub mod optim;
pub mod params;
pub mod schedule;
pub mod sharpness;
pub mod train;
