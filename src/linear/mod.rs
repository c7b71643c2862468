//! The paper's two-layer linear transfer model (science.md §2), CPU path.
//!
//! `config` (schema, defaults, validation) → `experiment::run` (pre-training, perturbation,
//! fine-tuning over flat f32 buffers from `model`) → `results` (plain data) with the
//! idealized curves of `theory` beside the measured ones.

pub mod basis;
pub mod config;
pub mod experiment;
pub mod model;
pub mod results;
pub mod theory;

pub use config::{Basis, LinearConfig, Spectrum};
pub use experiment::run;
pub use results::LinearResults;
