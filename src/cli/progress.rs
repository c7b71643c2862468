//! An experiment's progress on stderr, for a whole run and for a shard alike.

use super::atomic::write_file;
use super::output::{pretty, say, say_inline};
use super::signals::interrupted;
use overtrain::experiment::{ExperimentResults, Host, Progress};
use overtrain::Error;
use std::path::PathBuf;
use std::time::Instant;

/// The CLI's experiment host: a progress line with ETA on stderr; after each budget, a
/// summary line and the results so far written to `out` (when there is one), so that an
/// interrupted run loses at most one budget (`--resume` continues it).
pub struct Stderr {
    start: Instant,
    last_print: f64,
    out: Option<PathBuf>,
}

impl Stderr {
    /// Starts the clock; `out` receives the results so far after every budget.
    pub fn new(out: Option<PathBuf>) -> Stderr {
        Stderr {
            start: Instant::now(),
            last_print: -1.0,
            out,
        }
    }

    /// Clears the last progress line.
    pub fn clear_line() {
        say_inline!("\r\x1b[K");
    }
}

/// One line per finished budget: its base, perturbed and fine-tuned perplexities.
fn budget_summary(r: &ExperimentResults) -> String {
    let i = r.budgets.len() - 1;
    let ppl = |v: Option<f64>| v.map_or("diverged".to_string(), |v| format!("{v:.2}"));
    let mut line = format!(
        "budget {}/{} ({} tokens): base perplexity {:.2}",
        i + 1,
        r.config.pretrain.budgets.len(),
        r.budgets[i],
        r.base.pretrain_ppl[i]
    );
    for p in &r.perturb {
        line += &format!("; γ {}: {:.2}", p.gamma, p.pretrain_ppl_mean[i]);
    }
    for f in &r.finetune {
        line += &format!(
            "; fine-tuned lr {} λ {}: pre-training {}, task {}",
            f.lr,
            f.l2,
            ppl(f.pretrain_ppl[i]),
            ppl(f.id_ppl[i])
        );
    }
    line
}

impl Host for Stderr {
    async fn progress(&mut self, p: &Progress) -> Result<(), Error> {
        let elapsed = self.start.elapsed().as_secs_f64();
        if elapsed - self.last_print > 0.5 {
            self.last_print = elapsed;
            let eta = elapsed / p.work_done.max(1e-9) * (p.work_total - p.work_done);
            let loss = p.loss.map(|l| format!("  loss {l:.3}")).unwrap_or_default();
            say_inline!(
                "\r\x1b[K{:>3.0}%  {} ({}/{}){loss}  ETA {eta:.0} s",
                100.0 * p.work_done / p.work_total,
                p.label,
                p.step,
                p.steps
            );
        }
        interrupted()
    }

    fn budget_done(&mut self, partial: &ExperimentResults) {
        say!("\r\x1b[K{}", budget_summary(partial));
        if let Some(out) = &self.out {
            if let Err(e) = write_file(out, pretty(partial).as_bytes()) {
                say!("warning: the results so far are not saved: {e}");
            }
        }
    }

    fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1e3
    }
}
