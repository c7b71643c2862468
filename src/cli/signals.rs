//! Ctrl-C (SIGINT). A command that has something to save calls [`catch_interrupts`]; from
//! then on Ctrl-C only sets a flag, the command stops at its next check ([`interrupted`]:
//! `train` and `experiment` at their next loss read-back, `data` between batches), saves
//! what is finished and exits with 130. A second Ctrl-C exits at once. Commands that never
//! call it keep the default: Ctrl-C ends them.

use overtrain::Error;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Turns Ctrl-C into a request to stop (see the module's doc).
pub fn catch_interrupts() {
    // Without a handler (the platform refuses one) Ctrl-C ends the process as it would
    // anyway; the files are still never half-written (see `atomic`), so nothing to report.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

/// `Err(Cancelled)` once Ctrl-C was pressed.
pub fn interrupted() -> Result<(), Error> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(Error::Cancelled)
    } else {
        Ok(())
    }
}
