//! The CPU numerics both labs share, over flat row-major f32 slices (llm.c style):
//! matrix products ([`matmul`]), the optimizer's pieces ([`adamw`], [`l2_pull`],
//! [`step_guard`], SAM's [`sam_ascent`] and [`sam_restore`]), counter-based Gaussian noise ([`gaussian`]) and the transformer's
//! `exp`/`tanh` ([`math`]), and the split of a step's large products over several cores
//! with the same bits as on one ([`par`]). The GPU kernels of the
//! same names compute the same things (tests pair them).

pub mod math;
mod matmul;
mod noise;
mod optim;
pub mod par;
pub mod simd;

pub use matmul::{matmul, matmul_tn, matmul_tn_acc, transpose};
pub use noise::{gaussian, philox};
pub use optim::{adamw, l2_pull, sam_ascent, sam_restore, step_guard, AdamW};
