//! The learning-rate schedule, written once for training runs, pre-training budgets,
//! fine-tuning and the warmup–stable–decay branches of the experiment.

use serde::{Deserialize, Serialize};

/// What the learning rate does after a linear warmup (the config's `schedule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", try_from = "ScheduleFields")]
pub enum Schedule {
    /// Cosine from the peak to zero at the last step (the paper's protocol).
    Cosine,
    /// Constant at the peak, then linear decay to zero over the last `decay_fraction` of the
    /// steps (rounded to whole steps, at least one). A wsd run stopped at its decay start
    /// and continued with the decay of a longer total is a *branch*: the experiment's `wsd`
    /// protocol branches one stable run at every budget's decay start.
    Wsd { decay_fraction: f64 },
    /// Constant at the peak.
    Constant,
}

/// A [`Schedule`] as it is read: every kind's fields (see [`crate::json::required`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFields {
    kind: ScheduleKind,
    decay_fraction: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ScheduleKind {
    Cosine,
    Wsd,
    Constant,
}

impl TryFrom<ScheduleFields> for Schedule {
    type Error = String;
    fn try_from(f: ScheduleFields) -> Result<Schedule, String> {
        use crate::json::{absent, required};
        Ok(match f.kind {
            ScheduleKind::Cosine => {
                absent("cosine", "decay_fraction", &f.decay_fraction)?;
                Schedule::Cosine
            }
            ScheduleKind::Wsd => Schedule::Wsd {
                decay_fraction: required("wsd", "decay_fraction", f.decay_fraction)?,
            },
            ScheduleKind::Constant => {
                absent("constant", "decay_fraction", &f.decay_fraction)?;
                Schedule::Constant
            }
        })
    }
}

/// Linear warmup steps of a run of `total` steps: ⌈fraction × total⌉.
pub fn warmup_steps(fraction: f64, total: usize) -> usize {
    (fraction * total as f64).ceil() as usize
}

/// Steps of the linear decay of a wsd run of `total` steps: round(fraction × total), at
/// least 1 and at most `total`.
pub fn decay_steps(total: usize, fraction: f64) -> usize {
    ((total as f64 * fraction).round() as usize).clamp(1, total.max(1))
}

impl Schedule {
    /// The learning rate of step `step` (0-based) of a run of `total` steps whose first
    /// `warmup` steps rise linearly to `peak`: step s (counting from 1) of the warmup gets
    /// peak·s/warmup, so the first step trains at peak/warmup, never at zero.
    pub fn lr(&self, step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
        let s = step as f64 + 1.0;
        let w = warmup as f64;
        if s <= w {
            return peak * s / w;
        }
        let total_f = total as f64;
        match *self {
            Schedule::Constant => peak,
            Schedule::Cosine => {
                let progress = (s - w) / (total_f - w).max(1.0);
                peak * 0.5 * (1.0 + libm::cos(std::f64::consts::PI * progress))
            }
            Schedule::Wsd { decay_fraction } => {
                let decay = decay_steps(total, decay_fraction);
                let start = (total - decay) as f64;
                if s <= start {
                    peak
                } else {
                    // The decay starts from wherever the warmup had got to.
                    let level = peak * (start / w.max(1.0)).min(1.0);
                    level * (total_f - s).max(0.0) / decay as f64
                }
            }
        }
    }
}

/// A run's learning rate: its schedule, peak, warmup steps and length in steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Lr {
    pub schedule: Schedule,
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
}

impl Lr {
    /// A run of `total` steps warming up over ⌈warmup_fraction × total⌉ of them.
    pub fn new(schedule: Schedule, peak: f64, warmup_fraction: f64, total: usize) -> Lr {
        Lr {
            schedule,
            peak,
            warmup: warmup_steps(warmup_fraction, total),
            total,
        }
    }

    /// The learning rate of step `step` (0-based).
    pub fn at(&self, step: usize) -> f64 {
        self.schedule.lr(step, self.total, self.warmup, self.peak)
    }
}
