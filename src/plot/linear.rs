//! The four plots of the linear lab:
//! (a) base pre-training loss and sensitivity vs steps;
//! (b) perturbed pre-training loss vs steps, one curve per γ;
//! (c) pre-training and fine-tuning loss after fine-tuning vs steps, per (η_ft, λ);
//! (d) singular values of W₁W₂ in the task basis vs steps (incremental learning).

use super::style::{
    self, by_values, draw_legend, draw_line, draw_ring, plain, with_legend, Dash, Entry, Look,
    Style,
};
use super::{
    err, error_svg, linear_range, log_range, ramp, svg, tick, Axis, PlotOptions, PlotResult, FONT,
};
use crate::linear::LinearResults;
use plotters::coord::Shift;
use plotters::prelude::*;

type PlotFn = fn(&LinearResults, &PlotOptions) -> Result<String, String>;

/// Every plot, named as the CLI's files and the page's panels are.
pub fn all_plots(results: &LinearResults, opts: &PlotOptions) -> Vec<(&'static str, String)> {
    let plots: [(&'static str, PlotFn); 4] = [
        ("sensitivity", plot_sensitivity),
        ("perturbed", plot_perturbed),
        ("finetuned", plot_finetuned),
        ("singular_values", plot_singular_values),
    ];
    plots
        .iter()
        .map(|(name, f)| {
            (
                *name,
                f(results, opts).unwrap_or_else(|e| error_svg(opts, &e)),
            )
        })
        .collect()
}

fn x_range(results: &LinearResults) -> Axis {
    let last = results.steps.last().copied().unwrap_or(1).max(1) as f64;
    Axis::linear(0.0..last)
}

/// Points of a curve, split into runs of present values (a diverged value breaks the line).
fn segments(
    steps: &[usize],
    values: impl IntoIterator<Item = Option<f64>>,
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (&s, v) in steps.iter().zip(values) {
        match v.filter(|v| v.is_finite()) {
            Some(v) => out.last_mut().unwrap().push((s as f64, v)),
            None => {
                if !out.last().unwrap().is_empty() {
                    out.push(Vec::new());
                }
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The points of a curve of present values (a diverged value breaks the line), for
/// [`draw_line`].
fn curve_segments(steps: &[usize], values: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    segments(steps, values.iter().copied())
}

fn some(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().map(|&x| Some(x)).collect()
}

/// A chart's mesh: pre-training steps on x, `y_desc` on y (at most 6 ticks each), in the
/// style's sizes.
fn mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<Axis, Axis>>,
    style: &Style,
    y_desc: &str,
) -> PlotResult {
    chart
        .configure_mesh()
        .x_desc("pre-training step")
        .y_desc(y_desc)
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| tick(*y))
        .axis_desc_style((FONT, style.axis))
        .label_style((FONT, style.tick))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)
}

/// The inflection's ring on a curve, at step `s` if it is one of the checkpoints.
fn ring_at<DB: DrawingBackend, X: Ranged<ValueType = f64>, Y: Ranged<ValueType = f64>>(
    chart: &ChartContext<'_, DB, Cartesian2d<X, Y>>,
    steps: &[usize],
    values: &[Option<f64>],
    s: Option<usize>,
    look: &Look,
    style: &Style,
) -> PlotResult {
    let Some(s) = s else { return Ok(()) };
    let Some(y) = steps.iter().position(|&x| x == s).and_then(|i| values[i]) else {
        return Ok(());
    };
    draw_ring(chart.plotting_area(), (s as f64, y), look.color, style)
}

/// "lowest at step 550", "no clear minimum": what a curve's legend entry says of it.
fn minimum_note(s: Option<usize>) -> String {
    match s {
        Some(s) => format!("lowest at step {s}"),
        None => "no clear minimum".into(),
    }
}

fn subtitle(results: &LinearResults) -> String {
    match results.pretrain_diverged_at {
        Some(step) => format!(" — pre-training diverged at step {step}"),
        None => String::new(),
    }
}

/// (a) Base loss and sensitivity (perturbed minus base) on one log axis.
pub fn plot_sensitivity(results: &LinearResults, opts: &PlotOptions) -> Result<String, String> {
    svg(opts, |root| {
        draw_sensitivity(root, results, &Style::of(opts))
    })
}

fn draw_sensitivity<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LinearResults,
    style: &Style,
) -> PlotResult {
    let steps = &results.steps;
    let mut all: Vec<f64> = results.pretrain_loss.clone();
    for p in &results.perturb {
        all.extend(p.sensitivity.iter().copied());
    }
    let looks = by_values(&results.perturb.iter().map(|p| p.gamma).collect::<Vec<_>>());
    let base_look = plain(BLACK, Dash::Solid);
    let mut entries = vec![Entry {
        look: base_look,
        label: "base pre-training loss".into(),
    }];
    for (p, look) in results.perturb.iter().zip(&looks) {
        entries.push(Entry {
            look: *look,
            label: format!("sensitivity, γ = {}", p.gamma),
        });
    }
    let (area, legend) = with_legend(root, style, &entries);
    let y = log_range(all);
    let ticks = style::log_ticks(&y);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            format!("(a) Base loss and sensitivity{}", subtitle(results)),
            (FONT, style.title),
        )
        .margin(12)
        .margin_right(30)
        .x_label_area_size(style.x_label_area())
        .y_label_area_size(style.y_label_area())
        .build_cartesian_2d(x_range(results), Axis::log(y, ticks))
        .map_err(err)?;
    mesh(&mut chart, style, "loss (log scale)")?;
    for seg in curve_segments(steps, &some(&results.pretrain_loss)) {
        draw_line(&mut chart, &seg, &base_look, style)?;
    }
    for (p, look) in results.perturb.iter().zip(&looks) {
        for seg in curve_segments(steps, &some(&p.sensitivity)) {
            draw_line(&mut chart, &seg, look, style)?;
        }
    }
    draw_legend(&legend, &entries, style)
}

/// (b) Perturbed loss per γ: Monte Carlo mean (solid, ring at its inflection), closed form
/// (dashed, same colour), the unperturbed loss (grey, dotted).
pub fn plot_perturbed(results: &LinearResults, opts: &PlotOptions) -> Result<String, String> {
    svg(opts, |root| draw_perturbed(root, results, &Style::of(opts)))
}

fn draw_perturbed<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LinearResults,
    style: &Style,
) -> PlotResult {
    let steps = &results.steps;
    // The range follows the perturbed curves: their U is shallow, and the unperturbed loss
    // (which keeps falling, and is clipped below) would squash it flat.
    let mut all_perturbed: Vec<f64> = Vec::new();
    for p in &results.perturb {
        all_perturbed.extend(p.mean_loss.iter().chain(&p.expected_loss).copied());
    }
    let looks = by_values(&results.perturb.iter().map(|p| p.gamma).collect::<Vec<_>>());
    let grey = RGBColor(110, 110, 110);
    let unperturbed = plain(grey, Dash::Dotted);
    let mut entries = vec![Entry {
        look: unperturbed,
        label: "unperturbed".into(),
    }];
    for (p, look) in results.perturb.iter().zip(&looks) {
        entries.push(Entry {
            look: *look,
            label: format!("γ = {}: {}", p.gamma, minimum_note(p.inflection_step)),
        });
    }
    if let Some(look) = looks.first() {
        entries.push(Entry {
            look: Look {
                marker: None,
                dash: Dash::Dashed,
                ..*look
            },
            label: "dashed: the closed form".into(),
        });
    }
    let (area, legend) = with_legend(root, style, &entries);
    let y = log_range(all_perturbed.iter().copied());
    let floor = y.start;
    let ticks = style::log_ticks(&y);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            format!(
                "(b) Loss after a Gaussian perturbation{}",
                subtitle(results)
            ),
            (FONT, style.title),
        )
        .margin(12)
        .margin_right(30)
        .x_label_area_size(style.x_label_area())
        .y_label_area_size(style.y_label_area())
        .build_cartesian_2d(x_range(results), Axis::log(y, ticks))
        .map_err(err)?;
    mesh(&mut chart, style, "pre-training loss (log scale)")?;
    // Only the part inside the axis: plotters would squash the rest onto the bottom edge.
    let visible: Vec<Option<f64>> = results
        .pretrain_loss
        .iter()
        .map(|&v| Some(v).filter(|v| *v >= floor))
        .collect();
    for seg in curve_segments(steps, &visible) {
        draw_line(&mut chart, &seg, &unperturbed, style)?;
    }
    for (p, look) in results.perturb.iter().zip(&looks) {
        let closed = Look {
            marker: None,
            dash: Dash::Dashed,
            ..*look
        };
        for seg in curve_segments(steps, &some(&p.expected_loss)) {
            draw_line(&mut chart, &seg, &closed, style)?;
        }
        let mean = some(&p.mean_loss);
        for seg in curve_segments(steps, &mean) {
            draw_line(&mut chart, &seg, look, style)?;
        }
        ring_at(&chart, steps, &mean, p.inflection_step, look, style)?;
    }
    draw_legend(&legend, &entries, style)
}

/// (c) Pre-training loss (top) and fine-tuning loss (bottom) after fine-tuning each
/// checkpoint; colour and marker = η_ft, dash = λ; theory (grey) when asked.
pub fn plot_finetuned(results: &LinearResults, opts: &PlotOptions) -> Result<String, String> {
    let tall = PlotOptions {
        height: opts.height * 17 / 10,
        ..opts.clone()
    };
    svg(&tall, |root| draw_finetuned(root, results, opts))
}

fn draw_finetuned<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LinearResults,
    opts: &PlotOptions,
) -> PlotResult {
    let style = &Style::of(opts);
    let steps = &results.steps;
    let area = root
        .titled(
            &format!("(c) After fine-tuning each checkpoint{}", subtitle(results)),
            (FONT, style.title),
        )
        .map_err(err)?;
    let mut lrs: Vec<f64> = results.finetune.iter().map(|c| c.lr).collect();
    lrs.sort_unstable_by(f64::total_cmp);
    lrs.dedup();
    let mut l2s: Vec<f64> = results.finetune.iter().map(|c| c.l2).collect();
    l2s.sort_unstable_by(f64::total_cmp);
    l2s.dedup();
    let lr_looks = by_values(&lrs);
    let look = |lr: f64, l2: f64| {
        let base = lr_looks[lrs.iter().position(|&x| x == lr).unwrap_or(0)];
        Look {
            dash: Dash::nth(l2s.iter().position(|&x| x == l2).unwrap_or(0)),
            ..base
        }
    };
    let grey = RGBColor(150, 150, 150);
    // The theory's curve of a λ: grey, in that λ's dash.
    let theory_look = |l2: f64| {
        plain(
            grey,
            Dash::nth(l2s.iter().position(|&x| x == l2).unwrap_or(0)),
        )
    };
    let mut entries = Vec::new();
    for c in &results.finetune {
        let note = match c.diverged_at {
            Some(s) => format!("diverged at step {s}"),
            None => minimum_note(c.inflection_step),
        };
        entries.push(Entry {
            look: look(c.lr, c.l2),
            label: format!("η = {}, λ = {}: {note}", c.lr, c.l2),
        });
    }
    if opts.show_theory {
        for t in &results.theory.finetune {
            entries.push(Entry {
                look: theory_look(t.l2),
                label: format!("idealized theory, λ = {}", t.l2),
            });
        }
    }
    let (panels_area, legend) = with_legend(&area, style, &entries);
    let panels = panels_area.split_evenly((2, 1));
    for (panel, which) in panels.iter().zip([Metric::Pretrain, Metric::Finetune]) {
        let mut all: Vec<f64> = Vec::new();
        for c in &results.finetune {
            all.extend(which.values(c).iter().flatten().copied());
        }
        if opts.show_theory {
            for t in &results.theory.finetune {
                all.extend(which.theory(t).iter().copied());
            }
        }
        let mut builder = ChartBuilder::on(panel);
        builder
            .margin(10)
            .margin_right(30)
            .x_label_area_size(style.x_label_area())
            .y_label_area_size(style.y_label_area());
        // Pre-training loss after fine-tuning stays within one decade: a linear axis shows
        // its U. The fine-tuning loss spans many decades: log axis, floored at max/1e6.
        let y = match which {
            Metric::Pretrain => Axis::linear(linear_range(all)),
            Metric::Finetune => {
                let mut r = log_range(all);
                r.start = r.start.max(r.end * 1e-6);
                let ticks = style::log_ticks(&r);
                Axis::log(r, ticks)
            }
        };
        let mut chart = builder
            .build_cartesian_2d(x_range(results), y)
            .map_err(err)?;
        mesh(&mut chart, style, which.label())?;
        if opts.show_theory {
            for t in &results.theory.finetune {
                for seg in curve_segments(steps, &some(which.theory(t))) {
                    draw_line(&mut chart, &seg, &theory_look(t.l2), style)?;
                }
            }
        }
        for c in &results.finetune {
            let l = look(c.lr, c.l2);
            let values = which.values(c);
            for seg in curve_segments(steps, values) {
                draw_line(&mut chart, &seg, &l, style)?;
            }
            if which == Metric::Pretrain {
                ring_at(&chart, steps, values, c.inflection_step, &l, style)?;
            }
        }
    }
    draw_legend(&legend, &entries, style)
}

#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Pretrain,
    Finetune,
}

impl Metric {
    fn values<'a>(&self, c: &'a crate::linear::results::FinetuneCurve) -> &'a [Option<f64>] {
        match self {
            Metric::Pretrain => &c.pretrain_loss,
            Metric::Finetune => &c.finetune_loss,
        }
    }
    fn theory<'a>(&self, t: &'a crate::linear::theory::TheoryFinetune) -> &'a [f64] {
        match self {
            Metric::Pretrain => &t.pretrain_loss,
            Metric::Finetune => &t.finetune_loss,
        }
    }
    fn label(&self) -> &'static str {
        match self {
            Metric::Pretrain => "pre-training loss",
            Metric::Finetune => "fine-tuning loss (log)",
        }
    }
}

/// (d) diag(Uᵀθ V) per direction vs steps: directions are learned one at a time.
pub fn plot_singular_values(results: &LinearResults, opts: &PlotOptions) -> Result<String, String> {
    svg(opts, |root| {
        draw_singular_values(root, results, &Style::of(opts))
    })
}

fn draw_singular_values<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LinearResults,
    style: &Style,
) -> PlotResult {
    let steps = &results.steps;
    let d = results.config.dim;
    let targets = results.config.pretrain.spectrum.values(d);
    let all = results
        .singular_values
        .iter()
        .flatten()
        .copied()
        .chain(targets.iter().map(|t| t * 1.3))
        .chain([0.0]);
    let entries: Vec<Entry> = [0, d.saturating_sub(1)]
        .into_iter()
        .take(if d > 1 { 2 } else { 1 })
        .map(|j| Entry {
            look: plain(ramp(j, d), Dash::Solid),
            label: format!("direction {} (target {:.3})", j + 1, targets[j]),
        })
        .collect();
    let (area, legend) = with_legend(root, style, &entries);
    let mut chart = ChartBuilder::on(&area)
        .caption(
            format!(
                "(d) Strength along each task direction{}",
                subtitle(results)
            ),
            (FONT, style.title),
        )
        .margin(12)
        .margin_right(30)
        .x_label_area_size(style.x_label_area())
        .y_label_area_size(style.y_label_area())
        .build_cartesian_2d(x_range(results), Axis::linear(linear_range(all)))
        .map_err(err)?;
    mesh(&mut chart, style, "strength along direction j")?;
    for j in 0..d {
        let values: Vec<Option<f64>> = results
            .singular_values
            .iter()
            .map(|sv| Some(sv[j]))
            .collect();
        for seg in curve_segments(steps, &values) {
            draw_line(&mut chart, &seg, &plain(ramp(j, d), Dash::Solid), style)?;
        }
    }
    draw_legend(&legend, &entries, style)
}
