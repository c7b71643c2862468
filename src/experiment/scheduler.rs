//! The one schedule of an experiment's units, whoever runs them ([`Scheduler`]): hands
//! them out as their inputs become ready and turns their outputs into results budget by
//! budget; with what a host of an experiment hears ([`Host`], [`Progress`]) and its cost.

use super::config::ExperimentConfig;
use super::plan::{self, Job, Unit};
use super::results::*;
use super::units::{Context, Output, UnitProgress};
use crate::error::Error;
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
    /// The pre-trained weights of budget `budget_index` of variant `variant` (a sweep's
    /// value; 0 without a sweep), for export.
    fn checkpoint(&mut self, _variant: usize, _budget_index: usize, _params: &[f32]) {}
    /// Each unit's output as it finishes (the serial and threaded executors), before the
    /// schedule takes it: a shard saves its part here ([`super::shard::run_shard`]).
    fn unit_done(&mut self, _job: super::plan::Job, _output: &super::units::Output) {}
    /// Milliseconds on some clock.
    fn now_ms(&self) -> f64;
}

/// Training tokens of an experiment (pre-training and fine-tuning; every value of a sweep)
/// and its approximate floating-point operations: 6 per parameter per trained token
/// (forward and backward), plus attention's 12·n_layer·ctx·d_model, and a third of that per
/// evaluated token.
pub fn cost(cfg: &ExperimentConfig) -> (f64, f64) {
    let variants = cfg.variants().unwrap_or_else(|_| vec![cfg.clone()]);
    let (mut tokens, mut flops) = (0.0, 0.0);
    for v in &variants {
        let work: f64 = plan::plan(v).iter().map(|u| u.work(v)).sum();
        tokens += work * v.tokens_per_step() as f64;
        flops += work * plan::step_flops(v);
    }
    (tokens, flops)
}

/// What the units' outputs add up to, as they arrive: a pre-trained checkpoint (of a
/// variant's budget), or the results so far once a budget's last unit is done (each
/// variant's budgets complete in order).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Checkpoint {
        variant: usize,
        budget: usize,
        params: Vec<f32>,
    },
    BudgetDone(Box<ExperimentResults>),
}

/// Tells the host of what happened.
pub(super) fn deliver<H: Host>(host: &mut H, events: Vec<Event>) {
    for e in events {
        match e {
            Event::Checkpoint {
                variant,
                budget,
                params,
            } => host.checkpoint(variant, budget, &params),
            Event::BudgetDone(partial) => host.budget_done(&partial),
        }
    }
}

/// One variant's measurements as they come together.
struct Assembly {
    data: Raw,
    /// Per budget, its units (besides the stable phase) still to finish.
    remaining: Vec<usize>,
}

/// The one schedule of an experiment's units, whoever runs them: hands out the jobs (the
/// units of every variant of a sweep) in the order of [`plan::jobs`] as their inputs
/// become ready, keeps the outputs later units need, and turns the outputs into
/// measurements budget by budget, in order. The serial run, the threads and the page's Web
/// Workers all go through it.
pub struct Scheduler {
    config: ExperimentConfig,
    /// One per variant (one without a sweep).
    pub(super) contexts: std::sync::Arc<Vec<Context>>,
    variants: Vec<ExperimentConfig>,
    /// Jobs not handed out yet, in plan order.
    waiting: Vec<Job>,
    /// Jobs handed out and not done, with their work done so far.
    running: std::collections::HashMap<Job, f64>,
    outputs: std::collections::HashMap<Job, Output>,
    assembly: Vec<Assembly>,
    backend: String,
    start_ms: f64,
    /// Work of the finished jobs.
    work_done: f64,
    work_total: f64,
    /// How many workers run the jobs: more than one, and a ready job whose chain of work
    /// would end the run last goes first ([`plan::choose`]); one, and jobs go in plan order.
    pub workers: usize,
    /// Work of the jobs not handed out yet.
    work_waiting: f64,
    /// False for a shard's schedule (see [`Scheduler::for_jobs`]): no budget is assembled
    /// (its other units run elsewhere).
    assembles: bool,
}

impl Scheduler {
    /// The schedule of `cfg`; `resume`: the raw measurements of an earlier, unfinished run
    /// of it (one per variant), whose finished budgets are kept (wsd still re-runs their
    /// stable phases).
    pub fn new(
        cfg: &ExperimentConfig,
        resume: Option<Vec<Raw>>,
        backend: &str,
        now_ms: f64,
    ) -> Result<Scheduler, Error> {
        let variants = cfg.variants()?;
        let mut raws = resume.unwrap_or_default();
        raws.resize_with(variants.len(), Raw::default);
        if raws.len() != variants.len() {
            return Err(Error::data(
                "resume",
                format!(
                    "{} sections for a sweep of {} values",
                    raws.len(),
                    variants.len()
                ),
            ));
        }
        for (raw, v) in raws.iter().zip(&variants) {
            raw.check(v)?;
        }
        let skip: Vec<usize> = raws.iter().map(|r| r.base.len()).collect();
        let all = plan::jobs(&variants);
        let wanted = plan::jobs_after(&variants, &skip);
        let mut assembly: Vec<Assembly> = raws
            .into_iter()
            .zip(&variants)
            .map(|(data, v)| Assembly {
                data,
                remaining: vec![0; v.pretrain.budgets.len()],
            })
            .collect();
        for j in wanted
            .iter()
            .filter(|j| !matches!(j.unit, Unit::Stable { .. }))
        {
            assembly[j.variant].remaining[j.budget()] += 1;
        }
        let work = |jobs: &[Job]| jobs.iter().map(|j| j.work(&variants)).sum::<f64>();
        let work_total = work(&all);
        let work_waiting = work(&wanted);
        Ok(Scheduler {
            config: cfg.clone(),
            contexts: std::sync::Arc::new(variants.iter().map(Context::new).collect()),
            // The finished budgets' work counts as done.
            work_done: work_total - work_waiting,
            work_total,
            work_waiting,
            waiting: wanted,
            running: Default::default(),
            outputs: Default::default(),
            assembly,
            backend: backend.to_string(),
            start_ms: now_ms,
            workers: 1,
            assembles: true,
            variants,
        })
    }

    /// The schedule of some of the jobs of `cfg` (a shard's), with `given` the outputs of
    /// the jobs they need that run elsewhere. Its host hears each output
    /// ([`Host::unit_done`]); no budget is assembled.
    pub fn for_jobs(
        cfg: &ExperimentConfig,
        jobs: &[Job],
        given: Vec<(Job, Output)>,
        backend: &str,
        now_ms: f64,
    ) -> Result<Scheduler, Error> {
        let mut s = Scheduler::new(cfg, None, backend, now_ms)?;
        s.waiting.retain(|j| jobs.contains(j));
        s.work_done = 0.0;
        s.work_total = s.waiting.iter().map(|j| j.work(&s.variants)).sum();
        s.work_waiting = s.work_total;
        s.outputs.extend(given);
        s.assembles = false;
        Ok(s)
    }

    /// The configs of the variants (one without a sweep).
    pub fn variants(&self) -> &[ExperimentConfig] {
        &self.variants
    }

    /// The next job whose input is ready, with that input; None when none is ready now
    /// (all handed out, or waiting for a running job).
    pub fn take_ready(&mut self) -> Option<(Job, Option<Output>)> {
        let ready: Vec<usize> = (0..self.waiting.len())
            .filter(|&i| {
                let need = self.waiting[i].needs(&self.variants);
                need.is_none_or(|need| self.outputs.contains_key(&need))
            })
            .collect();
        if ready.is_empty() {
            return None;
        }
        let jobs: Vec<Job> = ready.iter().map(|&i| self.waiting[i]).collect();
        let pick = plan::choose(&self.variants, &jobs, self.work_waiting, self.workers);
        let job = self.waiting.remove(ready[pick]);
        self.work_waiting -= job.work(&self.variants);
        self.running.insert(job, 0.0);
        let input = job
            .needs(&self.variants)
            .and_then(|j| self.outputs.get(&j).cloned());
        Some((job, input))
    }

    /// Whether every job is done.
    pub fn finished(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    /// Jobs handed out and not done.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// With nothing running: an error when jobs are left that wait for an input no job of
    /// this schedule produces (a shard given too little).
    pub(super) fn stuck(&self) -> Result<(), Error> {
        match self.waiting.first() {
            None => Ok(()),
            Some(j) => {
                let input = j
                    .needs(&self.variants)
                    .map_or_else(|| "an input".to_string(), |n| n.id(&self.variants));
                Err(Error::data(
                    j.id(&self.variants),
                    format!("waits for {input}, which nothing here produces"),
                ))
            }
        }
    }

    /// The experiment's progress after a running job's report.
    pub fn progress(&mut self, job: &Job, p: &UnitProgress) -> Progress {
        let weight = job.weight(&self.variants);
        if let Some(work) = self.running.get_mut(job) {
            *work = p.work * weight;
        }
        let label = if self.variants.len() > 1 {
            let sweep = self
                .config
                .sweep
                .as_ref()
                .expect("variants come from a sweep");
            format!(
                "{} = {}: {}",
                sweep.field, sweep.values[job.variant], p.label
            )
        } else {
            p.label.clone()
        };
        Progress {
            phase: job.unit.phase(),
            budget_index: job.budget(),
            budgets: self.variants[job.variant].pretrain.budgets.len(),
            label,
            step: p.step,
            steps: p.steps,
            loss: p.loss,
            work_done: self.work_done + self.running.values().sum::<f64>(),
            work_total: self.work_total,
        }
    }

    /// Takes a job's output; returns the checkpoint it makes and the budgets it completes.
    pub fn done(&mut self, job: Job, output: Output, now_ms: f64) -> Vec<Event> {
        self.running.remove(&job);
        self.work_done += job.work(&self.variants);
        let mut events = Vec::new();
        if let (Unit::Pretrain { budget }, Output::Pretrained { params, .. }) = (&job.unit, &output)
        {
            events.push(Event::Checkpoint {
                variant: job.variant,
                budget: *budget,
                params: params.clone(),
            });
        }
        self.outputs.insert(job, output);
        if !self.assembles {
            // Later jobs of the shard may need it; no budget is assembled here.
            return events;
        }
        let v = job.variant;
        if !matches!(job.unit, Unit::Stable { .. }) {
            self.assembly[v].remaining[job.budget()] -= 1;
        }
        let cfg = &self.variants[v];
        let f = &cfg.finetune;
        while self.assembly[v].data.base.len() < self.variants[v].pretrain.budgets.len() {
            let b = self.assembly[v].data.base.len();
            if self.assembly[v].remaining[b] > 0 {
                break;
            }
            let at = |unit: Unit| self.outputs.get(&Job { variant: v, unit });
            let Some(Output::Pretrained {
                base,
                losses,
                diverged,
                ..
            }) = at(Unit::Pretrain { budget: b })
            else {
                break;
            };
            let Some(Output::Perturbed {
                ppl: per_gamma,
                sharpness,
            }) = at(Unit::Perturb { budget: b })
            else {
                break;
            };
            let sharpness = *sharpness;
            let run = |l2, lr, seed| match at(Unit::Finetune {
                budget: b,
                l2,
                lr,
                seed,
            }) {
                Some(Output::Finetuned { run }) => *run,
                _ => None,
            };
            let per_l2: Vec<Vec<Vec<FinetuneRun>>> = (0..f.l2.len())
                .map(|l2| {
                    (0..f.lrs.len())
                        .map(|lr| (0..f.seeds).map(|seed| run(l2, lr, seed)).collect())
                        .collect()
                })
                .collect();
            let (base, losses, diverged, per_gamma) =
                (*base, losses.clone(), *diverged, per_gamma.clone());
            let data = &mut self.assembly[v].data;
            data.base.push(base);
            data.train_loss.push(losses);
            data.diverged.push(diverged);
            data.perturb.push(per_gamma);
            data.finetune.push(per_l2);
            if self.variants[v].perturb.sharpness_iterations > 0 {
                data.sharpness.push(sharpness);
            }
            // What later jobs need stays (the stable run); this budget's are done with.
            self.outputs.retain(|j, _| {
                j.variant != v || j.budget() != b || matches!(j.unit, Unit::Stable { .. })
            });
            events.push(Event::BudgetDone(Box::new(self.results(now_ms))));
        }
        events
    }

    /// The results so far (every finished budget of every variant).
    pub fn results(&self, now_ms: f64) -> ExperimentResults {
        let elapsed = (now_ms - self.start_ms) / 1e3;
        let mut sections: Vec<ExperimentResults> = self
            .assembly
            .iter()
            .zip(self.variants.iter().zip(self.contexts.iter()))
            .map(|(a, (v, ctx))| a.data.results(v, ctx.layout.total, &self.backend, elapsed))
            .collect();
        let Some(sweep) = &self.config.sweep else {
            return sections.remove(0);
        };
        let mut results = sections[0].clone();
        results.config = self.config.clone();
        results.sweep = Some(SweepResults {
            field: sweep.field.clone(),
            values: sweep.values.clone(),
            sections,
        });
        results
    }

    /// The last progress report: everything done.
    pub fn finished_progress(&self) -> Progress {
        let n = self.variants[0].pretrain.budgets.len();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A shard given a job without the output it needs stops with an error naming both, by
    /// their ids (not a derived `Debug`, which the site's build writes without fields).
    #[test]
    fn a_job_whose_input_nothing_produces_names_it() {
        let cfg = ExperimentConfig::default();
        let variants = cfg.variants().unwrap();
        let job = plan::jobs(&variants)
            .into_iter()
            .find(|j| j.needs(&variants).is_some())
            .expect("a job that needs another's output");
        let needed = job.needs(&variants).unwrap().id(&variants);
        let schedule = Scheduler::for_jobs(&cfg, &[job], Vec::new(), "cpu", 0.0).unwrap();
        let message = schedule.stuck().unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{}: waits for {needed}, which nothing here produces",
                job.id(&variants)
            )
        );
    }
}
