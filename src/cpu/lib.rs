//! The CPU numerics of both labs, over flat row-major f32 slices (llm.c style): matrix
//! products ([`matmul`]), the transformer's layers as `*_forward` / `*_backward` pairs
//! ([`layers`]), the linear lab's model ([`linear`]), the optimizer's pieces ([`adamw`],
//! [`l2_pull`], [`step_guard`], SAM's [`sam_ascent`] and [`sam_restore`]), element-wise
//! sums ([`add`], [`add_into`], [`scale`]), counter-based Gaussian noise ([`gaussian`]),
//! `exp`/`tanh` ([`math`]), and the split of a step's large products over several cores
//! with the same bits as on one ([`par`]). The GPU kernels of the same names compute the
//! same things (tests pair them).
//!
//! **Why a crate of its own.** Every loop a training step or a linear-lab run spends its
//! time in is here, and nothing else is. The page's build (the `site` profile in the
//! workspace's Cargo.toml) compiles this crate for speed and the rest of the simulator —
//! configs, results, plots, serde's code, the page's entry points — for size: one crate,
//! one optimisation level, so the split has to be a crate boundary. Its entry points are
//! `#[inline(never)]`: rustc may copy a small function into a caller in another crate,
//! which the `site` build would then compile for size (a scalar loop instead of a vector
//! one). The crate depends on nothing of the simulator's.

mod elementwise;
pub mod layers;
pub mod linear;
pub mod math;
mod matmul;
mod noise;
mod optim;
pub mod par;
pub mod simd;

pub use elementwise::{add, add_into, scale};
pub use matmul::{matmul, matmul_tn, matmul_tn_acc, transpose};
pub use noise::{gaussian, philox};
pub use optim::{adamw, l2_pull, sam_ascent, sam_restore, step_guard, AdamW};
