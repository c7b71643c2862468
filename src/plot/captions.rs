//! What each plot shows, in words computed from the results it draws: the page's captions
//! and the plots' accessible summaries, and the CLI's. Nothing here is fixed text about
//! the phenomenon: every sentence states what this run's numbers show — its minima by the
//! one rule of both labs ([`crate::inflection`]), rises and falls with their values — and
//! says plainly when the run does not show the effect. (What the axes are is the page's.)

use super::sweep::{inflections, size_law, value_label};
use crate::experiment::{ExperimentResults, SweepResults};
use crate::inflection::{verdict, Verdict, MIN_RISE, NOISE_SE};
use crate::linear::LinearResults;
use serde::Serialize;

/// One plot's caption: its name (as in `all_plots`) and what this run shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Caption {
    pub plot: &'static str,
    pub text: String,
    /// Whether the plot shows the paper's effect on this run: a minimum past which more
    /// pre-training makes things worse (perturbed and fine-tuned plots), sensitivity that
    /// grows (sensitivity plots). None for plots that show no effect either way.
    pub shows_effect: Option<bool>,
}

/// A value with three significant digits ("0.0579", "1.24", "18.6", "1,079").
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "—".into();
    }
    let a = x.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", x);
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        return format!("{sign}{out}");
    }
    if a == 0.0 {
        return "0".into();
    }
    if a < 1e-3 {
        return format!("{x:.1e}");
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    format!("{x:.decimals$}")
}

/// Tokens as "262k", "8.4M", "1.2B".
pub fn tokens(t: u64) -> String {
    let t = t as f64;
    let (v, unit) = if t >= 1e9 {
        (t / 1e9, "B")
    } else if t >= 1e6 {
        (t / 1e6, "M")
    } else if t >= 1e3 {
        (t / 1e3, "k")
    } else {
        (t, "")
    };
    // Two significant digits, as the README's tables: "262k", "33k", "8.4M", "1.0M".
    let text = if v >= 10.0 || unit.is_empty() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    format!("{text}{unit}")
}

/// A curve over pre-training, to be described.
struct Curve<'a> {
    /// What it is, as a sentence's subject: "the perturbed loss for γ = 0.05".
    what: String,
    mean: &'a [Option<f64>],
    /// Standard errors (empty: a deterministic curve).
    se: &'a [Option<f64>],
    /// The x of point i in words: "step 450", "1M tokens".
    at: &'a dyn Fn(usize) -> String,
}

/// The first and last finite points: (index, value).
fn ends(mean: &[Option<f64>]) -> Option<((usize, f64), (usize, f64))> {
    let mut finite = mean
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)));
    let first = finite.next()?;
    Some((first, finite.next_back().unwrap_or(first)))
}

/// The rule's verdict on a curve, in a sentence, and the verdict.
fn describe(c: &Curve) -> (String, Verdict) {
    let v = verdict(c.mean, c.se);
    let Some(((i0, first), (iz, last))) = ends(c.mean) else {
        return (format!("{} has no finite value", c.what), v);
    };
    let at = c.at;
    let se = |i: usize| c.se.get(i).copied().flatten().unwrap_or(0.0);
    let text = match v {
        Verdict::Inflection { index } => {
            let low = c.mean[index].unwrap_or(f64::NAN);
            format!(
                "{} is lowest at {} ({}) and rises to {} by {}: past {}, more pre-training makes it worse",
                c.what,
                at(index),
                num(low),
                num(last),
                at(iz),
                at(index)
            )
        }
        Verdict::StillFalling => format!(
            "{} keeps falling to the last point ({} at {} → {} at {}): no minimum within this range — not overtrained yet",
            c.what,
            num(first),
            at(i0),
            num(last),
            at(iz)
        ),
        Verdict::OnlyRising => format!(
            "{} rises from the first point on ({} at {} → {} at {}): no minimum within this range — even the shortest pre-training is past its best",
            c.what,
            num(first),
            at(i0),
            num(last),
            at(iz)
        ),
        Verdict::WithinNoise { index } => {
            let low = c.mean[index].unwrap_or(f64::NAN);
            // The end that does not stand out: by the visible rise, or by the noise.
            let (end, value) = if last - low <= first - low {
                (iz, last)
            } else {
                (i0, first)
            };
            let rise = value - low;
            let why = if rise <= MIN_RISE * low.abs() {
                format!(
                    "{} at {} is less than 1 % above it",
                    num(value),
                    at(end)
                )
            } else {
                let noise = NOISE_SE * (se(end).powi(2) + se(index).powi(2)).sqrt();
                format!(
                    "the difference to {} at {} ({}) is within the noise (±{})",
                    num(value),
                    at(end),
                    num(rise),
                    num(noise)
                )
            };
            format!(
                "{} has its lowest point at {} ({}), but {}: no clear minimum",
                c.what,
                at(index),
                num(low),
                why
            )
        }
        Verdict::TooFew => format!("{}: too few points to judge", c.what),
    };
    (text, v)
}

/// "earlier than", "later than" or "at the same point as": where a second inflection lies
/// against a first.
fn direction(first: usize, second: usize) -> &'static str {
    match second.cmp(&first) {
        std::cmp::Ordering::Less => "earlier than",
        std::cmp::Ordering::Greater => "later than",
        std::cmp::Ordering::Equal => "at the same point as",
    }
}

/// How the ends of a curve compare: rises, falls, or stays within 1 % (and the noise).
fn trend(first: f64, last: f64, se_first: f64, se_last: f64) -> &'static str {
    let change = last - first;
    let noise = NOISE_SE * (se_first.powi(2) + se_last.powi(2)).sqrt();
    if change.abs() <= noise || change.abs() <= MIN_RISE * first.abs().max(last.abs()) {
        "stays level"
    } else if change > 0.0 {
        "rises"
    } else {
        "falls"
    }
}

/// Inserts `item` after every entry whose key is at most its own: a list kept in order of
/// the key, in arrival order among equal keys (as a stable sort would leave it). The lists
/// here hold a few entries each; a sort of each kind of entry would compile core's sort
/// once more into the wasm (README, "Size").
fn insert_sorted<T>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> f64) {
    let at = list.partition_point(|x| key(x) <= key(&item));
    list.insert(at, item);
}

fn sentences(parts: Vec<String>) -> String {
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| {
            // ASCII case only: every part starts with an English word (a Greek symbol keeps
            // its case), and Unicode's case tables would be carried by the wasm for this.
            let mut c = p.chars();
            let body = match c.next() {
                Some(f) => format!("{}{}", f.to_ascii_uppercase(), c.as_str()),
                None => String::new(),
            };
            if body.ends_with('.') {
                body
            } else {
                format!("{body}.")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The captions of the linear lab's four plots.
pub fn linear(r: &LinearResults) -> Vec<Caption> {
    let at = |i: usize| format!("step {}", r.steps.get(i).copied().unwrap_or(0));
    let last = r.steps.len().saturating_sub(1);
    let some = |v: &[f64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();

    // (a) The base loss and the sensitivity.
    let mut parts = Vec::new();
    let base = &r.pretrain_loss;
    let base_trend = trend(base[0], base[last], 0.0, 0.0);
    parts.push(format!(
        "the base pre-training loss {} from {} at step 0 to {} at {}",
        base_trend,
        num(base[0]),
        num(base[last]),
        at(last)
    ));
    let mut all_rise = true;
    for p in &r.perturb {
        let t = trend(
            p.sensitivity[0],
            p.sensitivity[last],
            p.mean_loss_se[0],
            p.mean_loss_se[last],
        );
        all_rise &= t == "rises";
        parts.push(format!(
            "the sensitivity to noise γ = {} {} from {} to {}",
            p.gamma,
            t,
            num(p.sensitivity[0]),
            num(p.sensitivity[last])
        ));
    }
    let progressive = base_trend == "falls" && all_rise && !r.perturb.is_empty();
    parts.push(if progressive {
        "pre-training longer made the model better and more sensitive at once: progressive sensitivity".into()
    } else {
        "this run does not show progressive sensitivity (a falling loss with a rising sensitivity for every γ)".into()
    });
    let sensitivity = Caption {
        plot: "sensitivity",
        text: sentences(parts),
        shows_effect: Some(progressive),
    };

    // (b) The perturbed loss per γ.
    let mut parts = Vec::new();
    let mut minima = Vec::new();
    for p in &r.perturb {
        let (mean, se) = (some(&p.mean_loss), some(&p.mean_loss_se));
        let (text, v) = describe(&Curve {
            what: format!("for γ = {} the perturbed loss", p.gamma),
            mean: &mean,
            se: &se,
            at: &at,
        });
        parts.push(text);
        if let Some(i) = v.index() {
            insert_sorted(&mut minima, (p.gamma, i), |m| m.0);
        }
    }
    for w in minima.windows(2) {
        parts.push(format!(
            "the larger γ = {} bottoms out {} γ = {} ({} against {})",
            w[1].0,
            direction(w[0].1, w[1].1),
            w[0].0,
            at(w[1].1),
            at(w[0].1)
        ));
    }
    if minima.is_empty() {
        parts.push(
            "no γ shows a clear minimum in this run: try a larger γ or more pre-training steps"
                .into(),
        );
    }
    let perturbed = Caption {
        plot: "perturbed",
        text: sentences(parts),
        shows_effect: Some(!minima.is_empty()),
    };

    // (c) After fine-tuning, per (η, λ).
    let mut parts = Vec::new();
    let mut minima: Vec<(f64, f64, usize)> = Vec::new();
    for c in &r.finetune {
        let what = if c.l2 == 0.0 {
            format!("with η = {} the pre-training loss after fine-tuning", c.lr)
        } else {
            format!(
                "with η = {} and λ = {} the pre-training loss after fine-tuning",
                c.lr, c.l2
            )
        };
        let (text, v) = describe(&Curve {
            what,
            mean: &c.pretrain_loss,
            se: &[],
            at: &at,
        });
        parts.push(text);
        if let Some(d) = c.diverged_at {
            parts.push(format!(
                "fine-tuning with η = {} diverged from step {d} of its run at {} checkpoint(s), left out",
                c.lr,
                c.diverged_checkpoints.len()
            ));
        }
        if let Some(i) = v.index() {
            minima.push((c.l2, c.lr, i));
        }
    }
    // Larger η against smaller, for each λ: where each turns upward (a curve that only
    // rises turned before the first checkpoint, the earliest of all).
    let mut l2s: Vec<f64> = r.finetune.iter().map(|c| c.l2).collect();
    l2s.dedup();
    for &l2 in &l2s {
        let mut turns: Vec<(f64, Option<usize>)> = Vec::new();
        for c in r.finetune.iter().filter(|c| c.l2 == l2) {
            let turn = match verdict(&c.pretrain_loss, &[]) {
                Verdict::Inflection { index } => Some(index),
                Verdict::OnlyRising => None,
                _ => continue,
            };
            insert_sorted(&mut turns, (c.lr, turn), |t| t.0);
        }
        let with = if l2 == 0.0 {
            String::new()
        } else {
            format!(" with λ = {l2}")
        };
        for w in turns.windows(2) {
            let text = match (w[0].1, w[1].1) {
                (Some(a), Some(b)) => format!(
                    "the larger η = {} turns upward {} η = {}{with} ({} against {})",
                    w[1].0,
                    direction(a, b),
                    w[0].0,
                    at(b),
                    at(a)
                ),
                (Some(a), None) => format!(
                    "the larger η = {} turns upward earlier than η = {}{with}: before the first checkpoint, against {}",
                    w[1].0,
                    w[0].0,
                    at(a)
                ),
                (None, Some(b)) => format!(
                    "the larger η = {} turns upward later than η = {}{with} ({} against before the first checkpoint)",
                    w[1].0,
                    w[0].0,
                    at(b)
                ),
                (None, None) => continue,
            };
            parts.push(text);
        }
    }
    // λ against no pull, at the same η: where it turns, and what it costs at the end.
    for c in r.finetune.iter().filter(|c| c.l2 > 0.0) {
        let Some(free) = r.finetune.iter().find(|f| f.l2 == 0.0 && f.lr == c.lr) else {
            continue;
        };
        let (Some(fp), Some(cp), Some(ff), Some(cf)) = (
            free.pretrain_loss[last],
            c.pretrain_loss[last],
            free.finetune_loss[last],
            c.finetune_loss[last],
        ) else {
            continue;
        };
        parts.push(format!(
            "at {} the pull λ = {} (η = {}) leaves a pre-training loss of {} against {} without it, and a fine-tuning loss of {} against {}",
            at(last),
            c.l2,
            c.lr,
            num(cp),
            num(fp),
            num(cf),
            num(ff)
        ));
    }
    if minima.is_empty() {
        parts.push("no fine-tuning run shows a clear minimum in this run: the model is not overtrained for these rates; pre-train longer or fine-tune with a larger η".into());
    }
    for t in &r.theory.finetune {
        let shown = match t.inflection_step {
            Some(s) => format!("has its minimum at step {s}"),
            None => "has no clear minimum".into(),
        };
        parts.push(format!("the idealized theory (grey, λ = {}) {shown}", t.l2));
    }
    let finetuned = Caption {
        plot: "finetuned",
        text: sentences(parts),
        shows_effect: Some(!minima.is_empty()),
    };

    // (d) Directions learned one at a time.
    let learned = &r.theory.learned_directions;
    let dim = r.config.dim;
    let k = learned.last().copied().unwrap_or(0);
    let text = if k == 0 {
        format!(
            "no direction has reached half its target strength by {}",
            at(last)
        )
    } else {
        let when = |j: usize| learned.iter().position(|&n| n >= j).map(&at);
        let mut t = format!(
            "by {} the network has learned {k} of the {dim} directions (each counted once it reaches half its target strength)",
            at(last)
        );
        if let (Some(a), Some(b)) = (when(1), when(k)) {
            if k > 1 {
                t.push_str(&format!(
                    ", one after another: the first by {a}, the last by {b}"
                ));
            } else {
                t.push_str(&format!(", by {a}"));
            }
        }
        t
    };
    let singular_values = Caption {
        plot: "singular_values",
        text: sentences(vec![text]),
        shows_effect: None,
    };
    vec![sensitivity, perturbed, finetuned, singular_values]
}

/// The captions of the transformer lab's plots (of the finished budgets): its five, and
/// for a sweep each value's in turn and the `inflection` summary's.
pub fn experiment(r: &ExperimentResults) -> Vec<Caption> {
    match &r.sweep {
        Some(sweep) => sweep_captions(sweep, r),
        None => one_experiment(r),
    }
}

/// A sweep's captions: each plot's says what every value's curves show, in the order of
/// the values ("At d_model = 8: … At d_model = 24: …"); it shows the effect when some
/// value's curves do. The summary says where each family turns upward at each value.
fn sweep_captions(sweep: &SweepResults, r: &ExperimentResults) -> Vec<Caption> {
    let per_value: Vec<Vec<Caption>> = sweep.sections.iter().map(one_experiment).collect();
    let name = sweep.short_field();
    let mut out: Vec<Caption> = per_value[0]
        .iter()
        .enumerate()
        .map(|(k, first)| {
            let mut text = Vec::new();
            let mut effects = Vec::new();
            for (i, captions) in per_value.iter().enumerate() {
                let c = &captions[k];
                text.push(format!(
                    "At {name} = {}: {}",
                    value_label(&sweep.values[i]),
                    lower_first(&c.text)
                ));
                effects.push(c.shows_effect);
            }
            let shows_effect = if effects.contains(&Some(true)) {
                Some(true)
            } else if effects.iter().all(|e| *e == Some(false)) {
                Some(false)
            } else {
                None
            };
            Caption {
                plot: first.plot,
                text: text.join(" "),
                shows_effect,
            }
        })
        .collect();
    out.push(inflection_caption(sweep, r));
    out
}

/// The summary plot's caption: for each family, its inflection at each value ("none" when
/// its curve has none within the budgets); for a sweep of the model's size, the fitted
/// power law. It shows an effect when some family's inflection differs between values.
fn inflection_caption(sweep: &SweepResults, r: &ExperimentResults) -> Caption {
    let name = sweep.short_field();
    let families = inflections(r);
    let mut parts = Vec::new();
    let mut moves = false;
    for f in &families {
        let at: Vec<String> = f
            .budgets
            .iter()
            .zip(&sweep.values)
            .map(|(b, v)| {
                let where_ = match b {
                    Some(t) => format!("at {} tokens", tokens(*t)),
                    None => "none within the budgets".into(),
                };
                format!("{where_} for {name} = {}", value_label(v))
            })
            .collect();
        moves |= f.budgets.windows(2).any(|w| w[0] != w[1]);
        parts.push(format!("{}: inflection {}", f.label, at.join(", ")));
    }
    if let Some((family, fit)) = size_law(r) {
        parts.push(match fit {
            Some(fit) => format!(
                "fitted to {}, the inflection's tokens scale as parameters^{}{} ({} sizes), so its tokens per parameter as parameters^{}",
                family.label,
                num(fit.exponent),
                fit.se.map(|se| format!(" ± {}", num(se))).unwrap_or_default(),
                fit.points,
                num(fit.exponent - 1.0)
            ),
            None => format!(
                "no power law: fewer than two sizes inflect for {}",
                family.label
            ),
        });
    }
    if !moves && !families.is_empty() {
        parts.push(format!("the inflection does not move with {name} here"));
    }
    Caption {
        plot: "inflection",
        text: sentences(parts),
        shows_effect: (!families.is_empty()).then_some(moves),
    }
}

/// A sentence's first letter in lower case ("The base…" → "the base…"), to follow a colon
/// (ASCII case, as in [`sentences`]).
fn lower_first(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(f) => format!("{}{}", f.to_ascii_lowercase(), c.as_str()),
        None => String::new(),
    }
}

/// The captions of one experiment's five plots.
fn one_experiment(r: &ExperimentResults) -> Vec<Caption> {
    let at = |i: usize| format!("{} tokens", tokens(r.budgets.get(i).copied().unwrap_or(0)));
    let n = r.budgets.len();
    if n == 0 {
        return [
            "base",
            "perturbed",
            "finetuned_change",
            "finetuned",
            "tuned",
        ]
        .into_iter()
        .map(|plot| Caption {
            plot,
            text: "No budget has finished yet.".into(),
            shows_effect: None,
        })
        .collect();
    }
    let last = n - 1;
    let some = |v: &[f64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
    let draws = r.config.perturb.draws as f64;

    // (i) The base model.
    let b = &r.base.pretrain_ppl;
    let monotone = b.windows(2).all(|w| w[1] < w[0]);
    let base_trend = trend(b[0], b[last], 0.0, 0.0);
    let mut parts = vec![format!(
        "the base perplexity {}{} from {} at {} to {} at {}",
        base_trend,
        if monotone && base_trend == "falls" && n > 2 {
            " at every budget"
        } else {
            ""
        },
        num(b[0]),
        at(0),
        num(b[last]),
        at(last)
    )];
    let diverged: Vec<usize> = r
        .base
        .diverged_at
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.map(|_| i))
        .collect();
    if !diverged.is_empty() {
        parts.push(format!(
            "pre-training diverged at {} budget(s)",
            diverged.len()
        ));
    }
    let base = Caption {
        plot: "base",
        text: sentences(parts),
        shows_effect: None,
    };

    // (ii) Perturbation: the perplexity's change (sensitivity) and the perturbed curve.
    let mut parts = Vec::new();
    let mut all_rise = !r.perturb.is_empty();
    let mut minima = Vec::new();
    for p in &r.perturb {
        let se: Vec<Option<f64>> = p
            .pretrain_ppl_std
            .iter()
            .map(|s| Some(s / draws.sqrt()))
            .collect();
        let t = trend(
            p.change_mean[0],
            p.change_mean[last],
            se[0].unwrap_or(0.0),
            se[last].unwrap_or(0.0),
        );
        all_rise &= t == "rises";
        parts.push(format!(
            "noise of scale γ = {} costs {} in perplexity at {} and {} at {} (it {})",
            p.gamma,
            num(p.change_mean[0]),
            at(0),
            num(p.change_mean[last]),
            at(last),
            match t {
                "rises" => "grows with the budget",
                "falls" => "shrinks with the budget",
                _ => "stays level",
            }
        ));
        let mean = some(&p.pretrain_ppl_mean);
        let (text, v) = describe(&Curve {
            what: format!("the perturbed perplexity for γ = {}", p.gamma),
            mean: &mean,
            se: &se,
            at: &at,
        });
        if v.index().is_some() || p.gamma == r.perturb.last().map_or(0.0, |q| q.gamma) {
            parts.push(text);
        }
        if let Some(i) = v.index() {
            minima.push((p.gamma, i));
        }
    }
    parts.push(if all_rise {
        "the longer-trained models are more fragile for every γ: progressive sensitivity".into()
    } else {
        "this run does not show sensitivity growing with the budget for every γ".into()
    });
    let perturbed = Caption {
        plot: "perturbed",
        text: sentences(parts),
        shows_effect: Some(all_rise || !minima.is_empty()),
    };

    // Fine-tuning: its curves' standard errors over the seeds that did not diverge.
    let seeds = r.config.finetune.seeds;
    let finetune_se = |std: &[Option<f64>], diverged: &[usize]| -> Vec<Option<f64>> {
        std.iter()
            .zip(diverged)
            .map(|(s, &d)| s.map(|s| s / ((seeds - d).max(1) as f64).sqrt()))
            .collect()
    };
    let label = |lr: f64, l2: f64| {
        if l2 == 0.0 {
            format!("lr {lr}")
        } else {
            format!("lr {lr} with λ = {l2}")
        }
    };

    // (iii) The change in pre-training perplexity after fine-tuning (forgetting).
    let mut parts = Vec::new();
    let mut all_grow = !r.finetune.is_empty();
    let mut young = false;
    for f in &r.finetune {
        let ends = ends(&f.pretrain_change);
        let Some(((i0, first), (iz, last_v))) = ends else {
            parts.push(format!(
                "every fine-tuning run at {} diverged",
                label(f.lr, f.l2)
            ));
            all_grow = false;
            continue;
        };
        let se = finetune_se(&f.pretrain_ppl_std, &f.diverged);
        let t = trend(first, last_v, se[i0].unwrap_or(0.0), se[iz].unwrap_or(0.0));
        all_grow &= t == "rises";
        let effect = |x: f64| {
            if x < 0.0 {
                format!("lowers it by {}", num(-x))
            } else {
                format!("raises it by {}", num(x))
            }
        };
        parts.push(format!(
            "fine-tuning at {} {} at {} and {} at {}{}",
            label(f.lr, f.l2),
            effect(first).replacen("it", "the pre-training perplexity", 1),
            at(i0),
            effect(last_v),
            at(iz),
            match t {
                "rises" if last_v > 0.0 => ": the cost grows with the budget",
                "falls" => ": the cost shrinks with the budget",
                _ => "",
            }
        ));
        all_grow &= last_v > 0.0 && first > 0.0;
        if first < 0.0 {
            young = true;
        }
    }
    if young {
        parts.push("where fine-tuning lowers the pre-training perplexity, the model was still young: the task's text taught it more of the shared alphabet".into());
    }
    parts.push(if all_grow {
        "the same fine-tuning costs a longer-trained model more".into()
    } else {
        "in this run fine-tuning does not cost every longer-trained model more for every learning rate".into()
    });
    let finetuned_change = Caption {
        plot: "finetuned_change",
        text: sentences(parts),
        shows_effect: Some(all_grow),
    };

    // (iv) The pre-training perplexity after fine-tuning: the U.
    let mut parts = Vec::new();
    let mut minima: Vec<(f64, f64, usize)> = Vec::new();
    for f in &r.finetune {
        let se = finetune_se(&f.pretrain_ppl_std, &f.diverged);
        let (text, v) = describe(&Curve {
            what: format!(
                "after fine-tuning at {}, the pre-training perplexity",
                label(f.lr, f.l2)
            ),
            mean: &f.pretrain_ppl,
            se: &se,
            at: &at,
        });
        parts.push(text);
        if let Some(i) = v.index() {
            minima.push((f.l2, f.lr, i));
        }
        let failed: usize = f.diverged.iter().sum();
        if failed > 0 {
            parts.push(format!(
                "{failed} fine-tuning run(s) at {} diverged and are left out",
                label(f.lr, f.l2)
            ));
        }
    }
    let mut l2s: Vec<f64> = r.finetune.iter().map(|f| f.l2).collect();
    l2s.dedup();
    for &l2 in &l2s {
        let mut by_lr = Vec::new();
        for m in minima.iter().filter(|m| m.0 == l2) {
            insert_sorted(&mut by_lr, m, |m| m.1);
        }
        for w in by_lr.windows(2) {
            parts.push(format!(
                "the larger lr {} turns upward {} lr {} ({} against {})",
                w[1].1,
                direction(w[0].2, w[1].2),
                w[0].1,
                at(w[1].2),
                at(w[0].2)
            ));
        }
    }
    if let Some(f) = r.finetune.iter().max_by(|a, b| a.lr.total_cmp(&b.lr)) {
        if let Some(((i0, first), (iz, last_v))) = ends(&f.id_ppl) {
            parts.push(format!(
                "the task's own perplexity at lr {} goes from {} at {} to {} at {}",
                f.lr,
                num(first),
                at(i0),
                num(last_v),
                at(iz)
            ));
        }
    }
    parts.push(if minima.is_empty() {
        "this run did not show catastrophic overtraining: no minimum within these budgets — the model is not overtrained yet; try larger budgets or a larger learning rate".into()
    } else {
        "this run shows catastrophic overtraining: past the ring, more pre-training made the fine-tuned model worse".into()
    });
    let finetuned = Caption {
        plot: "finetuned",
        text: sentences(parts),
        shows_effect: Some(!minima.is_empty()),
    };

    // (v) The tuned learning rate.
    let mut parts = Vec::new();
    let mut shows = false;
    for t in &r.tuned {
        let what = if t.l2 == 0.0 {
            "with the best learning rate per budget, the pre-training perplexity".to_string()
        } else {
            format!(
                "with the best learning rate per budget (λ = {}), the pre-training perplexity",
                t.l2
            )
        };
        // Each budget's standard error is that of the curve its learning rate was taken from.
        let se: Vec<Option<f64>> = (0..n)
            .map(|b| {
                let lr = t.lr[b]?;
                let f = r.finetune.iter().find(|f| f.lr == lr && f.l2 == t.l2)?;
                finetune_se(&f.pretrain_ppl_std, &f.diverged)[b]
            })
            .collect();
        let (text, v) = describe(&Curve {
            what,
            mean: &t.pretrain_ppl,
            se: &se,
            at: &at,
        });
        parts.push(text);
        shows |= v.index().is_some();
        let lrs: Vec<String> =
            t.lr.iter()
                .map(|l| l.map_or("—".into(), |l| l.to_string()))
                .collect();
        parts.push(format!("the chosen learning rates: {}", lrs.join(", ")));
    }
    let tuned = Caption {
        plot: "tuned",
        text: sentences(parts),
        shows_effect: Some(shows),
    };
    vec![base, perturbed, finetuned_change, finetuned, tuned]
}
