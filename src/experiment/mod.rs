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
//! 4. inflections by the rule of [`results::inflection`].
//!
//! The [`Host`] sees progress at every loss read-back (it may wait there — the page's
//! pause — or stop the experiment) and the partial results after each budget.

pub mod config;
pub mod results;

pub use config::{ExperimentConfig, Protocol};
pub use results::ExperimentResults;

use crate::cpu::gaussian;
use crate::data::tasks::{task_source, UserText};
use crate::data::{batch, ByteSource, Split};
use crate::error::Error;
use crate::transformer::engine::{Engine, Hyper, Observer, Stretch, TrainState};
use crate::transformer::params::Layout;
use crate::transformer::schedule::{decay_steps, Lr, Schedule};
use crate::transformer::train::{Corpus, TrainConfig};
pub use results::Raw;
use results::*;
use serde::Serialize;

/// Where the experiment is, for progress bars and live loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// "pretrain", "perturb", "finetune", or "done" (once, at the end).
    pub phase: &'static str,
    pub budget_index: usize,
    pub budgets: usize,
    /// What runs now, in words: "budget 2/6: fine-tuning lr 0.003 seed 1".
    pub label: String,
    /// Steps of the current run done and in all (evaluations count as 0/1).
    pub step: usize,
    pub steps: usize,
    /// The latest training loss (nats per byte).
    pub loss: Option<f64>,
    /// Work done and in all, in training-step equivalents (for the ETA).
    pub work_done: f64,
    pub work_total: f64,
}

/// What runs the experiment: the CLI (progress on stderr) or the page's worker.
#[allow(async_fn_in_trait)]
pub trait Host {
    /// Called at every loss read-back. Err (e.g. [`Error::Cancelled`]) stops the
    /// experiment; the host may also wait here (pause).
    async fn progress(&mut self, p: &Progress) -> Result<(), Error>;
    /// The results so far, after each budget (and at the end).
    fn budget_done(&mut self, _partial: &ExperimentResults) {}
    /// The pre-trained weights of budget `budget_index`, for export.
    fn checkpoint(&mut self, _budget_index: usize, _params: &[f32]) {}
    /// Milliseconds on some clock.
    fn now_ms(&self) -> f64;
}

/// Evaluation costs about a third of a training step per batch (forward only).
const EVAL_COST: f64 = 1.0 / 3.0;

/// Total work of an experiment, in training-step equivalents.
pub fn work_total(cfg: &ExperimentConfig) -> f64 {
    let steps = cfg.budget_steps();
    let stable = match cfg.pretrain.protocol {
        Protocol::Independent => 0.0,
        Protocol::Wsd => {
            let last = *steps.last().expect("validated: budgets");
            (last - decay_steps(last, cfg.pretrain.decay_fraction)) as f64
        }
    };
    stable + (0..steps.len()).map(|b| budget_work(cfg, b)).sum::<f64>()
}

/// The work of budget `b` besides wsd's shared stable run: its own pre-training (the whole
/// run, or the decay branch), evaluation, perturbation and fine-tuning.
fn budget_work(cfg: &ExperimentConfig, b: usize) -> f64 {
    let s = cfg.budget_steps()[b];
    let pretrain = match cfg.pretrain.protocol {
        Protocol::Independent => s,
        Protocol::Wsd => decay_steps(s, cfg.pretrain.decay_fraction),
    } as f64;
    let evals = cfg.eval_batches as f64 * EVAL_COST;
    let f = &cfg.finetune;
    let runs = (f.lrs.len() * f.l2.len() * f.seeds) as f64;
    pretrain
        + evals
        + cfg.perturb.gammas.len() as f64 * cfg.perturb.draws as f64 * evals
        + runs * (f.steps as f64 + 2.0 * evals)
}

/// Training tokens of an experiment (pre-training and fine-tuning) and its approximate
/// floating-point operations: 6 per parameter per trained token (forward and backward),
/// plus attention's 12·n_layer·ctx·d_model, and a third of that per evaluated token.
pub fn cost(cfg: &ExperimentConfig) -> (f64, f64) {
    let params = Layout::new(&cfg.model).total as f64;
    let m = &cfg.model;
    let per_token = 6.0 * params + 12.0 * (m.n_layer * m.ctx * m.d_model) as f64;
    let work = work_total(cfg);
    let tokens_per_step = cfg.tokens_per_step() as f64;
    (work * tokens_per_step, work * tokens_per_step * per_token)
}

/// At most this many points of each training-loss curve are kept in the results.
const LOSS_POINTS: usize = 200;

fn downsample(xs: &[f64]) -> Vec<f64> {
    if xs.len() <= LOSS_POINTS {
        return xs.to_vec();
    }
    (0..LOSS_POINTS)
        .map(|i| xs[i * (xs.len() - 1) / (LOSS_POINTS - 1)])
        .collect()
}

impl Raw {
    fn results(
        &self,
        cfg: &ExperimentConfig,
        parameters: usize,
        backend: &str,
        elapsed_s: f64,
    ) -> ExperimentResults {
        let n = self.base.len();
        let budgets: Vec<u64> = cfg.pretrain.budgets[..n].to_vec();
        let mut perturb = Vec::new();
        for (g, &gamma) in cfg.perturb.gammas.iter().enumerate() {
            let stats: Vec<(f64, f64)> = (0..n).map(|b| mean_std(&self.perturb[b][g])).collect();
            let draws = cfg.perturb.draws as f64;
            let mean: Vec<Option<f64>> = stats.iter().map(|s| Some(s.0)).collect();
            let se: Vec<Option<f64>> = stats.iter().map(|s| Some(s.1 / draws.sqrt())).collect();
            perturb.push(PerturbCurve {
                gamma,
                pretrain_ppl_mean: stats.iter().map(|s| s.0).collect(),
                pretrain_ppl_std: stats.iter().map(|s| s.1).collect(),
                change_mean: stats.iter().zip(&self.base).map(|(s, b)| s.0 - b).collect(),
                inflection_budget: inflection(&budgets, &mean, &se),
            });
        }
        let f = &cfg.finetune;
        let mut finetune = Vec::new();
        let mut tuned = Vec::new();
        for (li, &l2) in f.l2.iter().enumerate() {
            let mut curves = Vec::new();
            for (ri, &lr) in f.lrs.iter().enumerate() {
                let mut c = FinetuneCurve {
                    task: f.task.clone(),
                    lr,
                    l2,
                    pretrain_ppl: vec![],
                    pretrain_ppl_std: vec![],
                    pretrain_change: vec![],
                    id_ppl: vec![],
                    id_ppl_std: vec![],
                    diverged: vec![],
                    inflection_budget: None,
                };
                let mut se = Vec::new();
                for b in 0..n {
                    let runs = &self.finetune[b][li][ri];
                    let ok: Vec<(f64, f64)> = runs.iter().flatten().copied().collect();
                    c.diverged.push(runs.len() - ok.len());
                    if ok.is_empty() {
                        for v in [
                            &mut c.pretrain_ppl,
                            &mut c.pretrain_ppl_std,
                            &mut c.pretrain_change,
                            &mut c.id_ppl,
                            &mut c.id_ppl_std,
                        ] {
                            v.push(None);
                        }
                        se.push(None);
                        continue;
                    }
                    let (pm, ps) = mean_std(&ok.iter().map(|r| r.0).collect::<Vec<_>>());
                    let (im, is) = mean_std(&ok.iter().map(|r| r.1).collect::<Vec<_>>());
                    c.pretrain_ppl.push(Some(pm));
                    c.pretrain_ppl_std.push(Some(ps));
                    c.pretrain_change.push(Some(pm - self.base[b]));
                    c.id_ppl.push(Some(im));
                    c.id_ppl_std.push(Some(is));
                    se.push(Some(ps / (ok.len() as f64).sqrt()));
                }
                c.inflection_budget = inflection(&budgets, &c.pretrain_ppl, &se);
                curves.push((c, se));
            }
            // Tuned: per budget, the learning rate with the best mean ID perplexity.
            let mut t = TunedCurve {
                l2,
                lr: vec![],
                pretrain_ppl: vec![],
                id_ppl: vec![],
                inflection_budget: None,
            };
            let mut se = Vec::new();
            for b in 0..n {
                let best = curves
                    .iter()
                    .filter_map(|(c, s)| c.id_ppl[b].map(|id| (c.lr, id, c.pretrain_ppl[b], s[b])))
                    .min_by(|x, y| x.1.total_cmp(&y.1));
                t.lr.push(best.map(|x| x.0));
                t.id_ppl.push(best.map(|x| x.1));
                t.pretrain_ppl.push(best.and_then(|x| x.2));
                se.push(best.and_then(|x| x.3));
            }
            t.inflection_budget = inflection(&budgets, &t.pretrain_ppl, &se);
            tuned.push(t);
            finetune.extend(curves.into_iter().map(|(c, _)| c));
        }
        ExperimentResults {
            schema_version: config::SCHEMA_VERSION,
            config: cfg.clone(),
            budgets,
            parameters,
            base: Base {
                pretrain_ppl: self.base.clone(),
                train_loss: self.train_loss.iter().map(|l| downsample(l)).collect(),
                diverged_at: self.diverged.clone(),
            },
            perturb,
            finetune,
            tuned,
            backend: backend.to_string(),
            elapsed_s,
            raw: self.clone(),
        }
    }
}

/// wsd's one warmup–stable run: its data stream, state and position carry across budgets.
struct StableRun {
    corpus: Corpus,
    state: TrainState,
    /// Steps taken so far.
    pos: usize,
    losses: Vec<f64>,
    diverged: Option<usize>,
}

/// The experiment's shared state while it runs.
struct Run<'a, 'g, H: Host> {
    cfg: &'a ExperimentConfig,
    engine: &'a mut Engine<'g>,
    host: &'a mut H,
    work_done: f64,
    work_total: f64,
    budget_index: usize,
}

/// The experiment's observer of one stretch of training: keeps its losses, counts its work
/// and reports progress to the host.
struct Reporter<'r, H: Host> {
    host: &'r mut H,
    work_done: &'r mut f64,
    progress: Progress,
    losses: &'r mut Vec<f64>,
}

impl<H: Host> Observer for Reporter<'_, H> {
    async fn losses(&mut self, done: usize, losses: &[f64]) -> Result<(), Error> {
        *self.work_done += losses.len() as f64;
        self.losses.extend(losses);
        self.progress.step = done;
        self.progress.loss = self.losses.last().copied();
        self.progress.work_done = *self.work_done;
        self.host.progress(&self.progress).await
    }
}

impl<H: Host> Run<'_, '_, H> {
    fn progress(
        &self,
        phase: &'static str,
        label: &str,
        step: usize,
        steps: usize,
        loss: Option<f64>,
    ) -> Progress {
        Progress {
            phase,
            budget_index: self.budget_index,
            budgets: self.cfg.pretrain.budgets.len(),
            label: label.to_string(),
            step,
            steps,
            loss,
            work_done: self.work_done,
            work_total: self.work_total,
        }
    }

    async fn report(
        &mut self,
        phase: &'static str,
        label: &str,
        step: usize,
        steps: usize,
        loss: Option<f64>,
    ) -> Result<(), Error> {
        let p = self.progress(phase, label, step, steps, loss);
        self.host.progress(&p).await
    }

    /// Trains steps `steps` of the schedule `lr` on `source`; appends their losses;
    /// returns the diverged step (counting from 1) if one did.
    #[allow(clippy::too_many_arguments)]
    async fn train(
        &mut self,
        phase: &'static str,
        label: &str,
        source: &mut dyn ByteSource,
        lr: &Lr,
        steps: std::ops::Range<usize>,
        hyper: Hyper,
        losses: &mut Vec<f64>,
    ) -> Result<Option<usize>, Error> {
        let n = steps.len();
        let mut reporter = Reporter {
            progress: self.progress(phase, label, 0, n, None),
            host: &mut *self.host,
            work_done: &mut self.work_done,
            losses,
        };
        let run = Stretch {
            source,
            lr,
            steps,
            hyper,
            eval: None,
        };
        let trained = self.engine.train(run, &mut reporter).await?;
        // Count the steps a divergence skipped as done, for the ETA.
        self.work_done += (n - trained.done) as f64;
        Ok(trained.diverged_at)
    }

    /// Continues the stable run to step `to` of the wsd schedule `lr` (nothing once it
    /// diverged or is there).
    async fn advance_stable(
        &mut self,
        stable: &mut StableRun,
        to: usize,
        label: &str,
        lr: &Lr,
        h: Hyper,
    ) -> Result<(), Error> {
        if stable.diverged.is_some() || to <= stable.pos {
            return Ok(());
        }
        self.engine.load(&stable.state)?;
        let source = stable.corpus.train_source();
        stable.diverged = self
            .train(
                "pretrain",
                label,
                source,
                lr,
                stable.pos..to,
                h,
                &mut stable.losses,
            )
            .await?;
        stable.state = self.engine.state().await?;
        stable.pos = to;
        Ok(())
    }

    async fn evaluate(&mut self, batches: &[Vec<u8>]) -> Result<f64, Error> {
        let loss = self.engine.evaluate(batches).await?;
        self.work_done += batches.len() as f64 * EVAL_COST;
        Ok(loss.exp())
    }
}

/// A fine-tuning task's train stream (repeat `stream`) or its held-out stream.
fn task_stream(cfg: &ExperimentConfig, split: Split, stream: u64) -> Box<dyn ByteSource> {
    let f = &cfg.finetune;
    match (&f.user_text, f.task.as_str()) {
        (Some(text), "user") => {
            let user = UserText::new(text).expect("validated user text");
            let mut source: Box<dyn ByteSource> = Box::new(user.source(split));
            // Repeats start at different places of the user's text.
            let mut skip = vec![0u8; (stream as usize * 997) % text.len().max(1)];
            source.fill(&mut skip);
            source
        }
        (_, task) => task_source(task, cfg.seed, split, stream).expect("validated task"),
    }
}

/// σ per parameter for the perturbation: its tensor's init std; constant-initialized
/// tensors (norm gains, biases) get none unless `perturb_constant` (then σ = 0.02).
pub fn noise_scale(layout: &Layout, perturb_constant: bool) -> Vec<f32> {
    layout
        .tensors
        .iter()
        .flat_map(|t| {
            let s = if t.init_std > 0.0 {
                t.init_std
            } else if perturb_constant {
                0.02
            } else {
                0.0
            };
            std::iter::repeat_n(s, t.len())
        })
        .collect()
}

/// Draw `draw` of θ + γ·σ ⊙ z, z standard normal from the experiment seed's Philox stream
/// (the same z for every budget: common random numbers make the curves comparable).
pub fn perturbed(params: &[f32], sigma: &[f32], gamma: f64, seed: u64, draw: usize) -> Vec<f32> {
    let n = params.len();
    let z = gaussian(seed ^ 0x7065_7274, (draw * n) as u64, 1.0, n);
    params
        .iter()
        .zip(sigma)
        .zip(&z)
        .map(|((w, s), z)| w + gamma as f32 * s * z)
        .collect()
}

/// Runs the whole experiment on `engine` (sized for `cfg.batch` and `cfg.eval_batches`).
/// `resume`: the raw measurements of an earlier, unfinished run of the same config (its
/// results' `raw`): its finished budgets are kept and not run again (wsd re-runs only the
/// stable phase up to the next branch point).
pub async fn run<H: Host>(
    cfg: &ExperimentConfig,
    engine: &mut Engine<'_>,
    host: &mut H,
    resume: Option<Raw>,
) -> Result<ExperimentResults, Error> {
    let start = host.now_ms();
    let backend = engine.describe();
    let layout = engine.layout().clone();
    let pcfg = &cfg.pretrain;
    // The pre-training language's corpus (its training stream from the start, and the
    // held-out batches every budget is evaluated on).
    let corpus = || {
        Corpus::new(&TrainConfig {
            seed: cfg.seed,
            model: cfg.model.clone(),
            batch: cfg.batch,
            eval_batches: cfg.eval_batches,
            ..TrainConfig::default()
        })
    };
    let pre_hyper = Hyper {
        weight_decay: pcfg.weight_decay,
        grad_clip: pcfg.grad_clip,
        l2: 0.0,
    };
    let steps = cfg.budget_steps();
    let heldout = corpus().eval;
    let task_heldout: Vec<Vec<u8>> = {
        let mut s = task_stream(cfg, Split::Heldout, 0);
        (0..cfg.eval_batches)
            .map(|_| batch(s.as_mut(), cfg.batch, cfg.model.ctx))
            .collect()
    };
    let init = layout.init(cfg.seed);
    let sigma = noise_scale(&layout, cfg.perturb.perturb_constant);
    // Resuming: the finished budgets' measurements come from the earlier run.
    let mut data = resume.unwrap_or_default();
    let skip = data.base.len().min(steps.len());
    let mut run = Run {
        cfg,
        engine,
        host,
        work_done: 0.0,
        work_total: work_total(cfg),
        budget_index: 0,
    };
    // wsd's linear warmup: over `warmup_fraction` of the first budget.
    let wsd_warmup = ((pcfg.warmup_fraction * steps[0] as f64).ceil() as usize).max(1);
    let mut stable = StableRun {
        corpus: corpus(),
        state: TrainState::fresh(init.clone()),
        pos: 0,
        losses: Vec::new(),
        diverged: None,
    };
    // wsd: budget b's schedule is the stable run's, decaying over its last steps; its
    // steps before the decay are the stable run's, those after are its branch.
    let wsd = |total: usize| Lr {
        schedule: Schedule::Wsd {
            decay_fraction: pcfg.decay_fraction,
        },
        peak: pcfg.lr,
        warmup: wsd_warmup,
        total,
    };
    for (bi, &s_total) in steps.iter().enumerate() {
        run.budget_index = bi;
        let label = format!("budget {}/{}: pre-training", bi + 1, steps.len());
        if bi < skip {
            // Finished in the earlier run: wsd still needs its stable phase for what follows.
            if pcfg.protocol == Protocol::Wsd {
                let branch_at = s_total - decay_steps(s_total, pcfg.decay_fraction);
                let label = format!("budget {}/{}: stable phase (resuming)", bi + 1, steps.len());
                run.advance_stable(&mut stable, branch_at, &label, &wsd(s_total), pre_hyper)
                    .await?;
            }
            run.work_done += budget_work(cfg, bi);
            continue;
        }
        let mut losses = Vec::new();
        let diverged = match pcfg.protocol {
            Protocol::Independent => {
                let mut corpus = corpus();
                let lr = Lr::new(Schedule::Cosine, pcfg.lr, pcfg.warmup_fraction, s_total);
                run.engine.load(&TrainState::fresh(init.clone()))?;
                run.train(
                    "pretrain",
                    &label,
                    corpus.train_source(),
                    &lr,
                    0..s_total,
                    pre_hyper,
                    &mut losses,
                )
                .await?
            }
            Protocol::Wsd => {
                let lr = wsd(s_total);
                let branch_at = s_total - decay_steps(s_total, pcfg.decay_fraction);
                // Continue the stable run to this budget's branch point.
                let label_s = format!("budget {}/{}: stable phase", bi + 1, steps.len());
                run.advance_stable(&mut stable, branch_at, &label_s, &lr, pre_hyper)
                    .await?;
                run.engine.load(&stable.state)?;
                losses.extend(&stable.losses);
                if stable.diverged.is_some() {
                    stable.diverged
                } else {
                    // The decay branch: the same data stream from the branch point.
                    let mut branch = corpus();
                    for _ in 0..branch_at {
                        branch.next_batch(cfg.batch, cfg.model.ctx);
                    }
                    run.train(
                        "pretrain",
                        &label,
                        branch.train_source(),
                        &lr,
                        branch_at..s_total,
                        pre_hyper,
                        &mut losses,
                    )
                    .await?
                }
            }
        };
        let pretrained = run.engine.params().await?;
        run.host.checkpoint(bi, &pretrained);
        data.base.push(run.evaluate(&heldout).await?);
        data.train_loss.push(losses);
        data.diverged.push(diverged);

        // Perturbation: the same draws z at every budget (common random numbers).
        let mut per_gamma = Vec::new();
        for &gamma in &cfg.perturb.gammas {
            let mut draws = Vec::new();
            for m in 0..cfg.perturb.draws {
                let noisy = perturbed(&pretrained, &sigma, gamma, cfg.seed, m);
                run.engine.load(&TrainState::fresh(noisy))?;
                draws.push(run.evaluate(&heldout).await?);
                let label = format!(
                    "budget {}/{}: perturbation γ = {gamma}",
                    bi + 1,
                    steps.len()
                );
                run.report("perturb", &label, m + 1, cfg.perturb.draws, None)
                    .await?;
            }
            per_gamma.push(draws);
        }
        data.perturb.push(per_gamma);

        // Fine-tuning from the pre-trained weights, fresh AdamW state.
        let f = &cfg.finetune;
        let mut per_l2 = Vec::new();
        for &l2 in &f.l2 {
            let mut per_lr = Vec::new();
            for &lr in &f.lrs {
                let mut per_seed = Vec::new();
                let ft = Lr::new(Schedule::Cosine, lr, f.warmup_fraction, f.steps);
                let h = Hyper {
                    weight_decay: f.weight_decay,
                    grad_clip: f.grad_clip,
                    l2,
                };
                for seed in 0..f.seeds {
                    run.engine.load(&TrainState::fresh(pretrained.clone()))?;
                    run.engine.set_anchor(&pretrained)?;
                    let mut source = task_stream(cfg, Split::Train, seed as u64);
                    let label = format!(
                        "budget {}/{}: fine-tuning lr {lr} λ {l2} seed {seed}",
                        bi + 1,
                        steps.len()
                    );
                    let mut ft_losses = Vec::new();
                    let diverged = run
                        .train(
                            "finetune",
                            &label,
                            source.as_mut(),
                            &ft,
                            0..f.steps,
                            h,
                            &mut ft_losses,
                        )
                        .await?;
                    per_seed.push(match diverged {
                        Some(_) => {
                            run.work_done += 2.0 * cfg.eval_batches as f64 * EVAL_COST;
                            None
                        }
                        None => {
                            let pre = run.evaluate(&heldout).await?;
                            let id = run.evaluate(&task_heldout).await?;
                            Some((pre, id))
                        }
                    });
                }
                per_lr.push(per_seed);
            }
            per_l2.push(per_lr);
        }
        data.finetune.push(per_l2);
        let elapsed = (run.host.now_ms() - start) / 1e3;
        let partial = data.results(cfg, layout.total, &backend, elapsed);
        run.host.budget_done(&partial);
    }
    run.report("done", "finished", 1, 1, None).await?;
    let elapsed = (run.host.now_ms() - start) / 1e3;
    Ok(data.results(cfg, layout.total, &backend, elapsed))
}
