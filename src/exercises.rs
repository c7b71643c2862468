//! Guided exercises for a classroom: each sets a lab up where its effect is clear, asks a
//! question, and checks an answer against the student's own run — the expected answer is
//! computed from that run with the one significance rule of both labs
//! ([`crate::inflection`]), never stored. The page builds its exercise panel from
//! [`exercises`] and calls [`setup_linear`] and [`check`]; tests check each exercise's
//! premise on its set-up, on the CPU and on the GPU.

use crate::experiment::ExperimentResults;
use crate::inflection::{verdict, Verdict};
use crate::linear::{LinearConfig, LinearResults};
use serde::Serialize;

/// Which lab an exercise uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lab {
    Linear,
    Transformer,
}

/// How a student answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Answer {
    /// A number (a pre-training step), right within `tolerance_checkpoints` checkpoints.
    Number {
        label: &'static str,
        tolerance_checkpoints: usize,
    },
    Choice {
        options: &'static [&'static str],
    },
}

/// One exercise, as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exercise {
    pub id: &'static str,
    pub lab: Lab,
    pub title: &'static str,
    pub question: &'static str,
    pub answer: Answer,
    /// The transformer lab's preset the exercise runs.
    pub preset: Option<&'static str>,
    /// Where on the page to look (names the plot, and the marker it draws).
    pub look: &'static str,
    /// The plot the set-up scrolls to.
    pub plot: &'static str,
}

const DIRECTIONS: &[&str] = &["earlier", "later", "at the same step"];
const PULL: &[&str] = &[
    "less forgetting, worse fine-tuning",
    "less forgetting, better fine-tuning",
    "more forgetting, better fine-tuning",
    "more forgetting, worse fine-tuning",
];
const OVERTRAINED: &[&str] = &[
    "yes: the longest pre-training is not the best",
    "no: the longest pre-training is the best",
    "no clear difference: within the noise",
];

/// Every exercise, in the order a lesson takes them.
pub fn exercises() -> Vec<Exercise> {
    vec![
        Exercise {
            id: "inflection",
            lab: Lab::Linear,
            title: "Find the inflection point",
            question: "Every checkpoint is fine-tuned with η_ft = 0.01. After how many pre-training steps is the pre-training loss after fine-tuning lowest? Enter the step.",
            answer: Answer::Number {
                label: "Pre-training step",
                tolerance_checkpoints: 2,
            },
            preset: None,
            look: "the lowest point of the curve in the upper panel of \"After fine-tuning\" (the ring marks it)",
            plot: "finetuned",
        },
        Exercise {
            id: "gamma",
            lab: Lab::Linear,
            title: "How does the noise scale move it?",
            question: "The set-up perturbs every checkpoint with noise of two scales, γ = 0.05 and γ = 0.1. With the larger noise, does the perturbed loss bottom out earlier or later in pre-training?",
            answer: Answer::Choice { options: DIRECTIONS },
            preset: None,
            look: "where the two curves of \"Loss after a Gaussian perturbation\" are lowest (their rings)",
            plot: "perturbed",
        },
        Exercise {
            id: "lr",
            lab: Lab::Linear,
            title: "How does the fine-tuning learning rate move it?",
            question: "The set-up fine-tunes every checkpoint with η_ft = 0.01 and with η_ft = 0.03. With the larger learning rate, does the pre-training loss after fine-tuning bottom out earlier or later?",
            answer: Answer::Choice { options: DIRECTIONS },
            preset: None,
            look: "the rings on the two curves in the upper panel of \"After fine-tuning\"",
            plot: "finetuned",
        },
        Exercise {
            id: "l2",
            lab: Lab::Linear,
            title: "Does pulling toward the pre-trained weights help, and at what cost?",
            question: "The set-up fine-tunes with η_ft = 0.03 without (λ = 0) and with (λ = 1) a pull toward the pre-trained weights. At the last checkpoint, what does the pull do?",
            answer: Answer::Choice { options: PULL },
            preset: None,
            look: "the solid (λ = 0) and dashed (λ = 1) curves at the right end of both panels of \"After fine-tuning\"",
            plot: "finetuned",
        },
        Exercise {
            id: "overtrain",
            lab: Lab::Transformer,
            title: "Does a longer-trained transformer fine-tune worse?",
            question: "Run the Quick preset. After fine-tuning with learning rate 0.003, is the pre-training perplexity of the model pre-trained on the most tokens higher than that of the best budget, beyond the spread of the seeds?",
            answer: Answer::Choice {
                options: OVERTRAINED,
            },
            preset: Some("quick"),
            look: "the right end of the upper panel of \"After fine-tuning\" against its lowest point (the ring marks it)",
            plot: "finetuned",
        },
    ]
}

/// An exercise by its id.
pub fn exercise(id: &str) -> Option<Exercise> {
    exercises().into_iter().find(|e| e.id == id)
}

/// The linear lab's config for exercise `id`, from the student's `base` config: only what
/// the exercise is about changes. None for another lab's exercise.
pub fn setup_linear(id: &str, base: &LinearConfig) -> Option<LinearConfig> {
    let mut c = base.clone();
    match id {
        "inflection" => {
            c.finetune.lrs = vec![0.01];
            c.finetune.l2 = vec![0.0];
        }
        "gamma" => {
            c.perturb.gammas = vec![0.05, 0.1];
            // More draws: the minima stand out from the Monte Carlo noise.
            c.perturb.samples = c.perturb.samples.max(100);
        }
        "lr" => {
            c.finetune.lrs = vec![0.01, 0.03];
            c.finetune.l2 = vec![0.0];
        }
        "l2" => {
            c.finetune.lrs = vec![0.03];
            c.finetune.l2 = vec![0.0, 1.0];
        }
        _ => return None,
    }
    Some(c)
}

/// A run to check an answer against.
#[derive(Debug, Clone, Copy)]
pub enum Run<'a> {
    Linear(&'a LinearResults),
    Transformer(&'a ExperimentResults),
}

/// The answer a run gives to an exercise, with why, computed from the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expected {
    /// The right choice, or the step (as text).
    pub answer: String,
    /// For a number: how far off an answer may be.
    pub tolerance: Option<f64>,
    /// Why, with the run's numbers.
    pub because: String,
}

/// A checked answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub correct: bool,
    pub text: String,
}

/// Where a linear-lab curve turns upward, as a point in time: None when it has no clear
/// minimum (flat or within the noise); before the first checkpoint when it only rises.
fn turns(mean: &[Option<f64>], se: &[Option<f64>]) -> Option<Turn> {
    match verdict(mean, se) {
        Verdict::Inflection { index } => Some(Turn::At(index)),
        Verdict::OnlyRising => Some(Turn::Before),
        Verdict::StillFalling => Some(Turn::After),
        Verdict::WithinNoise { .. } | Verdict::TooFew => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Turn {
    Before,
    At(usize),
    After,
}

fn compare(small: Turn, large: Turn) -> &'static str {
    match large.cmp(&small) {
        std::cmp::Ordering::Less => "earlier",
        std::cmp::Ordering::Greater => "later",
        std::cmp::Ordering::Equal => "at the same step",
    }
}

/// The answer `run` gives to exercise `id`, or why it gives none (a run without the
/// exercise's set-up, or one whose curves show no clear minimum).
pub fn expected(id: &str, run: Run) -> Result<Expected, String> {
    let setup_first = |what: &str| format!("Run the set-up first: this run has no {what}.");
    match (id, run) {
        ("inflection", Run::Linear(r)) => {
            let c = finetune_curve(r, 0.01, 0.0).ok_or_else(|| setup_first("η_ft = 0.01 curve"))?;
            let step = c.inflection_step.ok_or_else(|| {
                "This run shows no clear minimum for η_ft = 0.01 (the loss keeps falling, or its dip is under 1 %): pre-train for more steps.".to_string()
            })?;
            let i = r.steps.iter().position(|&s| s == step).unwrap_or(0);
            let tolerance = 2.0 * r.config.pretrain.checkpoint_every as f64;
            Ok(Expected {
                answer: step.to_string(),
                tolerance: Some(tolerance),
                because: format!(
                    "the minimum is at step {step} ({:.3}); the loss rises to {:.3} by the last step",
                    c.pretrain_loss[i].unwrap_or(f64::NAN),
                    c.pretrain_loss.last().copied().flatten().unwrap_or(f64::NAN)
                ),
            })
        }
        ("gamma", Run::Linear(r)) => {
            let curve = |g: f64| {
                r.perturb.iter().find(|p| p.gamma == g).map(|p| {
                    let mean: Vec<Option<f64>> = p.mean_loss.iter().map(|&x| Some(x)).collect();
                    let se: Vec<Option<f64>> = p.mean_loss_se.iter().map(|&x| Some(x)).collect();
                    turns(&mean, &se)
                })
            };
            let (small, large) = (
                curve(0.05).ok_or_else(|| setup_first("γ = 0.05 curve"))?,
                curve(0.1).ok_or_else(|| setup_first("γ = 0.1 curve"))?,
            );
            let (Some(small), Some(large)) = (small, large) else {
                return Err("In this run one of the two curves has no clear minimum (its dip is within the Monte Carlo noise): add samples (M) or pre-train longer.".into());
            };
            Ok(Expected {
                answer: compare(small, large).into(),
                tolerance: None,
                because: format!(
                    "γ = 0.1 bottoms out at {}, γ = 0.05 at {}",
                    describe_turn(r, large),
                    describe_turn(r, small)
                ),
            })
        }
        ("lr", Run::Linear(r)) => {
            let curve = |lr: f64| finetune_curve(r, lr, 0.0).map(|c| turns(&c.pretrain_loss, &[]));
            let (small, large) = (
                curve(0.01).ok_or_else(|| setup_first("η_ft = 0.01 curve"))?,
                curve(0.03).ok_or_else(|| setup_first("η_ft = 0.03 curve"))?,
            );
            let (Some(small), Some(large)) = (small, large) else {
                return Err("In this run one of the two curves has no clear minimum: pre-train for more steps.".into());
            };
            Ok(Expected {
                answer: compare(small, large).into(),
                tolerance: None,
                because: format!(
                    "η_ft = 0.03 bottoms out at {}, η_ft = 0.01 at {}",
                    describe_turn(r, large),
                    describe_turn(r, small)
                ),
            })
        }
        ("l2", Run::Linear(r)) => {
            let free = finetune_curve(r, 0.03, 0.0)
                .ok_or_else(|| setup_first("λ = 0 curve at η_ft = 0.03"))?;
            let pulled = finetune_curve(r, 0.03, 1.0)
                .ok_or_else(|| setup_first("λ = 1 curve at η_ft = 0.03"))?;
            let last = r.steps.len() - 1;
            let (Some(fp), Some(pp), Some(ff), Some(pf)) = (
                free.pretrain_loss[last],
                pulled.pretrain_loss[last],
                free.finetune_loss[last],
                pulled.finetune_loss[last],
            ) else {
                return Err(
                    "A fine-tuning run diverged at the last checkpoint: nothing to compare.".into(),
                );
            };
            let forgetting = if pp < fp {
                "less forgetting"
            } else {
                "more forgetting"
            };
            let fit = if pf > ff {
                "worse fine-tuning"
            } else {
                "better fine-tuning"
            };
            Ok(Expected {
                answer: format!("{forgetting}, {fit}"),
                tolerance: None,
                because: format!(
                    "at the last checkpoint the pre-training loss is {pp:.3} with the pull against {fp:.3} without, the fine-tuning loss {pf:.3} against {ff:.3}"
                ),
            })
        }
        ("overtrain", Run::Transformer(r)) => {
            let f = r
                .finetune
                .iter()
                .find(|c| c.lr == 0.003 && c.l2 == 0.0)
                .filter(|_| r.budgets.len() >= 3)
                .ok_or_else(|| "Run the set-up first and let it finish.".to_string())?;
            let seeds = r.config.finetune.seeds;
            let se: Vec<Option<f64>> = f
                .pretrain_ppl_std
                .iter()
                .zip(&f.diverged)
                .map(|(s, &d)| s.map(|s| s / ((seeds - d).max(1) as f64).sqrt()))
                .collect();
            let last = f.pretrain_ppl.last().copied().flatten().unwrap_or(f64::NAN);
            let (answer, because) = match verdict(&f.pretrain_ppl, &se) {
                Verdict::Inflection { index } => (
                    OVERTRAINED[0],
                    format!(
                        "the best budget, {} tokens, reaches {:.2}; the longest, {} tokens, {:.2}, beyond the seeds' spread",
                        crate::plot::captions::tokens(r.budgets[index]),
                        f.pretrain_ppl[index].unwrap_or(f64::NAN),
                        crate::plot::captions::tokens(*r.budgets.last().unwrap_or(&0)),
                        last
                    ),
                ),
                Verdict::StillFalling => (
                    OVERTRAINED[1],
                    format!("the perplexity after fine-tuning keeps falling to the longest budget ({last:.2})"),
                ),
                _ => (
                    OVERTRAINED[2],
                    "the longest budget is not clearly worse than the best one: the difference is within the seeds' spread (or under 1 %)".into(),
                ),
            };
            Ok(Expected {
                answer: answer.into(),
                tolerance: None,
                because,
            })
        }
        (_, _) => {
            Err("This exercise belongs to the other lab: open its lab and run the set-up.".into())
        }
    }
}

fn finetune_curve(
    r: &LinearResults,
    lr: f64,
    l2: f64,
) -> Option<&crate::linear::results::FinetuneCurve> {
    r.finetune.iter().find(|c| c.lr == lr && c.l2 == l2)
}

fn describe_turn(r: &LinearResults, t: Turn) -> String {
    match t {
        Turn::At(i) => format!("step {}", r.steps[i]),
        Turn::Before => "the first checkpoint (it only rises)".into(),
        Turn::After => "after the last step (it keeps falling)".into(),
    }
}

/// Checks `answer` to exercise `id` against the student's `run`.
pub fn check(id: &str, run: Run, answer: &str) -> Check {
    let Some(ex) = exercise(id) else {
        return Check {
            correct: false,
            text: format!("There is no exercise \"{id}\"."),
        };
    };
    let answer = answer.trim();
    if answer.is_empty() {
        return Check {
            correct: false,
            text: "Give an answer first.".into(),
        };
    }
    let expected = match expected(id, run) {
        Ok(e) => e,
        Err(why) => {
            return Check {
                correct: false,
                text: why,
            }
        }
    };
    let correct = match (expected.tolerance, parse_number(answer)) {
        (Some(tolerance), Some(given)) => {
            let want = parse_number(&expected.answer).unwrap_or(f64::NAN);
            (given - want).abs() <= tolerance
        }
        (Some(_), None) => false,
        (None, _) => answer == expected.answer,
    };
    let text = if correct {
        format!("Yes: {}.", expected.because)
    } else {
        let within = match expected.tolerance {
            Some(t) => format!(" (within ±{t} steps)"),
            None => String::new(),
        };
        format!("Not quite: look at {}{within}.", ex.look)
    };
    Check { correct, text }
}

/// A number as a student types it, read as `str::parse::<f64>` reads a finite one: spaces
/// around it, a sign (`+` too), `.5`, `5.`, leading zeros, an exponent (`1e3`); `None` for
/// anything else (`1,000`, `inf`, `NaN`). It is rewritten as JSON's number syntax and read
/// by serde_json, whose exact reader the crate has anyway: `str::parse::<f64>` would bring
/// core's own reader and its tables, 14 kB of the gzipped wasm (README, "Size").
pub fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let (sign, text) = match text.as_bytes().first() {
        Some(b'-') => ("-", &text[1..]),
        Some(b'+') => ("", &text[1..]),
        _ => ("", text),
    };
    let (mantissa, exponent) = text.split_at(text.find(['e', 'E']).unwrap_or(text.len()));
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole = match whole.trim_start_matches('0') {
        "" => "0",
        w => w,
    };
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    serde_json::from_str(&format!("{sign}{whole}{fraction}{exponent}")).ok()
}
