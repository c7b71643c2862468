//! The executors of an experiment's units, all fed by the one [`Scheduler`]: one engine,
//! unit after unit ([`run`], [`drive`]); CPU threads, each with its own engine
//! ([`run_threads`], [`drive_threads`]); one unit at a time, as each of the page's Web
//! Workers runs them ([`run_unit`]). Shards on a cluster: [`super::shard`].

use super::config::ExperimentConfig;
use super::plan::Unit;
use super::results::*;
use super::scheduler::{deliver, Host, Scheduler};
use super::units::{execute, Context, Output, UnitProgress, Watch};
use crate::error::Error;
use crate::transformer::engine::Engine;

/// The serial executor's view of a running unit: progress straight to the host.
struct Serial<'s, H: Host> {
    schedule: &'s mut Scheduler,
    host: &'s mut H,
    unit: Unit,
}

impl<H: Host> Watch for Serial<'_, H> {
    async fn unit_progress(&mut self, p: &UnitProgress) -> Result<(), Error> {
        let progress = self.schedule.progress(&self.unit, p);
        self.host.progress(&progress).await
    }
}

/// Runs the whole experiment on `engine` (sized for `cfg.batch` and `cfg.eval_batches`),
/// its units one after another in the order of [`plan::plan`]. `resume`: the raw
/// measurements of an earlier, unfinished run of the same config (its results' `raw`,
/// checked with [`Raw::check`]): its finished budgets are kept and not run again (wsd
/// re-runs only the stable phase up to the next branch point).
pub async fn run<H: Host>(
    cfg: &ExperimentConfig,
    engine: &mut Engine<'_>,
    host: &mut H,
    resume: Option<Raw>,
) -> Result<ExperimentResults, Error> {
    let mut schedule = Scheduler::new(cfg, resume, &engine.describe(), host.now_ms())?;
    drive(&mut schedule, engine, host).await?;
    host.progress(&schedule.finished_progress()).await?;
    Ok(schedule.results(host.now_ms()))
}

/// Runs every unit `schedule` hands out on `engine`, one after another.
pub async fn drive<H: Host>(
    schedule: &mut Scheduler,
    engine: &mut Engine<'_>,
    host: &mut H,
) -> Result<(), Error> {
    let ctx = schedule.ctx.clone();
    while let Some((unit, input)) = schedule.take_ready() {
        let mut watch = Serial {
            schedule: &mut *schedule,
            host: &mut *host,
            unit,
        };
        let output = execute(&ctx, unit, input.as_ref(), engine, &mut watch).await?;
        let events = schedule.done(unit, output, host.now_ms());
        deliver(host, events);
    }
    schedule.stuck()
}

/// Runs one unit on `engine`, as each of the page's Web Workers does (their schedule is a
/// [`Scheduler`] on the page): `watch` hears its progress.
pub async fn run_unit<W: Watch>(
    cfg: &ExperimentConfig,
    unit: Unit,
    input: Option<&Output>,
    engine: &mut Engine<'_>,
    watch: &mut W,
) -> Result<Output, Error> {
    let ctx = Context::new(cfg);
    execute(&ctx, unit, input, engine, watch).await
}

/// Runs the experiment on the CPU with its units spread over `threads` threads (each with
/// its own engine), handed out by the one [`Scheduler`]. Every unit is a pure function of
/// its input, so the results are bit for bit those of [`run`] on one thread; the host hears
/// progress and each finished budget, in budget order, from this thread, and an error from
/// its `progress` (a cancel) stops every thread.
#[cfg(not(target_arch = "wasm32"))]
pub async fn run_threads<H: Host>(
    cfg: &ExperimentConfig,
    threads: usize,
    host: &mut H,
    resume: Option<Raw>,
) -> Result<ExperimentResults, Error> {
    if threads <= 1 {
        let mut engine = Engine::cpu(&cfg.model, cfg.batch);
        return run(cfg, &mut engine, host, resume).await;
    }
    let mut schedule = Scheduler::new(cfg, resume, "CPU", host.now_ms())?;
    schedule.workers = threads;
    drive_threads(&mut schedule, threads, host).await?;
    host.progress(&schedule.finished_progress()).await?;
    Ok(schedule.results(host.now_ms()))
}

/// Runs every unit `schedule` hands out on `threads` CPU threads, each with its own
/// engine; progress and the schedule's events reach the host from this thread.
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
        let mut engine = Engine::cpu(&schedule.ctx.cfg.model, schedule.ctx.cfg.batch);
        return drive(schedule, &mut engine, host).await;
    }
    enum Message {
        Progress(Unit, UnitProgress),
        Done(Unit, Result<Output, Error>),
    }
    /// A worker thread's view of its unit: progress to the main thread; stops once
    /// cancelled.
    struct Relay {
        unit: Unit,
        messages: mpsc::Sender<Message>,
        cancel: Arc<AtomicBool>,
    }
    impl Watch for Relay {
        async fn unit_progress(&mut self, p: &UnitProgress) -> Result<(), Error> {
            if self.cancel.load(Ordering::SeqCst) {
                return Err(Error::Cancelled);
            }
            let _ = self.messages.send(Message::Progress(self.unit, p.clone()));
            Ok(())
        }
    }

    let ctx = schedule.ctx.clone();
    let (job_tx, job_rx) = mpsc::channel::<(Unit, Option<Output>)>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (message_tx, message_rx) = mpsc::channel::<Message>();
    let cancel = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (ctx, jobs, messages, cancel) = (
                ctx.clone(),
                job_rx.clone(),
                message_tx.clone(),
                cancel.clone(),
            );
            std::thread::spawn(move || {
                let mut engine = Engine::cpu(&ctx.cfg.model, ctx.cfg.batch);
                loop {
                    let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((unit, input)) = job else { break };
                    let mut relay = Relay {
                        unit,
                        messages: messages.clone(),
                        cancel: cancel.clone(),
                    };
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        crate::transformer::engine::run_ready(execute(
                            &ctx,
                            unit,
                            input.as_ref(),
                            &mut engine,
                            &mut relay,
                        ))
                    }))
                    .unwrap_or_else(|_| Err(Error::Io(format!("{} failed (a bug)", unit.id()))));
                    if messages.send(Message::Done(unit, result)).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(message_tx);

    let outcome = loop {
        while schedule.running() < threads {
            let Some(job) = schedule.take_ready() else {
                break;
            };
            if job_tx.send(job).is_err() {
                break;
            }
        }
        if schedule.finished() {
            break Ok(());
        }
        if schedule.running() == 0 {
            break schedule.stuck();
        }
        match message_rx.recv() {
            Ok(Message::Progress(unit, p)) => {
                let progress = schedule.progress(&unit, &p);
                if let Err(e) = host.progress(&progress).await {
                    break Err(e);
                }
            }
            Ok(Message::Done(unit, Ok(output))) => {
                let events = schedule.done(unit, output, host.now_ms());
                deliver(host, events);
            }
            Ok(Message::Done(_, Err(e))) => break Err(e),
            Err(_) => break Err(Error::Io("the worker threads stopped".into())),
        }
    };
    // Stop the threads: no more jobs; the running units stop at their next read-back.
    cancel.store(outcome.is_err(), Ordering::SeqCst);
    drop(job_tx);
    for w in workers {
        let _ = w.join();
    }
    outcome
}
