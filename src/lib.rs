//! overtrain: an interactive simulator of *catastrophic overtraining*
//! (Springer et al., "Overtrained Language Models Are Harder to Fine-Tune", 2025).
//!
//! One library, three shells: the `overtrain` command line (`src/cli/`), the page's
//! Web Worker (`src/web/`, wasm only) and the tests all call the same `run(config)`
//! functions, so a figure in the page and one from the CLI come from the same code.
//!
//! - [`linear`]: the paper's two-layer linear transfer model (science.md §2).
//! - [`transformer`], [`experiment`], [`data`]: small transformers, the catastrophic-
//!   overtraining experiment on them (science.md §3), and their byte data.
//! - [`cpu`]: the CPU numerics both labs share; [`gpu`]: the wgpu runtime and the kernels
//!   both labs share; [`backend`]: which of the two runs a computation.
//! - [`plot`]: pure functions from results to SVG charts (plotters).
//! - [`error`]: the crate's error type (its kinds: config, gpu, data, cancelled, io) and
//!   configuration errors that name the field and its allowed range.
//! - [`schema`]: every config field's label, help and allowed range, for the page's forms.

pub mod backend;
pub use overtrain_cpu as cpu;
pub mod data;
pub mod error;
pub mod exercises;
pub mod experiment;
pub mod gpu;
pub mod inflection;
pub mod json;
pub mod linear;
pub mod plot;
pub mod schema;
pub mod transformer;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{ConfigError, Error};
