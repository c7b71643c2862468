//! How every chart looks, in one place: text sizes and line widths (larger in presentation
//! mode, for a projector), the look of each curve — its colour and marker chosen by the
//! *value* it stands for (so η = 0.1 has one colour in every plot and exercise), its dash
//! by what kind of curve it is (λ, theory, a recorded run) — and the legend, always drawn in
//! its own strip below the chart, where it cannot hide data.

use super::{err, PlotOptions, PlotResult, FONT};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Text sizes (px) and line widths of a chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub title: u32,
    pub axis: u32,
    pub tick: u32,
    pub legend: u32,
    pub line: u32,
    pub marker: u32,
}

impl Style {
    /// The default view: text of at least 13 px at the chart's own size (the page draws a
    /// 640-wide chart at about that width at 1400 px); presentation mode: 22 px and thick
    /// lines, so that text is about 18 px or more where a 1280×720 projector shows it.
    pub fn of(opts: &PlotOptions) -> Style {
        if opts.presentation {
            Style {
                title: 24,
                axis: 22,
                tick: 21,
                legend: 21,
                line: 4,
                marker: 6,
            }
        } else {
            Style {
                title: 17,
                axis: 14,
                tick: 13,
                legend: 13,
                line: 2,
                marker: 4,
            }
        }
    }

    /// Room for the axis labels and their titles.
    pub fn x_label_area(&self) -> u32 {
        self.tick + self.axis + 16
    }

    pub fn y_label_area(&self) -> u32 {
        3 * self.tick + self.axis + 12
    }
}

/// Seven colours that keep at least 3:1 contrast on white (WCAG's non-text contrast) and
/// stay apart for readers with protanopia, deuteranopia and tritanopia: every pair at least
/// 16 CIELAB units apart under each simulated deficiency (Machado et al. 2009) and 30 with
/// normal vision (tests/palette.rs). Okabe–Ito's blue, vermillion, bluish green and reddish
/// purple, a wine, and an indigo and an olive green in place of a purple and a dark orange
/// that protanopes saw as the vermillion (0.5 apart) and deuteranopes as the blue. Each
/// value's marker differs too, so no curve is told apart by colour alone; black stays for the
/// base curves.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(75, 0, 130),
    RGBColor(85, 107, 47),
    RGBColor(204, 121, 167),
    RGBColor(136, 34, 85),
];

/// A curve's marker shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
    Cross,
    Plus,
    TriangleDown,
}

const MARKERS: [Marker; 7] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Diamond,
    Marker::Cross,
    Marker::Plus,
    Marker::TriangleDown,
];

/// A line's dash pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
    LongDash,
}

impl Dash {
    /// The dash for the k-th kind of curve (λ = 0, the first λ > 0, the next…).
    pub fn nth(k: usize) -> Dash {
        [Dash::Solid, Dash::Dashed, Dash::Dotted, Dash::LongDash][k % 4]
    }

    /// (dash, gap) in pixels at line width `w`; None for a solid line.
    fn pattern(self, w: u32) -> Option<(u32, u32)> {
        let w = w.max(1);
        match self {
            Dash::Solid => None,
            Dash::Dashed => Some((4 * w + 2, 3 * w)),
            Dash::Dotted => Some((w, 2 * w + 1)),
            Dash::LongDash => Some((9 * w + 4, 3 * w)),
        }
    }
}

/// How one curve is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    pub color: RGBColor,
    pub marker: Option<Marker>,
    pub dash: Dash,
    /// A recorded reference run: drawn beneath the live one, wider and lighter, so a live
    /// curve that matches it leaves it visible around it.
    pub recorded: bool,
}

/// The palette slot of a value (a learning rate, a γ, a budget): its place on a grid of
/// sixths of a decade, so values a factor of 1.5 or more apart differ, and the same value
/// gets the same colour and marker in every plot.
fn slot(v: f64) -> usize {
    if !(v.is_finite() && v > 0.0) {
        return 0;
    }
    ((v.log10() * 6.0).round() as i64).rem_euclid(PALETTE.len() as i64) as usize
}

/// The look of the curve for `value` (colour and marker by value), solid.
pub fn by_value(value: f64) -> Look {
    let s = slot(value);
    Look {
        color: PALETTE[s],
        marker: Some(MARKERS[s]),
        dash: Dash::Solid,
        recorded: false,
    }
}

/// Looks for values that must all differ within one chart: each by its value, moved to the
/// next free slot only where two values share one.
pub fn by_values(values: &[f64]) -> Vec<Look> {
    let mut used = Vec::new();
    values
        .iter()
        .map(|&v| {
            let mut s = slot(v);
            while used.contains(&s) && used.len() < PALETTE.len() {
                s = (s + 1) % PALETTE.len();
            }
            used.push(s);
            Look {
                color: PALETTE[s],
                marker: Some(MARKERS[s]),
                dash: Dash::Solid,
                recorded: false,
            }
        })
        .collect()
}

/// A plain line of one colour (the base loss, theory curves).
pub fn plain(color: RGBColor, dash: Dash) -> Look {
    Look {
        color,
        marker: None,
        dash,
        recorded: false,
    }
}

/// Points of a line, in data coordinates, drawn with `look` on `chart`; markers at most
/// every few points (about 8 per curve), so a dense curve stays readable.
pub fn draw_line<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    points: &[(f64, f64)],
    look: &Look,
    style: &Style,
) -> PlotResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    if points.is_empty() {
        return Ok(());
    }
    let (color, width) = if look.recorded {
        (look.color.mix(0.35), style.line * 3)
    } else {
        (look.color.to_rgba(), style.line)
    };
    let stroke = color.stroke_width(width);
    let line = points.iter().copied();
    match look.dash.pattern(style.line) {
        None => chart
            .draw_series(LineSeries::new(line, stroke))
            .map_err(err)?,
        Some((dash, gap)) => chart
            .draw_series(DashedLineSeries::new(line, dash, gap, stroke))
            .map_err(err)?,
    };
    if let (Some(marker), false) = (look.marker, look.recorded) {
        let every = points.len().div_ceil(8).max(1);
        for &p in points.iter().step_by(every) {
            draw_marker(chart.plotting_area(), p, marker, look.color, style.marker)?;
        }
    }
    Ok(())
}

/// One marker at data point `p`.
pub fn draw_marker<DB: DrawingBackend, X, Y>(
    area: &DrawingArea<DB, Cartesian2d<X, Y>>,
    p: (f64, f64),
    marker: Marker,
    color: RGBColor,
    size: u32,
) -> PlotResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let (x, y) = area.map_coordinate(&p);
    let (bx, by) = area.get_base_pixel();
    draw_pixel_marker(
        &area.strip_coord_spec(),
        (x - bx, y - by),
        marker,
        color,
        size,
    )
}

/// The ring that marks an inflection (a minimum past which things get worse).
pub fn draw_ring<DB: DrawingBackend, X, Y>(
    area: &DrawingArea<DB, Cartesian2d<X, Y>>,
    p: (f64, f64),
    color: RGBColor,
    style: &Style,
) -> PlotResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    area.draw(&Circle::new(
        p,
        (2 * style.marker + 4) as i32,
        color.stroke_width(style.line.max(2)),
    ))
    .map_err(err)
}

/// One entry of a legend.
pub struct Entry {
    pub look: Look,
    pub label: String,
}

/// The width of an entry's line sample.
fn sample_width(style: &Style) -> i32 {
    3 * style.legend as i32 / 2 + 8
}

/// The columns a legend takes in a chart `width` pixels wide: as many as its longest label
/// fits (at most 3), so labels never run into the next column.
fn columns(style: &Style, width: u32, entries: &[Entry]) -> usize {
    // Sans-serif text averages a little over half its size per character.
    let longest = entries
        .iter()
        .map(|e| e.label.chars().count())
        .max()
        .unwrap_or(0) as u32;
    let per = sample_width(style) as u32 + 6 + longest * style.legend * 56 / 100 + 16;
    ((width.saturating_sub(20) / per.max(1)) as usize)
        .clamp(1, 3)
        .min(entries.len().max(1))
}

/// The height of the legend strip.
pub fn legend_height(style: &Style, width: u32, entries: &[Entry]) -> u32 {
    if entries.is_empty() {
        return 0;
    }
    let rows = entries.len().div_ceil(columns(style, width, entries)) as u32;
    rows * (style.legend + 8) + 10
}

/// Splits `root` into the chart above and the strip below it that `entries` need.
pub fn with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    style: &Style,
    entries: &[Entry],
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let (w, h) = root.dim_in_pixel();
    let strip = legend_height(style, w, entries).min(h / 2);
    root.split_vertically(h - strip)
}

/// Draws `entries` into the legend strip `area`: a sample of each line with its marker,
/// and its label, in columns.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    style: &Style,
) -> PlotResult {
    let (w, _) = area.dim_in_pixel();
    let cols = columns(style, w, entries);
    let col_w = (w as i32 - 20) / cols as i32;
    let row_h = (style.legend + 8) as i32;
    let sample = sample_width(style);
    for (k, e) in entries.iter().enumerate() {
        let (x, y) = (
            12 + (k % cols) as i32 * col_w,
            6 + (k / cols) as i32 * row_h + row_h / 2,
        );
        let (color, width) = if e.look.recorded {
            (e.look.color.mix(0.35), style.line * 3)
        } else {
            (e.look.color.to_rgba(), style.line)
        };
        let stroke = color.stroke_width(width);
        match e.look.dash.pattern(style.line) {
            None => area
                .draw(&PathElement::new(vec![(x, y), (x + sample, y)], stroke))
                .map_err(err)?,
            Some((dash, gap)) => {
                let mut a = x;
                while a < x + sample {
                    let b = (a + dash as i32).min(x + sample);
                    area.draw(&PathElement::new(vec![(a, y), (b, y)], stroke))
                        .map_err(err)?;
                    a = b + gap as i32;
                }
            }
        }
        if let (Some(m), false) = (e.look.marker, e.look.recorded) {
            draw_pixel_marker(area, (x + sample / 2, y), m, e.look.color, style.marker)?;
        }
        area.draw(&Text::new(
            e.label.clone(),
            (x + sample + 6, y - style.legend as i32 / 2 - 1),
            (FONT, style.legend),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// A marker at a pixel position of a plain area (the legend).
fn draw_pixel_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    marker: Marker,
    color: RGBColor,
    size: u32,
) -> PlotResult {
    let s = size as i32;
    let fill = color.filled();
    let stroke = color.stroke_width(2);
    match marker {
        Marker::Circle => area.draw(&Circle::new((x, y), s, fill)),
        Marker::Square => area.draw(&Rectangle::new([(x - s, y - s), (x + s, y + s)], fill)),
        Marker::Triangle => area.draw(&Polygon::new(
            vec![(x, y - s - 1), (x - s - 1, y + s), (x + s + 1, y + s)],
            fill,
        )),
        Marker::Diamond => area.draw(&Polygon::new(
            vec![
                (x, y - s - 1),
                (x + s + 1, y),
                (x, y + s + 1),
                (x - s - 1, y),
            ],
            fill,
        )),
        Marker::Cross => area
            .draw(&PathElement::new(
                vec![(x - s, y - s), (x + s, y + s)],
                stroke,
            ))
            .and_then(|_| {
                area.draw(&PathElement::new(
                    vec![(x - s, y + s), (x + s, y - s)],
                    stroke,
                ))
            }),
        Marker::Plus => area
            .draw(&PathElement::new(
                vec![(x - s - 1, y), (x + s + 1, y)],
                stroke,
            ))
            .and_then(|_| {
                area.draw(&PathElement::new(
                    vec![(x, y - s - 1), (x, y + s + 1)],
                    stroke,
                ))
            }),
        Marker::TriangleDown => area.draw(&Polygon::new(
            vec![(x, y + s + 1), (x - s - 1, y - s), (x + s + 1, y - s)],
            fill,
        )),
    }
    .map_err(err)
}

/// Tick values for a log axis over `range`: decades, with 2 and 5 in between when the range
/// spans less than three decades — never so many that labels touch.
pub fn log_ticks(range: &std::ops::Range<f64>) -> Vec<f64> {
    let (lo, hi) = (range.start.max(f64::MIN_POSITIVE), range.end);
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let steps: &[f64] = if b - a <= 1 {
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]
    } else if b - a <= 3 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut ticks: Vec<f64> = (a..=b)
        .flat_map(|e| steps.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|t| *t >= lo && *t <= hi)
        .collect();
    // Thin to at most 7 labels.
    while ticks.len() > 7 {
        ticks = ticks.into_iter().step_by(2).collect();
    }
    ticks
}
