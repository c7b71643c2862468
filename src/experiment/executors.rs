//! The executors of an experiment's units, all fed by the one [`Scheduler`]: one engine,
//! unit after unit ([`run`], [`drive`]); CPU threads, each with its own engine
//! ([`run_threads`], [`drive_threads`]); one unit at a time, as each of the page's Web
//! Workers runs them ([`run_unit`]). Shards on a cluster: [`super::shard`].

use super::config::ExperimentConfig;
use super::plan::Job;
use super::results::*;
use super::scheduler::{deliver, Host, Scheduler};
use super::units::{execute, Context, Output, UnitProgress, Watch};
use crate::error::Error;
use crate::gpu::Gpu;
use crate::transformer::config::ModelConfig;
use crate::transformer::engine::{Engine, Remote};

/// The engine the jobs train on: on the CPU or on one GPU, one model at a time — made for
/// the first job's variant and made again when a job's variant has another model, batch or
/// number of held-out batches (a sweep of the model's size), so a sweep runs on one executor.
pub struct Engines<'g> {
    gpu: Option<&'g Gpu>,
    current: Option<((ModelConfig, usize, usize, usize), Engine<'g>)>,
    /// Other workers that take micro-batches of the CPU engines' steps (the page's).
    remote: Option<Remote>,
}

impl<'g> Engines<'g> {
    pub fn cpu() -> Engines<'g> {
        Engines {
            gpu: None,
            current: None,
            remote: None,
        }
    }

    pub fn gpu(gpu: &'g Gpu) -> Engines<'g> {
        Engines {
            gpu: Some(gpu),
            current: None,
            remote: None,
        }
    }

    /// Every CPU engine made from now on shares its steps' micro-batches with `remote`.
    pub fn share_with(&mut self, remote: Remote) {
        self.remote = Some(remote);
    }

    /// "CPU" or the adapter's name.
    pub fn describe(&self) -> String {
        match self.gpu {
            None => "CPU".into(),
            Some(g) => format!("GPU: {}", g.adapter.name),
        }
    }

    /// An engine sized for `cfg` (its model, batch, micro-batches and held-out batches).
    pub fn for_config(&mut self, cfg: &ExperimentConfig) -> Result<&mut Engine<'g>, Error> {
        let key = (
            cfg.model.clone(),
            cfg.batch,
            cfg.micro_batches,
            cfg.eval_batches,
        );
        if self.current.as_ref().is_none_or(|(k, _)| *k != key) {
            self.current = None; // free the old model first
            let engine = match self.gpu {
                Some(g) => Engine::gpu(g, &cfg.model, cfg.batch, cfg.eval_batches)?,
                None => {
                    let mut engine = Engine::cpu(&cfg.model, cfg.batch, cfg.micro_batches);
                    engine.share_with(self.remote.clone());
                    engine
                }
            };
            self.current = Some((key, engine));
        }
        Ok(&mut self.current.as_mut().expect("made above").1)
    }
}

/// The serial executor's view of a running job: progress straight to the host.
struct Serial<'s, H: Host> {
    schedule: &'s mut Scheduler,
    host: &'s mut H,
    job: Job,
}

impl<H: Host> Watch for Serial<'_, H> {
    async fn unit_progress(&mut self, p: &UnitProgress) -> Result<(), Error> {
        let progress = self.schedule.progress(&self.job, p);
        self.host.progress(&progress).await
    }
}

/// Runs the whole experiment (every value of a sweep) on `engines`, its jobs one after
/// another in the order of [`super::plan::jobs`]. `resume`: the raw measurements of an
/// earlier, unfinished run of the same config (one per variant, from
/// [`ExperimentResults::resume_for`]): its finished budgets are kept and not run again (wsd
/// re-runs only the stable phase up to the next branch point).
pub async fn run<H: Host>(
    cfg: &ExperimentConfig,
    engines: &mut Engines<'_>,
    host: &mut H,
    resume: Option<Vec<Raw>>,
) -> Result<ExperimentResults, Error> {
    let mut schedule = Scheduler::new(cfg, resume, &engines.describe(), host.now_ms())?;
    drive(&mut schedule, engines, host).await?;
    host.progress(&schedule.finished_progress()).await?;
    Ok(schedule.results(host.now_ms()))
}

/// Runs every job `schedule` hands out on `engines`, one after another.
pub async fn drive<H: Host>(
    schedule: &mut Scheduler,
    engines: &mut Engines<'_>,
    host: &mut H,
) -> Result<(), Error> {
    let contexts = schedule.contexts.clone();
    while let Some((job, input)) = schedule.take_ready() {
        let ctx = &contexts[job.variant];
        let engine = engines.for_config(&ctx.cfg)?;
        let mut watch = Serial {
            schedule: &mut *schedule,
            host: &mut *host,
            job,
        };
        let output = execute(ctx, job.unit, input.as_ref(), engine, &mut watch).await?;
        host.unit_done(job, &output);
        let events = schedule.done(job, output, host.now_ms());
        deliver(host, events);
    }
    schedule.stuck()
}

/// Runs one job on `engines`, as each of the page's Web Workers does (their schedule is a
/// [`Scheduler`] on the page): `watch` hears its progress.
pub async fn run_unit<W: Watch>(
    cfg: &ExperimentConfig,
    job: Job,
    input: Option<&Output>,
    engines: &mut Engines<'_>,
    watch: &mut W,
) -> Result<Output, Error> {
    let variants = cfg.variants()?;
    let variant = variants
        .get(job.variant)
        .ok_or_else(|| Error::data("unit.variant", format!("no variant {}", job.variant)))?;
    let ctx = Context::new(variant);
    let engine = engines.for_config(variant)?;
    execute(&ctx, job.unit, input, engine, watch).await
}

/// Runs the experiment on the CPU with its jobs spread over `threads` threads (each with
/// its own engine), handed out by the one [`Scheduler`]. Every unit is a pure function of
/// its input, so the results are bit for bit those of [`run`] on one thread; the host hears
/// progress and each finished budget, in budget order, from this thread, and an error from
/// its `progress` (a cancel) stops every thread.
#[cfg(not(target_arch = "wasm32"))]
pub async fn run_threads<H: Host>(
    cfg: &ExperimentConfig,
    threads: usize,
    host: &mut H,
    resume: Option<Vec<Raw>>,
) -> Result<ExperimentResults, Error> {
    if threads <= 1 {
        return run(cfg, &mut Engines::cpu(), host, resume).await;
    }
    let mut schedule = Scheduler::new(cfg, resume, "CPU", host.now_ms())?;
    schedule.workers = threads;
    drive_threads(&mut schedule, threads, host).await?;
    host.progress(&schedule.finished_progress()).await?;
    Ok(schedule.results(host.now_ms()))
}

/// Runs every unit `schedule` hands out on `threads` CPU threads, each with its own
/// engine, the threads without a unit helping those with one; progress and the schedule's
/// events reach the host from this thread.
#[cfg(not(target_arch = "wasm32"))]
pub async fn drive_threads<H: Host>(
    schedule: &mut Scheduler,
    threads: usize,
    host: &mut H,
) -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    if threads <= 1 {
        return drive(schedule, &mut Engines::cpu(), host).await;
    }
    enum Message {
        Progress(Job, UnitProgress),
        Done(Job, Result<Output, Error>),
    }
    /// A worker thread's view of its job: progress to the main thread; stops once
    /// cancelled.
    struct Relay {
        job: Job,
        messages: mpsc::Sender<Message>,
        cancel: Arc<AtomicBool>,
    }
    impl Watch for Relay {
        async fn unit_progress(&mut self, p: &UnitProgress) -> Result<(), Error> {
            if self.cancel.load(Ordering::SeqCst) {
                return Err(Error::Cancelled);
            }
            let _ = self.messages.send(Message::Progress(self.job, p.clone()));
            Ok(())
        }
    }

    let contexts = schedule.contexts.clone();
    let (job_tx, job_rx) = mpsc::channel::<(Job, Option<Output>)>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (message_tx, message_rx) = mpsc::channel::<Message>();
    let cancel = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (contexts, jobs, messages, cancel) = (
                contexts.clone(),
                job_rx.clone(),
                message_tx.clone(),
                cancel.clone(),
            );
            std::thread::spawn(move || {
                let mut engines = Engines::cpu();
                loop {
                    let next = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((job, input)) = next else { break };
                    let mut relay = Relay {
                        job,
                        messages: messages.clone(),
                        cancel: cancel.clone(),
                    };
                    let ctx = &contexts[job.variant];
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let engine = engines.for_config(&ctx.cfg)?;
                        crate::transformer::engine::run_ready(execute(
                            ctx,
                            job.unit,
                            input.as_ref(),
                            engine,
                            &mut relay,
                        ))
                    }))
                    .unwrap_or_else(|_| {
                        Err(Error::Io(format!("{} failed (a bug)", job.unit.id())))
                    });
                    if messages.send(Message::Done(job, result)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(message_tx);

    // Threads without a unit join the steps of the units that run (shared among them):
    // the tail of the experiment, a wsd stable phase's one chain. The same bits either way
    // (crate::cpu::par).
    let helpers = crate::cpu::par::Helpers::set(0);
    let outcome = loop {
        while schedule.running() < threads {
            let Some(job) = schedule.take_ready() else {
                break;
            };
            if job_tx.send(job).is_err() {
                break;
            }
        }
        helpers.update(super::plan::idle_share(threads, schedule.running()));
        if schedule.finished() {
            break Ok(());
        }
        if schedule.running() == 0 {
            break schedule.stuck();
        }
        match message_rx.recv() {
            Ok(Message::Progress(job, p)) => {
                let progress = schedule.progress(&job, &p);
                if let Err(e) = host.progress(&progress).await {
                    break Err(e);
                }
            }
            Ok(Message::Done(job, Ok(output))) => {
                host.unit_done(job, &output);
                let events = schedule.done(job, output, host.now_ms());
                deliver(host, events);
            }
            Ok(Message::Done(_, Err(e))) => break Err(e),
            Err(_) => break Err(Error::Io("the worker threads stopped".into())),
        }
    };
    // Stop the threads: no more jobs; the running units stop at their next read-back.
    drop(helpers);
    cancel.store(outcome.is_err(), Ordering::SeqCst);
    drop(job_tx);
    for w in workers {
        let _ = w.join();
    }
    outcome
}
