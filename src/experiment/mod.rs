//! The catastrophic-overtraining experiment on transformers (science.md §3 "Experiment
//! protocol"), written once over the training [`Engine`] so it runs on the CPU reference
//! and on the GPU, natively and in the page's worker:
//!
//! 1. pre-train to each token budget (`independent`: one cosine run per budget from the
//!    same init and data order; `wsd`: one warmup–stable run with a decay branch to zero
//!    from its state at each budget's branch point); base metric: held-out perplexity;
//! 2. perturb: M draws of θ + γ·σ_init ⊙ z per γ (the same draws z at every budget);
//! 3. fine-tune from the pre-trained weights with fresh AdamW state, for each λ, learning
//!    rate and seed (seeds vary the task's data order); measure held-out pre-training and
//!    task (ID) perplexity; diverged runs are recorded and left out of the means;
//! 4. inflections by the one rule of both labs, [`crate::inflection`].
//!
//! The [`Host`] sees progress at every loss read-back (it may wait there — the page's
//! pause — or stop the experiment) and the partial results after each budget.

pub mod config;
pub mod executors;
pub mod export;
pub mod plan;
pub mod results;
pub mod scheduler;
pub mod shard;
pub mod units;

pub use config::{ExperimentConfig, Protocol, Sweep};
#[cfg(not(target_arch = "wasm32"))]
pub use executors::run_threads;
pub use executors::{run, run_unit, Engines};
pub use plan::{work_total, Job, Unit};
pub use results::{ExperimentResults, Raw, SweepResults};
pub use scheduler::{cost, Event, Host, Progress, Scheduler};
pub use units::{noise_scale, perturbed, Output, UnitProgress, Watch};
