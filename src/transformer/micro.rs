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
//!
//! In the page, a Web Worker has one core; other workers that have no unit of their own
//! take some of its micro-batches ([`RemoteParts`]): each computes a part's gradient with the
//! same function ([`PartBuffers::gradient`]), and the parts are still added in order, so
//! the bits do not depend on who computed them.

use super::config::ModelConfig;
use super::gpu::MemoryEstimate;
use super::model::{backward_with, forward_into, Activations, Scratch};
use super::params::Layout;
use crate::cpu::par;
use crate::error::Error;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

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

/// One micro-batch's buffers: its own activations, backward scratch and gradient, for
/// `rows` sequences of `t` bytes.
pub struct PartBuffers {
    rows: usize,
    t: usize,
    acts: Activations,
    scratch: Scratch,
    /// Its gradient, from the latest [`PartBuffers::gradient`].
    pub grads: Vec<f32>,
    /// Its mean loss, from the latest pass.
    pub loss: f64,
}

impl PartBuffers {
    pub fn new(cfg: &ModelConfig, params: usize, rows: usize, t: usize) -> Self {
        PartBuffers {
            rows,
            t,
            acts: Activations::new(cfg, rows, t),
            scratch: Scratch::new(cfg, rows, t),
            grads: vec![0.0; params],
            loss: 0.0,
        }
    }

    /// The sequences it takes.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Its forward pass on inputs `x` and targets `y` (its rows only), its loss into `loss`.
    pub fn forward(
        &mut self,
        cfg: &ModelConfig,
        layout: &Layout,
        params: &[f32],
        x: &[u8],
        y: &[u8],
    ) {
        self.loss = forward_into(&mut self.acts, cfg, layout, params, x, y, self.rows, self.t);
    }

    /// Its loss and its gradient of its share of the mean over a batch of `n` bytes, on its
    /// rows of inputs `x` and targets `y`: into `loss` and `grads` (zero when the loss is not
    /// finite: the step diverges on its loss, and this part adds nothing).
    pub fn gradient(
        &mut self,
        cfg: &ModelConfig,
        layout: &Layout,
        params: &[f32],
        x: &[u8],
        y: &[u8],
        n: usize,
    ) {
        self.forward(cfg, layout, params, x, y);
        self.grads.fill(0.0);
        if self.loss.is_finite() {
            let p = &mut *self;
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
    }
}

/// A micro-batch: the batch's sequences it takes, and its buffers.
struct Part {
    seqs: Range<usize>,
    buffers: PartBuffers,
}

impl Part {
    /// Its sequences' bytes of a batch's inputs or targets (`t` bytes each).
    fn rows<'a>(&self, batch: &'a [u8], t: usize) -> &'a [u8] {
        &batch[self.seqs.start * t..self.seqs.end * t]
    }
}

/// One micro-batch's work for another worker: its rows of the step's inputs and targets,
/// the bytes of the whole batch (its gradient is its share of the batch's mean), and which
/// of the helpers takes it.
pub struct PartJob<'a> {
    pub x: &'a [u8],
    pub y: &'a [u8],
    pub batch_bytes: usize,
    pub helper: usize,
}

/// A micro-batch's result from another worker: as [`PartBuffers::gradient`] leaves it.
pub struct PartAnswer {
    pub loss: f64,
    pub grads: Vec<f32>,
}

/// Other workers that take micro-batches of this one's steps (the page's idle Web Workers,
/// see www/worker.js). `send` hands out the jobs of a step and returns at once; `receive`
/// waits for their answers, in the jobs' order. Natively, idle cores join through
/// [`crate::cpu::par`] instead.
pub trait RemoteParts {
    /// The helpers ready now (0: this step's micro-batches are all computed here).
    fn helpers(&self) -> usize;
    fn send(&self, model: &ModelConfig, params: &[f32], jobs: &[PartJob<'_>]) -> Result<(), Error>;
    #[allow(clippy::type_complexity)]
    fn receive(&self) -> Pin<Box<dyn Future<Output = Result<Vec<PartAnswer>, Error>> + '_>>;
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
                buffers: PartBuffers::new(cfg, params, seqs.len(), t),
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
        Self::compute(&mut self.parts, cfg, layout, params, x, y, t, n);
        self.sum(grads, n)
    }

    /// [`MicroBatches::gradient`] with the last micro-batches computed by `remote`'s
    /// helpers (the same bits): the parts cut into 1 + helpers contiguous groups (at least
    /// one part each), the first computed here while the others are away.
    #[allow(clippy::too_many_arguments)]
    pub async fn gradient_shared(
        &mut self,
        cfg: &ModelConfig,
        layout: &Layout,
        params: &[f32],
        x: &[u8],
        y: &[u8],
        grads: &mut [f32],
        remote: Option<&dyn RemoteParts>,
    ) -> Result<f64, Error> {
        // (One micro-batch has nothing to share: no question to the helpers then.)
        let remote = remote.filter(|_| self.parts.len() > 1);
        let helpers = remote.map_or(0, |r| r.helpers()).min(self.parts.len() - 1);
        let Some(remote) = remote.filter(|_| helpers > 0) else {
            return Ok(self.gradient(cfg, layout, params, x, y, grads));
        };
        let (t, n) = (self.t, x.len());
        let groups = split(self.parts.len(), 1 + helpers);
        let away = groups[0].end;
        let jobs: Vec<PartJob> = groups[1..]
            .iter()
            .enumerate()
            .flat_map(|(helper, group)| {
                self.parts[group.clone()].iter().map(move |p| PartJob {
                    x: p.rows(x, t),
                    y: p.rows(y, t),
                    batch_bytes: n,
                    helper,
                })
            })
            .collect();
        remote.send(cfg, params, &jobs)?;
        Self::compute(&mut self.parts[..away], cfg, layout, params, x, y, t, n);
        let answers = remote.receive().await?;
        if answers.len() != jobs.len() {
            return Err(Error::Io(format!(
                "{} micro-batches came back of {} sent",
                answers.len(),
                jobs.len()
            )));
        }
        for (p, a) in self.parts[away..].iter_mut().zip(answers) {
            if a.grads.len() != p.buffers.grads.len() {
                return Err(Error::Io(
                    "a micro-batch's gradient has the wrong size".into(),
                ));
            }
            p.buffers.grads = a.grads;
            p.buffers.loss = a.loss;
        }
        Ok(self.sum(grads, n))
    }

    /// Each part's forward and backward passes, on the cores allowed.
    #[allow(clippy::too_many_arguments)]
    fn compute(
        parts: &mut [Part],
        cfg: &ModelConfig,
        layout: &Layout,
        params: &[f32],
        x: &[u8],
        y: &[u8],
        t: usize,
        n: usize,
    ) {
        par::each(parts, |_, p| {
            let (x, y) = (p.rows(x, t), p.rows(y, t));
            p.buffers.gradient(cfg, layout, params, x, y, n);
        });
    }

    /// The parts' gradients into `grads`, element by element in micro-batch order, on the
    /// cores allowed; returns the mean loss over the batch's `n` bytes.
    fn sum(&self, grads: &mut [f32], n: usize) -> f64 {
        let parts = &self.parts;
        const CHUNK: usize = 4096;
        par::rows(grads, CHUNK, CHUNK * parts.len(), |first, out| {
            let at = first * CHUNK;
            out.copy_from_slice(&parts[0].buffers.grads[at..at + out.len()]);
            for p in &parts[1..] {
                crate::cpu::add_into(out, &p.buffers.grads[at..]);
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
            let (x, y) = (p.rows(x, t), p.rows(y, t));
            p.buffers.forward(cfg, layout, params, x, y)
        });
        self.loss(x.len())
    }

    /// The micro-batches' mean losses weighted by their rows, in order: the mean over the
    /// batch's `n` rows (one micro-batch: its own, exactly).
    fn loss(&self, n: usize) -> f64 {
        self.parts.iter().fold(0.0, |sum, p| {
            sum + p.buffers.loss * ((p.seqs.len() * self.t) as f64 / n as f64)
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
