//! The four plots of the linear lab:
//! (a) base pre-training loss and sensitivity vs steps;
//! (b) perturbed pre-training loss vs steps, one curve per γ;
//! (c) pre-training and fine-tuning loss after fine-tuning vs steps, per (η_ft, λ);
//! (d) singular values of W₁W₂ in the task basis vs steps (incremental learning).

use super::{
    color, err, error_svg, linear_range, log_range, ramp, svg, tick, PlotOptions, PlotResult, FONT,
};
use crate::legend_line;
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

fn x_range(results: &LinearResults) -> std::ops::Range<f64> {
    let last = results.steps.last().copied().unwrap_or(1).max(1) as f64;
    0.0..last
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

fn subtitle(results: &LinearResults) -> String {
    match results.pretrain_diverged_at {
        Some(step) => format!(" — pre-training diverged at step {step}"),
        None => String::new(),
    }
}

/// (a) Base loss and sensitivity (perturbed minus base) on one log axis.
pub fn plot_sensitivity(results: &LinearResults, opts: &PlotOptions) -> Result<String, String> {
    svg(opts, |root| draw_sensitivity(root, results))
}

fn draw_sensitivity<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LinearResults,
) -> PlotResult {
    let steps = &results.steps;
    let mut all: Vec<f64> = results.pretrain_loss.clone();
    for p in &results.perturb {
        all.extend(p.sensitivity.iter().copied());
    }
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("(a) Base loss and sensitivity{}", subtitle(results)),
            (FONT, 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range(results), log_range(all).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("pre-training step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("loss (log scale)")
        .y_label_formatter(&|y| tick(*y))
        .draw()
        .map_err(err)?;
    for seg in segments(steps, results.pretrain_loss.iter().map(|&v| Some(v))) {
        chart
            .draw_series(LineSeries::new(seg, BLACK.stroke_width(2)))
            .map_err(err)?;
    }
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(err)?
        .label("base pre-training loss")
        .legend(legend_line!(BLACK, false));
    for (i, p) in results.perturb.iter().enumerate() {
        let c = color(i);
        for seg in segments(steps, p.sensitivity.iter().map(|&v| Some(v))) {
            chart
                .draw_series(LineSeries::new(seg, c.stroke_width(2)))
                .map_err(err)?;
        }
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label(format!("sensitivity, γ = {}", p.gamma))
            .legend(legend_line!(c, false));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 13))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// (b) Perturbed loss per γ: Monte Carlo mean (solid), closed form (dashed), inflection.
pub fn plot_perturbed(results: &LinearResults, opts: &PlotOptions) -> Result<String, String> {
    svg(opts, |root| draw_perturbed(root, results))
}

fn draw_perturbed<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LinearResults,
) -> PlotResult {
    let steps = &results.steps;
    // The range follows the perturbed curves: their U is shallow, and the unperturbed loss
    // (which keeps falling, and is clipped below) would squash it flat.
    let mut all_perturbed: Vec<f64> = Vec::new();
    for p in &results.perturb {
        all_perturbed.extend(p.mean_loss.iter().chain(&p.expected_loss).copied());
    }
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "(b) Loss after a Gaussian perturbation{}",
                subtitle(results)
            ),
            (FONT, 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            x_range(results),
            log_range(all_perturbed.iter().copied()).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("pre-training step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("pre-training loss (log scale)")
        .y_label_formatter(&|y| tick(*y))
        .draw()
        .map_err(err)?;
    // Only the part inside the axis: plotters would squash the rest onto the bottom edge.
    let floor = log_range(all_perturbed.iter().copied()).start;
    let visible = results
        .pretrain_loss
        .iter()
        .map(|&v| Some(v).filter(|v| *v >= floor));
    for seg in segments(steps, visible) {
        chart
            .draw_series(DashedLineSeries::new(
                seg,
                4,
                4,
                BLACK.mix(0.5).stroke_width(1),
            ))
            .map_err(err)?;
    }
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(err)?
        .label("unperturbed")
        .legend(legend_line!(RGBColor(128, 128, 128), true));
    for (i, p) in results.perturb.iter().enumerate() {
        let c = color(i);
        for seg in segments(steps, p.mean_loss.iter().map(|&v| Some(v))) {
            chart
                .draw_series(LineSeries::new(seg, c.stroke_width(2)))
                .map_err(err)?;
        }
        for seg in segments(steps, p.expected_loss.iter().map(|&v| Some(v))) {
            chart
                .draw_series(DashedLineSeries::new(seg, 5, 4, c.stroke_width(1)))
                .map_err(err)?;
        }
        let label = match p.inflection_step {
            Some(s) => format!("γ = {} (inflection at step {s})", p.gamma),
            None => format!("γ = {} (no inflection yet)", p.gamma),
        };
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(err)?
            .label(label)
            .legend(legend_line!(c, false));
        if let Some(s) = p.inflection_step {
            let idx = steps.iter().position(|&x| x == s).unwrap_or(0);
            let y = p.expected_loss[idx];
            chart
                .draw_series(std::iter::once(Circle::new((s as f64, y), 6, c.filled())))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 13))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// (c) Pre-training loss (left) and fine-tuning loss (right) after fine-tuning each
/// checkpoint; colour = η_ft, dashes = λ > 0; theory (grey) when asked.
pub fn plot_finetuned(results: &LinearResults, opts: &PlotOptions) -> Result<String, String> {
    svg(opts, |root| draw_finetuned(root, results, opts))
}

fn draw_finetuned<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LinearResults,
    opts: &PlotOptions,
) -> PlotResult {
    let steps = &results.steps;
    let area = root
        .titled(
            &format!("(c) After fine-tuning each checkpoint{}", subtitle(results)),
            (FONT, 17),
        )
        .map_err(err)?;
    // Legend below the two panels: with one entry per (η, λ) it would hide the curves.
    let mut entries: Vec<(RGBColor, bool, String)> = Vec::new();
    let rows = (results.finetune.len() + usize::from(opts.show_theory)).div_ceil(3);
    let legend_h = 18 * rows as u32 + 8;
    let (panels_area, legend_area) =
        area.split_vertically(area.dim_in_pixel().1.saturating_sub(legend_h));
    let panels = panels_area.split_evenly((1, 2));
    let mut lrs: Vec<f64> = results.finetune.iter().map(|c| c.lr).collect();
    lrs.sort_by(|a, b| a.total_cmp(b));
    lrs.dedup();
    let grey = RGBColor(120, 120, 120);
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
            .x_label_area_size(40)
            .y_label_area_size(55);
        // Pre-training loss after fine-tuning stays within one decade: a linear axis shows
        // its U. The fine-tuning loss spans many decades: log axis, floored at max/1e6.
        macro_rules! draw_panel {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc("pre-training step")
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .y_desc(which.label())
                    .y_label_formatter(&|y| tick(*y))
                    .x_labels(5)
                    .draw()
                    .map_err(err)?;
                if opts.show_theory {
                    for t in &results.theory.finetune {
                        for seg in segments(steps, which.theory(t).iter().map(|&v| Some(v))) {
                            chart
                                .draw_series(DashedLineSeries::new(seg, 2, 3, grey.stroke_width(1)))
                                .map_err(err)?;
                        }
                    }
                }
                for c in &results.finetune {
                    let col = color(lrs.iter().position(|&x| x == c.lr).unwrap_or(0));
                    let dashed = c.l2 > 0.0;
                    let values = which.values(c);
                    for seg in segments(steps, values.iter().copied()) {
                        if dashed {
                            chart
                                .draw_series(DashedLineSeries::new(seg, 6, 4, col.stroke_width(2)))
                                .map_err(err)?;
                        } else {
                            chart
                                .draw_series(LineSeries::new(seg, col.stroke_width(2)))
                                .map_err(err)?;
                        }
                    }
                    if which == Metric::Pretrain {
                        if let Some(s) = c.inflection_step {
                            let idx = steps.iter().position(|&x| x == s).unwrap_or(0);
                            if let Some(y) = values[idx] {
                                chart
                                    .draw_series(std::iter::once(Circle::new(
                                        (s as f64, y),
                                        5,
                                        col.filled(),
                                    )))
                                    .map_err(err)?;
                            }
                        }
                    }
                }
            }};
        }
        match which {
            Metric::Pretrain => {
                draw_panel!(builder
                    .build_cartesian_2d(x_range(results), linear_range(all))
                    .map_err(err)?)
            }
            Metric::Finetune => {
                let mut r = log_range(all);
                r.start = r.start.max(r.end * 1e-6);
                draw_panel!(builder
                    .build_cartesian_2d(x_range(results), r.log_scale())
                    .map_err(err)?)
            }
        }
    }
    if opts.show_theory {
        entries.push((grey, true, "theory (idealized), per λ".to_string()));
    }
    for c in &results.finetune {
        let col = color(lrs.iter().position(|&x| x == c.lr).unwrap_or(0));
        let mut label = format!("η = {}, λ = {}", c.lr, c.l2);
        if let Some(s) = c.diverged_at {
            label.push_str(&format!(": diverged at step {s}"));
        } else if let Some(s) = c.inflection_step {
            label.push_str(&format!(": inflection {s}"));
        } else {
            label.push_str(": no inflection");
        }
        entries.push((col, c.l2 > 0.0, label));
    }
    let (w, _) = legend_area.dim_in_pixel();
    let col_w = (w as i32 - 20) / 3;
    for (k, (col, dashed, label)) in entries.iter().enumerate() {
        let (x, y) = (10 + (k as i32 % 3) * col_w, 8 + (k as i32 / 3) * 18);
        let (a, b) = if *dashed { (8, 14) } else { (11, 11) };
        legend_area
            .draw(&PathElement::new(
                vec![(x, y + 6), (x + a, y + 6)],
                col.stroke_width(2),
            ))
            .map_err(err)?;
        legend_area
            .draw(&PathElement::new(
                vec![(x + b, y + 6), (x + 22, y + 6)],
                col.stroke_width(2),
            ))
            .map_err(err)?;
        legend_area
            .draw(&Text::new(label.clone(), (x + 28, y), (FONT, 12)))
            .map_err(err)?;
    }
    Ok(())
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
            Metric::Pretrain => "pre-training loss after FT",
            Metric::Finetune => "fine-tuning loss after FT",
        }
    }
}

/// (d) diag(Uᵀθ V) per direction vs steps: directions are learned one at a time.
pub fn plot_singular_values(results: &LinearResults, opts: &PlotOptions) -> Result<String, String> {
    svg(opts, |root| draw_singular_values(root, results))
}

fn draw_singular_values<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LinearResults,
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
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("(d) Directions learned one at a time{}", subtitle(results)),
            (FONT, 17),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x_range(results), linear_range(all))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("pre-training step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("strength along direction j")
        .draw()
        .map_err(err)?;
    for j in 0..d {
        let c = ramp(j, d);
        let values = results.singular_values.iter().map(|sv| Some(sv[j]));
        for seg in segments(steps, values) {
            chart
                .draw_series(LineSeries::new(seg, c.stroke_width(2)))
                .map_err(err)?;
        }
        if j == 0 || j + 1 == d {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(err)?
                .label(format!("direction {} (target {:.3})", j + 1, targets[j]))
                .legend(legend_line!(c, false));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 13))
        .draw()
        .map_err(err)?;
    Ok(())
}
