//! overtrain: an interactive simulator of *catastrophic overtraining*
//! (Springer et al., "Overtrained Language Models Are Harder to Fine-Tune", 2025).
//!
//! One library, three shells: the `overtrain` command line (`src/main.rs`), the page's
//! Web Worker (`src/web/`, wasm only) and the tests all call the same `run(config)`
//! functions, so a figure in the page and one from the CLI come from the same code.
//!
//! - [`linear`]: the paper's two-layer linear transfer model (science.md §2).
//! - [`plot`]: pure functions from results to SVG charts (plotters).
//! - [`error`]: configuration errors that name the field and its allowed range.

pub mod data;
pub mod error;
pub mod experiment;
pub mod gpu;
pub mod linear;
pub mod plot;
pub mod transformer;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::ConfigError;
