//! One training step's batch as a fixed number of micro-batches: each micro-batch's forward
//! and backward passes run whole on one core ([`crate::cpu::par::each`]), and their
//! gradients are summed in micro-batch order. The count comes from the config
//! (`micro_batches`), never from the cores, so a step is the same bits on 1, 2, 3 or 16
//! threads, natively and in wasm (which computes them one after another). Compared with
//! splitting each layer by rows ([`crate::cpu::par::rows`], which the cores left over still
//! do inside a micro-batch), the cores meet twice a step instead of at every layer.
//!
//! The sums over a batch's rows (the weight gradients, the mean loss) are what the split
//! changes: each micro-batch sums its own rows, then the parts are added. One micro-batch
//! is the whole batch as before.

use super::config::ModelConfig;
use super::gpu::MemoryEstimate;
use super::model::{backward_with, forward_into, Activations, Scratch};
use super::params::Layout;
use crate::cpu::par;
use std::ops::Range;

/// `train`'s default count (the experiment presets take 1, the whole batch, as their
/// records do): parts for the cores of a laptop, each still a few sequences, so that its
/// products run at full speed (8 parts of the default model were slower than 4 here).
pub const DEFAULT_COUNT: usize = 4;

/// The largest count a config may ask for.
pub const MAX_COUNT: usize = 64;

/// The sequences of a batch of `b` that each of `count` micro-batches takes: contiguous,
/// in order, sizes differing by at most one (the first ones larger). `count` is capped at
/// `b`: a micro-batch has at least one sequence.
pub fn split(b: usize, count: usize) -> Vec<Range<usize>> {
    let count = count.clamp(1, b.max(1));
    let (base, extra) = (b / count, b % count);
    let mut start = 0;
    (0..count)
        .map(|i| {
            let len = base + usize::from(i < extra);
            start += len;
            start - len..start
        })
        .collect()
}

/// One micro-batch's buffers: its own activations, backward scratch and gradient.
struct Part {
    /// The batch's sequences it takes.
    seqs: Range<usize>,
    acts: Activations,
    scratch: Scratch,
    grads: Vec<f32>,
    /// Its mean loss, from the latest pass.
    loss: f64,
}

impl Part {
    /// Its sequences' bytes of a batch's inputs or targets (`t` bytes each).
    fn rows<'a>(&self, batch: &'a [u8], t: usize) -> &'a [u8] {
        &batch[self.seqs.start * t..self.seqs.end * t]
    }

    /// Its forward pass on its rows of inputs `x` and targets `y`, its loss into `loss`.
    fn forward(
        &mut self,
        cfg: &ModelConfig,
        layout: &Layout,
        params: &[f32],
        x: &[u8],
        y: &[u8],
        t: usize,
    ) {
        let (x, y) = (self.rows(x, t), self.rows(y, t));
        self.loss = forward_into(
            &mut self.acts,
            cfg,
            layout,
            params,
            x,
            y,
            self.seqs.len(),
            t,
        );
    }
}

/// The micro-batches of a model trained on batches of `b` sequences of `t` bytes.
pub struct MicroBatches {
    parts: Vec<Part>,
    t: usize,
}

impl MicroBatches {
    pub fn new(cfg: &ModelConfig, params: usize, b: usize, t: usize, count: usize) -> Self {
        let parts = split(b, count)
            .into_iter()
            .map(|seqs| Part {
                acts: Activations::new(cfg, seqs.len(), t),
                scratch: Scratch::new(cfg, seqs.len(), t),
                grads: vec![0.0; params],
                loss: 0.0,
                seqs,
            })
            .collect();
        MicroBatches { parts, t }
    }

    /// The batch's mean loss at `params` on inputs `x` and targets `y` (B·T bytes each),
    /// and its gradient into `grads` (overwritten): each micro-batch's gradient of its share
    /// of the batch's mean, summed in micro-batch order. A micro-batch whose loss is not
    /// finite adds nothing (the step diverges on its loss).
    pub fn gradient(
        &mut self,
        cfg: &ModelConfig,
        layout: &Layout,
        params: &[f32],
        x: &[u8],
        y: &[u8],
        grads: &mut [f32],
    ) -> f64 {
        let (t, n) = (self.t, x.len());
        par::each(&mut self.parts, |_, p| {
            p.forward(cfg, layout, params, x, y, t);
            p.grads.fill(0.0);
            if p.loss.is_finite() {
                let (x, y) = (p.rows(x, t), p.rows(y, t));
                backward_with(
                    &mut p.scratch,
                    cfg,
                    layout,
                    params,
                    &mut p.grads,
                    &p.acts,
                    x,
                    y,
                    n,
                );
            }
        });
        // The sum, element by element in micro-batch order, on the cores allowed.
        let parts = &self.parts;
        const CHUNK: usize = 4096;
        par::rows(grads, CHUNK, CHUNK * parts.len(), |first, out| {
            let at = first * CHUNK;
            out.copy_from_slice(&parts[0].grads[at..at + out.len()]);
            for p in &parts[1..] {
                for (o, g) in out.iter_mut().zip(&p.grads[at..]) {
                    *o += g;
                }
            }
        });
        self.loss(n)
    }

    /// The batch's mean loss at `params` (the forward passes only).
    pub fn forward(
        &mut self,
        cfg: &ModelConfig,
        layout: &Layout,
        params: &[f32],
        x: &[u8],
        y: &[u8],
    ) -> f64 {
        let t = self.t;
        par::each(&mut self.parts, |_, p| {
            p.forward(cfg, layout, params, x, y, t)
        });
        self.loss(x.len())
    }

    /// The micro-batches' mean losses weighted by their rows, in order: the mean over the
    /// batch's `n` rows (one micro-batch: its own, exactly).
    fn loss(&self, n: usize) -> f64 {
        self.parts.iter().fold(0.0, |sum, p| {
            sum + p.loss * ((p.seqs.len() * self.t) as f64 / n as f64)
        })
    }
}

/// The CPU path's memory for `cfg` on batches of `b` sequences in `micro_batches` parts
/// ([`super::micro`]) with `eval_batches` held-out batches: the sum of the buffers each
/// micro-batch's [`Activations::new`] and [`Scratch::new`] allocate (their plans) and its
/// gradient, the engine's flat buffers and the token batches; `optimizer` counts the
/// gradients, AdamW's two moments and the copies a run keeps (the anchor of fine-tuning, the
/// pre-trained and initial weights, a saved state, SAM's saved weights: 8 in all) and each
/// micro-batch's gradient. The CLI refuses what exceeds the machine.
pub fn cpu_memory_estimate(
    cfg: &ModelConfig,
    b: usize,
    micro_batches: usize,
    eval_batches: usize,
) -> MemoryEstimate {
    let bytes = |floats: usize| (floats as u64).saturating_mul(4);
    let p = Layout::new(cfg).total;
    let parts = split(b, micro_batches);
    let (mut activations, mut largest) = (0usize, ("parameters", p));
    for seqs in &parts {
        let (acts, scratch) = (
            Activations::plan(cfg, seqs.len(), cfg.ctx),
            Scratch::plan(cfg, seqs.len(), cfg.ctx),
        );
        let mut buffers = acts.named();
        buffers.extend(scratch.named());
        for (name, &len) in buffers {
            activations = activations.saturating_add(len);
            if len > largest.1 {
                largest = (name, len);
            }
        }
    }
    // A batch: B rows of T + 1 bytes; the training batch also as inputs and targets.
    let batch = b.saturating_mul(cfg.ctx.saturating_add(1)) as u64;
    MemoryEstimate {
        parameters: bytes(p),
        optimizer: bytes(p.saturating_mul(8 + parts.len())),
        activations: bytes(activations),
        data: batch.saturating_mul(2 + eval_batches as u64),
        largest_buffer: largest.0.to_string(),
        largest_bytes: bytes(largest.1),
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn a_split_covers_the_batch_in_order_with_sizes_one_apart() {
        for b in 1..40 {
            for count in 1..12 {
                let parts = split(b, count);
                assert_eq!(parts.len(), count.min(b));
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts.last().unwrap().end, b);
                assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
                let (min, max) = parts.iter().fold((usize::MAX, 0), |(lo, hi), p| {
                    (lo.min(p.len()), hi.max(p.len()))
                });
                assert!(min >= 1 && max - min <= 1, "{b} in {count}: {parts:?}");
            }
        }
    }
}
