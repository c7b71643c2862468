//! Ctrl-C (SIGINT) and SIGTERM (what Slurm sends when it preempts a job or its time runs
//! out, and what `kill` sends). A command that has something to save calls
//! [`catch_interrupts`]; from then on either signal only sets a flag, the command stops at
//! its next check ([`interrupted`]: `train` and `experiment` at their next loss read-back,
//! `data` between batches), saves what is finished, says so and exits with 128 + the signal
//! (130 for SIGINT, 143 for SIGTERM, as a shell reports a process the signal ended). A
//! second signal exits at once. Commands that never call it keep the default: the signal
//! ends them.

use overtrain::Error;
use std::sync::atomic::{AtomicI32, Ordering};

/// The first stopping signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Turns SIGINT and SIGTERM into a request to stop (see the module's doc).
pub fn catch_interrupts() {
    // The signals are read on a thread of their own (signal-hook's iterator), so the
    // handler itself does nothing but wake it. Without it (the platform refuses) a signal
    // ends the process as it would anyway; the files are still never half-written (see
    // `atomic`), so there is nothing to report.
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(|| {
            let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
                return;
            };
            std::thread::spawn(move || {
                for signal in signals.forever() {
                    if RECEIVED
                        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                        .is_err()
                    {
                        std::process::exit(128 + signal);
                    }
                }
            });
        });
    }
}

/// `Err(Cancelled)` once a stopping signal arrived.
pub fn interrupted() -> Result<(), Error> {
    if RECEIVED.load(Ordering::SeqCst) != 0 {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}

/// The signal that stopped the command, in words and as its exit code: ("Ctrl-C", 130),
/// ("SIGTERM", 143); a stop without a signal is Ctrl-C's.
pub fn stopped_by() -> (&'static str, u8) {
    match RECEIVED.load(Ordering::SeqCst) {
        15 => ("SIGTERM", 143),
        _ => ("Ctrl-C", 130),
    }
}
