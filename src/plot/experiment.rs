//! The transformer lab's plots, mirroring the paper's figures; budgets on a log axis,
//! spreads as error bars (±1 std over draws or seeds), inflections as open rings:
//! (i) base pre-training perplexity; (ii) perturbed perplexity and its change, per γ
//! (Fig. 3); (iii) change in pre-training perplexity after fine-tuning, per learning rate
//! (Fig. 4); (iv) absolute pre-training and ID perplexity after fine-tuning (Fig. 5);
//! (v) the tuned-learning-rate view.

use super::{color, err, error_svg, linear_range, svg, tick, PlotOptions, PlotResult, FONT};
use crate::experiment::ExperimentResults;
use crate::legend_line;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One curve: a value (and spread) per budget; `None` where every run diverged.
struct Series {
    label: String,
    color: RGBColor,
    values: Vec<Option<f64>>,
    spread: Vec<Option<f64>>,
    inflection: Option<u64>,
}

/// Every plot, named as the CLI's files and the page's panels are.
pub fn all_plots(results: &ExperimentResults) -> Vec<(&'static str, String)> {
    let opts = PlotOptions::default();
    type PlotFn = fn(&ExperimentResults, &PlotOptions) -> Result<String, String>;
    let plots: [(&'static str, PlotFn); 5] = [
        ("base", plot_base),
        ("perturbed", plot_perturbed),
        ("finetuned_change", plot_finetuned_change),
        ("finetuned", plot_finetuned),
        ("tuned", plot_tuned),
    ];
    plots
        .iter()
        .map(|(name, f)| {
            (
                *name,
                f(results, &opts).unwrap_or_else(|e| error_svg(&opts, &e)),
            )
        })
        .collect()
}

fn wide(opts: &PlotOptions) -> PlotOptions {
    PlotOptions {
        width: opts.width * 2,
        ..opts.clone()
    }
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
    budgets: &[u64],
    series: &[Series],
) -> PlotResult {
    let lo = budgets.first().copied().unwrap_or(1) as f64;
    let hi = budgets.last().copied().unwrap_or(2) as f64;
    let x = (lo / 1.3)..(hi * 1.3).max(lo * 2.0);
    let ys = series.iter().flat_map(|s| {
        s.values.iter().zip(&s.spread).flat_map(|(v, sp)| {
            let (v, sp) = (v.unwrap_or(f64::NAN), sp.unwrap_or(0.0));
            [v - sp, v + sp]
        })
    });
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x.log_scale(), linear_range(ys))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("pre-training budget (tokens, log scale)")
        .x_label_formatter(&|x| tokens(*x))
        .y_desc(y_desc)
        .y_label_formatter(&|y| tick(*y))
        .draw()
        .map_err(err)?;
    for s in series {
        let c = s.color;
        let points: Vec<(f64, f64, f64)> = budgets
            .iter()
            .zip(&s.values)
            .zip(&s.spread)
            .filter_map(|((&b, v), sp)| {
                v.filter(|v| v.is_finite())
                    .map(|v| (b as f64, v, sp.unwrap_or(0.0)))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                c.stroke_width(2),
            ))
            .map_err(err)?
            .label(s.label.clone())
            .legend(legend_line!(c, false));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.1), 3, c.filled())),
            )
            .map_err(err)?;
        chart
            .draw_series(points.iter().filter(|p| p.2 > 0.0).map(|p| {
                ErrorBar::new_vertical(p.0, p.1 - p.2, p.1, p.1 + p.2, c.stroke_width(1), 6)
            }))
            .map_err(err)?;
        if let Some(b) = s.inflection {
            if let Some(p) = points.iter().find(|p| p.0 == b as f64) {
                chart
                    .draw_series([Circle::new((p.0, p.1), 9, c.stroke_width(2))])
                    .map_err(err)?;
            }
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

fn some(xs: &[f64]) -> Vec<Option<f64>> {
    xs.iter().map(|&x| Some(x)).collect()
}

/// (i) Base pre-training perplexity vs budget.
pub fn plot_base(r: &ExperimentResults, opts: &PlotOptions) -> Result<String, String> {
    let base = Series {
        label: "held-out pre-training perplexity".into(),
        color: BLACK,
        values: some(&r.base.pretrain_ppl),
        spread: vec![None; r.budgets.len()],
        inflection: None,
    };
    svg(opts, |root| {
        panel(
            root,
            "(i) Base model: longer pre-training helps",
            "perplexity",
            &r.budgets,
            &[base],
        )
    })
}

/// (ii) Perturbed perplexity (left) and its change from the base (right), per γ.
pub fn plot_perturbed(r: &ExperimentResults, opts: &PlotOptions) -> Result<String, String> {
    let n = r.budgets.len();
    let abs: Vec<Series> = r
        .perturb
        .iter()
        .enumerate()
        .map(|(i, p)| Series {
            label: format!("γ = {}", p.gamma),
            color: color(i),
            values: some(&p.pretrain_ppl_mean),
            spread: some(&p.pretrain_ppl_std),
            inflection: p.inflection_budget,
        })
        .collect();
    let change: Vec<Series> = r
        .perturb
        .iter()
        .enumerate()
        .map(|(i, p)| Series {
            label: format!("γ = {}", p.gamma),
            color: color(i),
            values: some(&p.change_mean),
            spread: vec![None; n],
            inflection: None,
        })
        .collect();
    svg(&wide(opts), |root| {
        let (left, right) = root.split_horizontally(opts.width);
        panel(
            &left,
            "(ii) Perplexity after Gaussian perturbation",
            "perplexity",
            &r.budgets,
            &abs,
        )?;
        panel(
            &right,
            "Sensitivity: perturbed − base",
            "Δ perplexity",
            &r.budgets,
            &change,
        )
    })
}

fn finetune_series(
    r: &ExperimentResults,
    value: impl Fn(&crate::experiment::results::FinetuneCurve) -> (Vec<Option<f64>>, Vec<Option<f64>>),
    mark: bool,
) -> Vec<Series> {
    r.finetune
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (values, spread) = value(f);
            Series {
                label: if r.config.finetune.l2.len() > 1 {
                    format!("lr {} λ {}", f.lr, f.l2)
                } else {
                    format!("lr {}", f.lr)
                },
                color: color(i),
                values,
                spread,
                inflection: if mark { f.inflection_budget } else { None },
            }
        })
        .collect()
}

/// (iii) Change in pre-training perplexity after fine-tuning, per learning rate.
pub fn plot_finetuned_change(r: &ExperimentResults, opts: &PlotOptions) -> Result<String, String> {
    let series = finetune_series(
        r,
        |f| (f.pretrain_change.clone(), f.pretrain_ppl_std.clone()),
        true,
    );
    svg(opts, |root| {
        panel(
            root,
            &format!(
                "(iii) Forgetting after fine-tuning on {}",
                r.config.finetune.task
            ),
            "Δ pre-training perplexity",
            &r.budgets,
            &series,
        )
    })
}

/// (iv) Absolute pre-training (left) and ID (right) perplexity after fine-tuning.
pub fn plot_finetuned(r: &ExperimentResults, opts: &PlotOptions) -> Result<String, String> {
    let pre = finetune_series(
        r,
        |f| (f.pretrain_ppl.clone(), f.pretrain_ppl_std.clone()),
        true,
    );
    let id = finetune_series(r, |f| (f.id_ppl.clone(), f.id_ppl_std.clone()), false);
    svg(&wide(opts), |root| {
        let (left, right) = root.split_horizontally(opts.width);
        panel(
            &left,
            "(iv) Pre-training perplexity after fine-tuning",
            "perplexity",
            &r.budgets,
            &pre,
        )?;
        panel(
            &right,
            &format!("Fine-tuning task ({}) perplexity", r.config.finetune.task),
            "perplexity",
            &r.budgets,
            &id,
        )
    })
}

/// (v) Per budget, the learning rate with the best task perplexity.
pub fn plot_tuned(r: &ExperimentResults, opts: &PlotOptions) -> Result<String, String> {
    let n = r.budgets.len();
    let mk = |pre: bool| -> Vec<Series> {
        r.tuned
            .iter()
            .enumerate()
            .map(|(i, t)| Series {
                label: format!("best lr per budget, λ {}", t.l2),
                color: color(i),
                values: if pre {
                    t.pretrain_ppl.clone()
                } else {
                    t.id_ppl.clone()
                },
                spread: vec![None; n],
                inflection: if pre { t.inflection_budget } else { None },
            })
            .collect()
    };
    svg(&wide(opts), |root| {
        let (left, right) = root.split_horizontally(opts.width);
        panel(
            &left,
            "(v) Tuned learning rate: pre-training perplexity",
            "perplexity",
            &r.budgets,
            &mk(true),
        )?;
        panel(
            &right,
            "Tuned learning rate: task perplexity",
            "perplexity",
            &r.budgets,
            &mk(false),
        )
    })
}
