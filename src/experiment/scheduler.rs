//! The one schedule of an experiment's units, whoever runs them ([`Scheduler`]): hands
//! them out as their inputs become ready and turns their outputs into results budget by
//! budget; with what a host of an experiment hears ([`Host`], [`Progress`]) and its cost.

use super::config::ExperimentConfig;
use super::plan::{self, Unit};
use super::results::*;
use super::units::{Context, Output, UnitProgress};
use crate::error::Error;
use crate::transformer::params::Layout;
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

/// Training tokens of an experiment (pre-training and fine-tuning) and its approximate
/// floating-point operations: 6 per parameter per trained token (forward and backward),
/// plus attention's 12·n_layer·ctx·d_model, and a third of that per evaluated token.
pub fn cost(cfg: &ExperimentConfig) -> (f64, f64) {
    let params = Layout::new(&cfg.model).total as f64;
    let m = &cfg.model;
    let per_token = 6.0 * params + 12.0 * (m.n_layer * m.ctx * m.d_model) as f64;
    let work = plan::work_total(cfg);
    let tokens_per_step = cfg.tokens_per_step() as f64;
    (work * tokens_per_step, work * tokens_per_step * per_token)
}

/// What the units' outputs add up to, as they arrive: a pre-trained checkpoint, or the
/// results so far once a budget's last unit is done (budgets complete in order).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Checkpoint(usize, Vec<f32>),
    BudgetDone(Box<ExperimentResults>),
}

/// Tells the host of what happened.
pub(super) fn deliver<H: Host>(host: &mut H, events: Vec<Event>) {
    for e in events {
        match e {
            Event::Checkpoint(b, params) => host.checkpoint(b, &params),
            Event::BudgetDone(partial) => host.budget_done(&partial),
        }
    }
}

/// The one schedule of an experiment's units, whoever runs them: hands out the units in
/// the order of [`plan::plan`] as their inputs become ready, keeps the outputs later units
/// need, and turns the outputs into measurements budget by budget, in order. The serial
/// run, the threads and the page's Web Workers all go through it.
pub struct Scheduler {
    pub(super) ctx: std::sync::Arc<Context>,
    /// Units not handed out yet, in plan order.
    waiting: Vec<Unit>,
    /// Units handed out and not done, with their work done so far.
    running: std::collections::HashMap<Unit, f64>,
    outputs: std::collections::HashMap<Unit, Output>,
    data: Raw,
    backend: String,
    start_ms: f64,
    /// Work of the finished units.
    work_done: f64,
    work_total: f64,
    /// Per budget, its units (besides the stable phase) still to finish.
    remaining: Vec<usize>,
    /// How many workers run the units: more than one, and a ready unit whose chain of work
    /// would end the run last goes first ([`plan::choose`]); one, and units go in plan order.
    pub workers: usize,
    /// Work of the units not handed out yet.
    work_waiting: f64,
    /// A shard's schedule (see [`Scheduler::for_units`]): every output is kept, in the
    /// order done, and no budget is assembled (its other units run elsewhere).
    kept: Option<Vec<(Unit, Output)>>,
}

impl Scheduler {
    /// The schedule of `cfg`; `resume`: the raw measurements of an earlier, unfinished run of
    /// it, whose finished budgets are kept (wsd still re-runs their stable phases).
    pub fn new(
        cfg: &ExperimentConfig,
        resume: Option<Raw>,
        backend: &str,
        now_ms: f64,
    ) -> Result<Scheduler, Error> {
        let ctx = std::sync::Arc::new(Context::new(cfg));
        let data = resume.unwrap_or_default();
        data.check(cfg)?;
        let skip = data.base.len();
        let wanted = |u: &Unit| u.budget() >= skip || matches!(u, Unit::Stable { .. });
        let all = plan::plan(cfg);
        let mut remaining = vec![0; cfg.pretrain.budgets.len()];
        for u in all
            .iter()
            .filter(|u| wanted(u) && !matches!(u, Unit::Stable { .. }))
        {
            remaining[u.budget()] += 1;
        }
        let waiting: Vec<Unit> = all.iter().copied().filter(wanted).collect();
        Ok(Scheduler {
            work_waiting: waiting.iter().map(|u| u.work(cfg)).sum(),
            // The finished budgets' work counts as done.
            work_done: all.iter().filter(|u| !wanted(u)).map(|u| u.work(cfg)).sum(),
            work_total: plan::work_total(cfg),
            waiting,
            running: Default::default(),
            outputs: Default::default(),
            data,
            backend: backend.to_string(),
            start_ms: now_ms,
            remaining,
            workers: 1,
            kept: None,
            ctx,
        })
    }

    /// The schedule of some of the units of `cfg` (a shard's), with `given` the outputs of
    /// the units they need that run elsewhere. Every output is kept ([`Scheduler::kept`]).
    pub fn for_units(
        cfg: &ExperimentConfig,
        units: &[Unit],
        given: Vec<(Unit, Output)>,
        backend: &str,
        now_ms: f64,
    ) -> Result<Scheduler, Error> {
        let mut s = Scheduler::new(cfg, None, backend, now_ms)?;
        s.waiting.retain(|u| units.contains(u));
        s.work_done = 0.0;
        s.work_total = s.waiting.iter().map(|u| u.work(cfg)).sum();
        s.work_waiting = s.work_total;
        s.outputs.extend(given);
        s.kept = Some(Vec::new());
        Ok(s)
    }

    /// A shard's outputs, in the order its units finished.
    pub fn kept(self) -> Vec<(Unit, Output)> {
        self.kept.unwrap_or_default()
    }

    /// The next unit whose input is ready, with that input; None when none is ready now
    /// (all handed out, or waiting for a running unit).
    pub fn take_ready(&mut self) -> Option<(Unit, Option<Output>)> {
        let cfg = &self.ctx.cfg;
        let ready: Vec<usize> = (0..self.waiting.len())
            .filter(|&i| {
                let need = self.waiting[i].needs(cfg);
                need.is_none_or(|need| self.outputs.contains_key(&need))
            })
            .collect();
        if ready.is_empty() {
            return None;
        }
        let units: Vec<Unit> = ready.iter().map(|&i| self.waiting[i]).collect();
        let pick = plan::choose(cfg, &units, self.work_waiting, self.workers);
        let unit = self.waiting.remove(ready[pick]);
        self.work_waiting -= unit.work(cfg);
        self.running.insert(unit, 0.0);
        let input = unit.needs(cfg).and_then(|u| self.outputs.get(&u).cloned());
        Some((unit, input))
    }

    /// Whether every unit is done.
    pub fn finished(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Units handed out and not done.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// With nothing running: an error when units are left that wait for an input no unit
    /// of this schedule produces (a shard given too little).
    pub(super) fn stuck(&self) -> Result<(), Error> {
        match self.waiting.first() {
            None => Ok(()),
            Some(u) => Err(Error::data(
                u.id(),
                format!(
                    "waits for {:?}, which nothing here produces",
                    u.needs(&self.ctx.cfg)
                ),
            )),
        }
    }

    /// The experiment's progress after a running unit's report.
    pub fn progress(&mut self, unit: &Unit, p: &UnitProgress) -> Progress {
        if let Some(work) = self.running.get_mut(unit) {
            *work = p.work;
        }
        Progress {
            phase: unit.phase(),
            budget_index: unit.budget(),
            budgets: self.ctx.cfg.pretrain.budgets.len(),
            label: p.label.clone(),
            step: p.step,
            steps: p.steps,
            loss: p.loss,
            work_done: self.work_done + self.running.values().sum::<f64>(),
            work_total: self.work_total,
        }
    }

    /// Takes a unit's output; returns the checkpoint it makes and the budgets it completes.
    pub fn done(&mut self, unit: Unit, output: Output, now_ms: f64) -> Vec<Event> {
        let cfg = &self.ctx.cfg;
        let f = &cfg.finetune;
        self.running.remove(&unit);
        self.work_done += unit.work(cfg);
        let mut events = Vec::new();
        if let (Unit::Pretrain { budget }, Output::Pretrained { params, .. }) = (&unit, &output) {
            events.push(Event::Checkpoint(*budget, params.clone()));
        }
        if let Some(kept) = &mut self.kept {
            kept.push((unit, output.clone()));
            // Later units of the shard may need it; no budget is assembled here.
            self.outputs.insert(unit, output);
            return events;
        }
        self.outputs.insert(unit, output);
        if !matches!(unit, Unit::Stable { .. }) {
            self.remaining[unit.budget()] -= 1;
        }
        while self.data.base.len() < cfg.pretrain.budgets.len() {
            let b = self.data.base.len();
            if self.remaining[b] > 0 {
                break;
            }
            let Some(Output::Pretrained {
                base,
                losses,
                diverged,
                ..
            }) = self.outputs.get(&Unit::Pretrain { budget: b })
            else {
                break;
            };
            let Some(Output::Perturbed { ppl: per_gamma }) =
                self.outputs.get(&Unit::Perturb { budget: b })
            else {
                break;
            };
            self.data.base.push(*base);
            self.data.train_loss.push(losses.clone());
            self.data.diverged.push(*diverged);
            self.data.perturb.push(per_gamma.clone());
            let run = |l2, lr, seed| match self.outputs.get(&Unit::Finetune {
                budget: b,
                l2,
                lr,
                seed,
            }) {
                Some(Output::Finetuned { run }) => *run,
                _ => None,
            };
            let per_l2 = (0..f.l2.len())
                .map(|l2| {
                    (0..f.lrs.len())
                        .map(|lr| (0..f.seeds).map(|seed| run(l2, lr, seed)).collect())
                        .collect()
                })
                .collect();
            self.data.finetune.push(per_l2);
            // What later units need stays (the stable run); this budget's are done with.
            self.outputs
                .retain(|u, _| u.budget() != b || matches!(u, Unit::Stable { .. }));
            events.push(Event::BudgetDone(Box::new(self.results(now_ms))));
        }
        events
    }

    /// The results so far (every finished budget).
    pub fn results(&self, now_ms: f64) -> ExperimentResults {
        let elapsed = (now_ms - self.start_ms) / 1e3;
        self.data
            .results(&self.ctx.cfg, self.ctx.layout.total, &self.backend, elapsed)
    }

    /// The last progress report: everything done.
    pub fn finished_progress(&self) -> Progress {
        let n = self.ctx.cfg.pretrain.budgets.len();
        Progress {
            phase: "done",
            budget_index: n.saturating_sub(1),
            budgets: n,
            label: "finished".into(),
            step: 1,
            steps: 1,
            loss: None,
            work_done: self.work_done,
            work_total: self.work_total,
        }
    }
}
