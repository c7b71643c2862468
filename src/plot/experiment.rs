//! The transformer lab's plots, mirroring the paper's figures; budgets on a log axis,
//! spreads as error bars (±1 std over draws or seeds), inflections as open rings, each
//! curve's colour and marker by its value (γ, learning rate) and its dash by λ (see
//! [`super::style`]); two-panel plots stacked, so their text stays readable:
//! (i) base pre-training perplexity; (ii) perturbed perplexity and its change, per γ
//! (Fig. 3); (iii) change in pre-training perplexity after fine-tuning, per learning rate
//! (Fig. 4); (iv) absolute pre-training and ID perplexity after fine-tuning (Fig. 5);
//! (v) the tuned-learning-rate view.

use super::style::{
    by_value, draw_legend, draw_line, draw_marker, draw_ring, plain, with_legend, Dash, Entry,
    Look, Style,
};
use super::{err, error_svg, linear_range, svg, tick, Axis, PlotOptions, PlotResult, FONT};
use crate::experiment::ExperimentResults;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One curve: a value (and spread) per budget; `None` where every run diverged.
struct Series {
    label: String,
    look: Look,
    budgets: Vec<u64>,
    values: Vec<Option<f64>>,
    spread: Vec<Option<f64>>,
    inflection: Option<u64>,
}

/// One chart of a plot: its title, y axis and curves.
struct Panel {
    title: String,
    y_desc: &'static str,
    series: Vec<Series>,
}

/// A plot is one panel or two stacked, built from one set of results.
type PanelsFn = fn(&ExperimentResults) -> Vec<Panel>;

/// Every plot, named as the CLI's files and the page's panels are. `recorded`: a recorded
/// run of the same config, drawn beneath `live` (or alone when there is no live run). A
/// sweep's results draw one curve family per value of its lever — the value's colour and
/// marker, each curve of the family in its own dash — and add the plot `inflection`: where
/// each family turns, against the lever's value ([`super::sweep`]).
pub fn all_plots(
    live: Option<&ExperimentResults>,
    recorded: Option<&ExperimentResults>,
    opts: &PlotOptions,
) -> Vec<(&'static str, String)> {
    let plots: [(&'static str, PanelsFn); 5] = [
        ("base", base_panels),
        ("perturbed", perturbed_panels),
        ("finetuned_change", finetuned_change_panels),
        ("finetuned", finetuned_panels),
        ("tuned", tuned_panels),
    ];
    let mut out: Vec<(&'static str, String)> = plots
        .iter()
        .map(|(name, panels)| {
            let panels = overlay(
                live.map(|r| families(r, *panels)),
                recorded.map(|r| families(r, *panels)),
            );
            (
                *name,
                draw(&panels, opts).unwrap_or_else(|e| error_svg(opts, &e)),
            )
        })
        .collect();
    if let Some(r) = live.or(recorded).filter(|r| r.sweep.is_some()) {
        out.push((
            "inflection",
            super::sweep::plot_inflections(r, opts).unwrap_or_else(|e| error_svg(opts, &e)),
        ));
    }
    out
}

/// A plot's panels of `r`: its own, or for a sweep, each section's curves as a family —
/// labelled by the lever's value, in its colour and marker, each curve in its own dash.
fn families(r: &ExperimentResults, panels: PanelsFn) -> Vec<Panel> {
    let Some(sweep) = &r.sweep else {
        return panels(r);
    };
    let looks = super::style::by_values(
        &(0..sweep.values.len())
            .map(|i| 10f64.powf(i as f64 / 6.0))
            .collect::<Vec<_>>(),
    );
    let mut merged: Vec<Panel> = Vec::new();
    for (i, section) in sweep.sections.iter().enumerate() {
        let value = super::sweep::value_label(&sweep.values[i]);
        for (k, mut panel) in panels(section).into_iter().enumerate() {
            for (j, s) in panel.series.iter_mut().enumerate() {
                s.label = format!("{} = {value}: {}", sweep.short_field(), s.label);
                s.look = Look {
                    dash: Dash::nth(j),
                    ..looks[i]
                };
            }
            match merged.get_mut(k) {
                Some(m) => m.series.extend(panel.series),
                None => merged.push(panel),
            }
        }
    }
    merged
}

/// The live run's panels with the recorded run's curves beneath each (drawn first, wider
/// and lighter: a live curve that matches the record leaves it visible around it).
fn overlay(live: Option<Vec<Panel>>, recorded: Option<Vec<Panel>>) -> Vec<Panel> {
    let recorded = recorded.unwrap_or_default().into_iter().map(|mut p| {
        for s in &mut p.series {
            s.look.recorded = true;
            s.label += " (recorded)";
            s.inflection = None;
        }
        p
    });
    match live {
        None => recorded.collect(),
        Some(mut panels) => {
            for (panel, rec) in panels.iter_mut().zip(recorded) {
                let live = std::mem::take(&mut panel.series);
                panel.series = rec.series.into_iter().chain(live).collect();
            }
            panels
        }
    }
}

fn draw(panels: &[Panel], opts: &PlotOptions) -> Result<String, String> {
    let style = Style::of(opts);
    // Two panels stack: side by side they would be drawn at half the size.
    let height = opts.height * (7 * panels.len().max(1) as u32 + 3) / 10;
    svg(
        &PlotOptions {
            height,
            ..opts.clone()
        },
        |root| {
            // One legend for the plot: the panels share their curves' looks.
            let mut entries: Vec<Entry> = Vec::new();
            for s in panels.iter().flat_map(|p| &p.series) {
                if !entries.iter().any(|e| e.label == s.label) {
                    entries.push(Entry {
                        look: s.look,
                        label: s.label.clone(),
                    });
                }
            }
            let (area, legend) = with_legend(root, &style, &entries);
            for (area, p) in area
                .split_evenly((panels.len().max(1), 1))
                .iter()
                .zip(panels)
            {
                panel(area, &p.title, p.y_desc, &p.series, &style)?;
            }
            draw_legend(&legend, &entries, &style)
        },
    )
}

/// "1M", "256k", "2.1G" tokens.
fn tokens(x: f64) -> String {
    let (v, unit) = if x >= 1e9 {
        (x / 1e9, "G")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    format!("{}{unit}", tick(v))
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    series: &[Series],
    style: &Style,
) -> PlotResult {
    let budgets = || series.iter().flat_map(|s| s.budgets.iter().copied());
    let lo = budgets().min().unwrap_or(1) as f64;
    let hi = budgets().max().unwrap_or(2) as f64;
    let x = (lo / 1.3)..(hi * 1.3).max(lo * 2.0);
    // Ticks at the budgets themselves (a doubling grid reads better than 1-2-5 log ticks),
    // every other one when there are many, so the labels never touch.
    let mut ticks: Vec<f64> = budgets().map(|b| b as f64).collect();
    ticks.sort_unstable_by(f64::total_cmp);
    ticks.dedup();
    let every = ticks.len().div_ceil(7).max(1);
    let ticks: Vec<f64> = ticks.into_iter().step_by(every).collect();
    let ys = series.iter().flat_map(|s| {
        s.values.iter().zip(&s.spread).flat_map(|(v, sp)| {
            let (v, sp) = (v.unwrap_or(f64::NAN), sp.unwrap_or(0.0));
            [v - sp, v + sp]
        })
    });
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, style.title))
        .margin(12)
        .margin_right(30)
        .x_label_area_size(style.x_label_area())
        .y_label_area_size(style.y_label_area())
        .build_cartesian_2d(Axis::log(x, ticks), Axis::linear(linear_range(ys)))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("pre-training budget (tokens, log scale)")
        .x_label_formatter(&|x| tokens(*x))
        .y_desc(y_desc)
        .y_labels(6)
        .y_label_formatter(&|y| tick(*y))
        .axis_desc_style((FONT, style.axis))
        .label_style((FONT, style.tick))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    for s in series {
        let c = s.look.color;
        let points: Vec<(f64, f64, f64)> = s
            .budgets
            .iter()
            .zip(&s.values)
            .zip(&s.spread)
            .filter_map(|((&b, v), sp)| {
                v.filter(|v| v.is_finite())
                    .map(|v| (b as f64, v, sp.unwrap_or(0.0)))
            })
            .collect();
        let line: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.1)).collect();
        // Every budget is a measurement: a marker at each (the line's own are sparse).
        draw_line(
            &mut chart,
            &line,
            &Look {
                marker: None,
                ..s.look
            },
            style,
        )?;
        if s.look.recorded {
            continue;
        }
        if let Some(m) = s.look.marker {
            for &p in &line {
                draw_marker(chart.plotting_area(), p, m, c, style.marker)?;
            }
        }
        chart
            .draw_series(points.iter().filter(|p| p.2 > 0.0).map(|p| {
                ErrorBar::new_vertical(p.0, p.1 - p.2, p.1, p.1 + p.2, c.stroke_width(1), 6)
            }))
            .map_err(err)?;
        if let Some(b) = s.inflection {
            if let Some(p) = points.iter().find(|p| p.0 == b as f64) {
                draw_ring(chart.plotting_area(), (p.0, p.1), c, style)?;
            }
        }
    }
    Ok(())
}

/// The look of the curves of one parameter's values (γ, learning rates): colour and marker
/// by value, dash by λ.
fn look_for(value: f64, l2_index: usize) -> Look {
    Look {
        dash: Dash::nth(l2_index),
        ..by_value(value)
    }
}

fn some(xs: &[f64]) -> Vec<Option<f64>> {
    xs.iter().map(|&x| Some(x)).collect()
}

/// (i) Base pre-training perplexity vs budget.
fn base_panels(r: &ExperimentResults) -> Vec<Panel> {
    vec![Panel {
        title: "(i) Base model".into(),
        y_desc: "perplexity",
        series: vec![Series {
            label: "held-out pre-training perplexity".into(),
            look: plain(BLACK, Dash::Solid),
            budgets: r.budgets.clone(),
            values: some(&r.base.pretrain_ppl),
            spread: vec![None; r.budgets.len()],
            inflection: None,
        }],
    }]
}

/// (ii) Perturbed perplexity (left) and its change from the base (right), per γ.
fn perturbed_panels(r: &ExperimentResults) -> Vec<Panel> {
    let series = |change: bool| -> Vec<Series> {
        r.perturb
            .iter()
            .map(|p| Series {
                label: format!("γ = {}", p.gamma),
                look: by_value(p.gamma),
                budgets: r.budgets.clone(),
                values: some(if change {
                    &p.change_mean
                } else {
                    &p.pretrain_ppl_mean
                }),
                spread: if change {
                    vec![None; r.budgets.len()]
                } else {
                    some(&p.pretrain_ppl_std)
                },
                inflection: if change { None } else { p.inflection_budget },
            })
            .collect()
    };
    let mut panels = vec![
        Panel {
            title: "(ii) Perplexity after Gaussian perturbation".into(),
            y_desc: "perplexity",
            series: series(false),
        },
        Panel {
            title: "Sensitivity: perturbed − base".into(),
            y_desc: "Δ perplexity",
            series: series(true),
        },
    ];
    // Beside the sensitivity, when it is measured: the curvature behind it.
    if !r.sharpness.is_empty() {
        panels.push(Panel {
            title: "Sharpness: top Hessian eigenvalue".into(),
            y_desc: "eigenvalue",
            series: vec![Series {
                label: "sharpness".into(),
                look: plain(BLACK, Dash::Solid),
                budgets: r.budgets.clone(),
                values: r.sharpness.clone(),
                spread: vec![None; r.budgets.len()],
                inflection: None,
            }],
        });
    }
    panels
}

fn finetune_series(
    r: &ExperimentResults,
    value: impl Fn(&crate::experiment::results::FinetuneCurve) -> (Vec<Option<f64>>, Vec<Option<f64>>),
    mark: bool,
) -> Vec<Series> {
    let l2s = &r.config.finetune.l2;
    r.finetune
        .iter()
        .map(|f| {
            let (values, spread) = value(f);
            let l2_index = l2s.iter().position(|&l| l == f.l2).unwrap_or(0);
            Series {
                label: if r.config.finetune.l2.len() > 1 {
                    format!("lr {} λ {}", f.lr, f.l2)
                } else {
                    format!("lr {}", f.lr)
                },
                look: look_for(f.lr, l2_index),
                budgets: r.budgets.clone(),
                values,
                spread,
                inflection: if mark { f.inflection_budget } else { None },
            }
        })
        .collect()
}

/// (iii) Change in pre-training perplexity after fine-tuning, per learning rate.
fn finetuned_change_panels(r: &ExperimentResults) -> Vec<Panel> {
    vec![Panel {
        title: format!(
            "(iii) Change in pre-training perplexity after fine-tuning on {}",
            r.config.finetune.task
        ),
        y_desc: "Δ pre-training perplexity",
        series: finetune_series(
            r,
            |f| (f.pretrain_change.clone(), f.pretrain_ppl_std.clone()),
            true,
        ),
    }]
}

/// (iv) Absolute pre-training (left) and ID (right) perplexity after fine-tuning.
fn finetuned_panels(r: &ExperimentResults) -> Vec<Panel> {
    vec![
        Panel {
            title: "(iv) Pre-training perplexity after fine-tuning".into(),
            y_desc: "perplexity",
            series: finetune_series(
                r,
                |f| (f.pretrain_ppl.clone(), f.pretrain_ppl_std.clone()),
                true,
            ),
        },
        Panel {
            title: format!("Fine-tuning task ({}) perplexity", r.config.finetune.task),
            y_desc: "perplexity",
            series: finetune_series(r, |f| (f.id_ppl.clone(), f.id_ppl_std.clone()), false),
        },
    ]
}

/// (v) Per budget, the learning rate with the best task perplexity.
fn tuned_panels(r: &ExperimentResults) -> Vec<Panel> {
    let series = |pre: bool| -> Vec<Series> {
        r.tuned
            .iter()
            .enumerate()
            .map(|(i, t)| Series {
                label: format!("best lr per budget, λ {}", t.l2),
                look: plain(BLACK, Dash::nth(i)),
                budgets: r.budgets.clone(),
                values: if pre {
                    t.pretrain_ppl.clone()
                } else {
                    t.id_ppl.clone()
                },
                spread: vec![None; r.budgets.len()],
                inflection: if pre { t.inflection_budget } else { None },
            })
            .collect()
    };
    vec![
        Panel {
            title: "(v) Tuned learning rate: pre-training perplexity".into(),
            y_desc: "perplexity",
            series: series(true),
        },
        Panel {
            title: "Tuned learning rate: task perplexity".into(),
            y_desc: "perplexity",
            series: series(false),
        },
    ]
}
