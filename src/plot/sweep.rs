//! A sweep's summary: where each curve family turns upward (its inflection budget)
//! against the lever's value — for a lever that sizes the model, against its parameters on
//! log–log axes, as tokens and as tokens per parameter, with a fitted power law and the
//! standard error of its exponent. A value whose curve has no inflection within the budgets
//! is drawn as such (an open marker on the top edge, "none"), never as a number.

use super::style::{
    by_values, draw_legend, draw_line, draw_marker, with_legend, Dash, Entry, Look, Style,
};
use super::{err, svg, tick, Axis, PlotOptions, PlotResult, FONT};
use crate::experiment::ExperimentResults;
use plotters::coord::Shift;
use plotters::prelude::*;

/// A lever's value as a label: `32`, `0.1`, `wsd`, `[0.001, 0.003]`.
pub fn value_label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One curve family's inflections across the sweep's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Inflections {
    /// "after fine-tuning, lr 0.003", "perturbed, γ = 2".
    pub label: String,
    /// Per value: the inflection budget (tokens), or None when the curve has none within
    /// the budgets.
    pub budgets: Vec<Option<u64>>,
}

/// The curve families a sweep summarises: the pre-training perplexity after fine-tuning
/// for each learning rate (λ = 0) and the perturbed perplexity at the largest γ — present
/// in every section (they share all but the lever; a family the lever changes, e.g. the
/// learning rates themselves, is matched by position).
pub fn inflections(r: &ExperimentResults) -> Vec<Inflections> {
    let Some(sweep) = &r.sweep else {
        return Vec::new();
    };
    let first = &sweep.sections[0];
    let mut out = Vec::new();
    for (k, f) in first
        .finetune
        .iter()
        .enumerate()
        .filter(|(_, f)| f.l2 == 0.0)
    {
        out.push(Inflections {
            label: format!("after fine-tuning, lr {}", f.lr),
            budgets: sweep
                .sections
                .iter()
                .map(|s| s.finetune.get(k).and_then(|c| c.inflection_budget))
                .collect(),
        });
    }
    if let Some(last) = first.perturb.len().checked_sub(1) {
        out.push(Inflections {
            label: format!("perturbed, γ = {}", first.perturb[last].gamma),
            budgets: sweep
                .sections
                .iter()
                .map(|s| s.perturb.get(last).and_then(|p| p.inflection_budget))
                .collect(),
        });
    }
    out
}

/// A power law y = c·x^exponent fitted to points by least squares on log–log axes, with
/// the standard error of the exponent (None with fewer than three points).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLaw {
    pub exponent: f64,
    pub se: Option<f64>,
    /// c in y = c·x^exponent.
    pub prefactor: f64,
    pub points: usize,
}

/// The power law through `points` (x, y > 0); None with fewer than two distinct x.
pub fn fit_power_law(points: &[(f64, f64)]) -> Option<PowerLaw> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = logs.len() as f64;
    if logs.len() < 2 {
        return None;
    }
    let mx = logs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = logs.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = sxy / sxx;
    let a = my - b * mx;
    let se = (logs.len() > 2).then(|| {
        let ssr: f64 = logs.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
        (ssr / (n - 2.0) / sxx).sqrt()
    });
    Some(PowerLaw {
        exponent: b,
        se,
        prefactor: a.exp(),
        points: logs.len(),
    })
}

/// The summary plot of a sweep (see the module's documentation).
pub fn plot_inflections(r: &ExperimentResults, opts: &PlotOptions) -> Result<String, String> {
    let sweep = r.sweep.as_ref().ok_or("not a sweep")?;
    let style = Style::of(opts);
    let families = inflections(r);
    let sized = sweep.sizes_the_model();
    let params: Vec<f64> = sweep.sections.iter().map(|s| s.parameters as f64).collect();
    let tall = PlotOptions {
        height: if sized {
            opts.height * 17 / 10
        } else {
            opts.height
        },
        ..opts.clone()
    };
    svg(&tall, |root| {
        let looks = by_values(
            &(0..families.len())
                .map(|i| 10f64.powf(i as f64 / 6.0))
                .collect::<Vec<_>>(),
        );
        let mut entries: Vec<Entry> = families
            .iter()
            .zip(&looks)
            .map(|(f, l)| Entry {
                look: *l,
                label: f.label.clone(),
            })
            .collect();
        if sized {
            entries.push(Entry {
                look: Look {
                    marker: None,
                    dash: Dash::Dashed,
                    ..super::style::plain(BLACK, Dash::Dashed)
                },
                label: fit_label(&families, &params),
            });
        }
        entries.push(Entry {
            look: Look {
                marker: None,
                ..super::style::plain(RGBColor(120, 120, 120), Dash::Dotted)
            },
            label: "on the top edge, open: no inflection within the budgets".into(),
        });
        let (area, legend) = with_legend(root, &style, &entries);
        let area = area
            .titled(
                &format!("Where the U turns, against {}", sweep.field),
                (FONT, style.title),
            )
            .map_err(err)?;
        if sized {
            let panels = area.split_evenly((2, 1));
            panel(&panels[0], r, &families, &looks, &params, false, &style)?;
            panel(&panels[1], r, &families, &looks, &params, true, &style)?;
        } else {
            panel(&area, r, &families, &looks, &params, false, &style)?;
        }
        draw_legend(&legend, &entries, &style)
    })
}

/// The family the power law is fitted to: the one with the most inflections, at least two
/// (the first of equals); else the first, which the legend then says is not fitted.
fn fitted(families: &[Inflections]) -> Option<&Inflections> {
    let count = |f: &Inflections| f.budgets.iter().flatten().count();
    families
        .iter()
        .rev()
        .filter(|f| count(f) >= 2)
        .max_by_key(|f| count(f))
        .or(families.first())
}

/// The power law of a model-size sweep: the family it is fitted to ([`fitted`]) and the
/// fit of its inflection tokens against parameters (None with fewer than two sizes that
/// inflect). None for a sweep of another lever.
pub fn size_law(r: &ExperimentResults) -> Option<(Inflections, Option<PowerLaw>)> {
    let sweep = r.sweep.as_ref().filter(|s| s.sizes_the_model())?;
    let params: Vec<f64> = sweep.sections.iter().map(|s| s.parameters as f64).collect();
    let families = inflections(r);
    let family = fitted(&families)?.clone();
    let fit = law(&family, &params);
    Some((family, fit))
}

/// The power law of one family's inflection tokens against parameters.
fn law(family: &Inflections, params: &[f64]) -> Option<PowerLaw> {
    let points: Vec<(f64, f64)> = family
        .budgets
        .iter()
        .zip(params)
        .filter_map(|(b, &p)| b.map(|b| (p, b as f64)))
        .collect();
    fit_power_law(&points)
}

/// The fitted family's power law as the legend states it: the exponent of tokens against
/// parameters with its standard error (tokens per parameter scale with the exponent − 1).
fn fit_label(families: &[Inflections], params: &[f64]) -> String {
    let Some(first) = fitted(families) else {
        return "power law: no family".into();
    };
    match law(first, params) {
        Some(fit) => format!(
            "power law ({}): tokens ∝ N^{:.2}{} from {} sizes",
            first.label,
            fit.exponent,
            fit.se
                .map(|se| format!(" ± {se:.2}"))
                .unwrap_or_else(|| " (no error with 2 points)".into()),
            fit.points
        ),
        None => format!(
            "power law ({}): not fitted, fewer than two sizes inflect",
            first.label
        ),
    }
}

/// One panel: inflection tokens (or tokens per parameter) against the lever.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &ExperimentResults,
    families: &[Inflections],
    looks: &[Look],
    params: &[f64],
    per_parameter: bool,
    style: &Style,
) -> PlotResult {
    let sweep = r.sweep.as_ref().expect("a sweep");
    let sized = sweep.sizes_the_model();
    let n = sweep.values.len();
    // x: parameters for a lever that sizes the model (log), else the values' positions.
    let xs: Vec<f64> = if sized {
        params.to_vec()
    } else {
        (0..n).map(|i| i as f64).collect()
    };
    let scale = |i: usize| if per_parameter { params[i] } else { 1.0 };
    // y: every budget of the sweep, so "none" sits just above the largest.
    let budgets: Vec<f64> = sweep
        .sections
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.config
                .pretrain
                .budgets
                .iter()
                .map(move |&b| b as f64 / scale(i))
        })
        .collect();
    let (lo, hi) = budgets
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(l, h), &b| (l.min(b), h.max(b)));
    let top = hi * 1.6;
    let (y_lo, y_hi) = (lo / 1.5, top * 1.3);
    let x_desc = if sized {
        "parameters (log scale)".to_string()
    } else {
        sweep.field.clone()
    };
    let y_desc = if per_parameter {
        "inflection, tokens per parameter (log)"
    } else {
        "inflection, tokens (log)"
    };
    let labels: Vec<String> = sweep.values.iter().map(value_label).collect();
    // Ticks that never touch (decades, or 2 and 5 between them on short ranges).
    let y_ticks = super::style::log_ticks(&(y_lo..y_hi));
    let x = if sized {
        let (a, b) = (
            xs.iter().cloned().fold(f64::INFINITY, f64::min),
            xs.iter().cloned().fold(0.0, f64::max),
        );
        let x = (a / 1.4)..(b * 1.4);
        let x_ticks = super::style::log_ticks(&x);
        Axis::log(x, x_ticks)
    } else {
        Axis::linear(-0.5..(n as f64 - 0.5))
    };
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(30)
        .x_label_area_size(style.x_label_area())
        .y_label_area_size(style.y_label_area())
        .build_cartesian_2d(x, Axis::log(y_lo..y_hi, y_ticks))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc.as_str())
        .y_desc(y_desc)
        .y_label_formatter(&|v| tick(*v))
        .x_label_formatter(&|v| {
            if sized {
                tick(*v)
            } else {
                let i = v.round() as usize;
                if (v - i as f64).abs() < 1e-6 && i < labels.len() {
                    labels[i].clone()
                } else {
                    String::new()
                }
            }
        })
        .axis_desc_style((FONT, style.axis))
        .label_style((FONT, style.tick))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    // Families side by side around each value, so equal inflections (or several
    // "none") stay visible.
    let offset = |k: usize, x: f64| {
        let d = k as f64 - (families.len() as f64 - 1.0) / 2.0;
        if sized {
            x * 1.06f64.powf(d)
        } else {
            x + 0.06 * d
        }
    };
    for (k, (f, look)) in families.iter().zip(looks).enumerate() {
        let points: Vec<(f64, f64)> = f
            .budgets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|b| (offset(k, xs[i]), b as f64 / scale(i))))
            .collect();
        draw_line(
            &mut chart,
            &points,
            &Look {
                marker: None,
                ..*look
            },
            style,
        )?;
        for &p in &points {
            draw_marker(
                chart.plotting_area(),
                p,
                look.marker.unwrap_or(super::style::Marker::Circle),
                look.color,
                style.marker + 1,
            )?;
        }
        // No inflection within the budgets: an open ring on the top edge.
        for (i, b) in f.budgets.iter().enumerate() {
            if b.is_none() {
                chart
                    .plotting_area()
                    .draw(&Circle::new(
                        (offset(k, xs[i]), top),
                        style.marker as i32 + 2,
                        look.color.stroke_width(2),
                    ))
                    .map_err(err)?;
            }
        }
    }
    // The power law of the fitted family, over the values that have an inflection.
    if sized {
        if let Some(first) = fitted(families) {
            let points: Vec<(f64, f64)> = first
                .budgets
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.map(|b| (xs[i], b as f64 / scale(i))))
                .collect();
            if let Some(fit) = fit_power_law(&points) {
                let (a, b) = (
                    xs.iter().cloned().fold(f64::INFINITY, f64::min),
                    xs.iter().cloned().fold(0.0, f64::max),
                );
                let line: Vec<(f64, f64)> = (0..=20)
                    .map(|k| {
                        let x = a * (b / a).powf(k as f64 / 20.0);
                        (x, fit.prefactor * x.powf(fit.exponent))
                    })
                    .filter(|p| p.1 > y_lo && p.1 < y_hi)
                    .collect();
                draw_line(
                    &mut chart,
                    &line,
                    &super::style::plain(BLACK, Dash::Dashed),
                    style,
                )?;
            }
        }
    }
    Ok(())
}
