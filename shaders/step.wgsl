// The values of one training step, in the one small uniform buffer the host rewrites
// before each step (src/transformer/optim.rs `StepValues`); the step's dispatches are
// built once and read them here. Prepended to the shaders that use it.
//   lr, weight_decay: AdamW's; bc1, bc2: its bias corrections 1 − β^t of step t = step + 1
//   l2: λ of the pull toward the anchor weights; clip: the gradient-norm clip (0 = none)
//   step: the 0-based step (the guard's status is step + 1); slot: its loss's slot
//   sam_rho: SAM's radius ρ (0: plain AdamW); then padding to 48 bytes
struct Step { lr: f32, bc1: f32, bc2: f32, weight_decay: f32, l2: f32, clip: f32, step: u32, slot: u32, sam_rho: f32, _pad0: u32, _pad1: u32, _pad2: u32 }
