//! Charts as SVG strings, drawn with plotters. Plots are pure functions of results, so the
//! page (wasm, main thread) and the CLI (`--svg`) draw the same figures from the same JSON.
//!
//! plotters measures text through the DOM in wasm, so in the browser these functions run
//! on the page's main thread, not in the Web Worker (which has no `document`).

pub mod captions;
pub mod experiment;
pub mod linear;
pub mod style;
pub mod sweep;

use plotters::coord::combinators::{LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Size and switches shared by every chart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PlotOptions {
    pub width: u32,
    pub height: u32,
    /// Draw the idealized theory curves (dashed) beside the measured ones.
    pub show_theory: bool,
    /// For a projector: larger text, thicker lines and markers ([`style::Style::of`]).
    pub presentation: bool,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            width: 640,
            height: 400,
            show_theory: true,
            presentation: false,
        }
    }
}

/// A sequential blue→red ramp for many ordered series (e.g. singular directions).
pub fn ramp(i: usize, n: usize) -> RGBColor {
    let t = if n <= 1 {
        0.0
    } else {
        i as f64 / (n - 1) as f64
    };
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(33.0, 214.0), lerp(102.0, 39.0), lerp(172.0, 40.0))
}

/// Range of the finite, positive values for a log axis, padded a little.
pub fn log_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values {
        if v.is_finite() && v > 0.0 {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() {
        return 1e-3..1.0;
    }
    if hi <= lo * 1.0001 {
        return lo * 0.5..hi * 2.0;
    }
    lo * 0.8..hi * 1.25
}

/// Range of finite values for a linear axis, padded a little.
pub fn linear_range(values: impl IntoIterator<Item = f64>) -> std::ops::Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    lo - pad..hi + pad
}

/// A chart's axis, linear or logarithmic (at the given ticks). plotters' chart code — the
/// mesh, the axes, every series — is generic over both axes' types: one type for every axis
/// compiles it once, where the four pairings of linear and logarithmic axes compiled it four
/// times (README, "Size"). Each kind maps, ticks and labels as plotters' own type does.
pub enum Axis {
    Linear(RangedCoordf64),
    Log(WithKeyPoints<LogCoord<f64>>),
}

impl Axis {
    pub fn linear(range: std::ops::Range<f64>) -> Axis {
        Axis::Linear(range.into())
    }

    /// A logarithmic axis over `range` (positive) with its ticks at `ticks`.
    pub fn log(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Axis {
        Axis::Log(range.log_scale().with_key_points(ticks))
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        match self {
            Axis::Linear(axis) => axis.map(value, limit),
            Axis::Log(axis) => axis.map(value, limit),
        }
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match self {
            Axis::Linear(axis) => axis.key_points(hint),
            Axis::Log(axis) => axis.key_points(hint),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        match self {
            Axis::Linear(axis) => axis.range(),
            Axis::Log(axis) => axis.range(),
        }
    }
}

/// The labels plotters would give each kind (every chart here passes its own formatter).
impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        match self {
            Axis::Linear(axis) => axis.format_ext(value),
            Axis::Log(_) => format!("{value:?}"),
        }
    }
}

pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub type PlotResult = Result<(), String>;

/// The family itself, not its name: plotters reads a name with `str::to_lowercase`, which
/// would bring Unicode's case tables into the wasm (README, "Size").
pub const FONT: FontFamily<'static> = FontFamily::SansSerif;

pub fn err<E: std::fmt::Display>(e: E) -> String {
    format!("plot error: {e}")
}

/// Draws into an SVG string with `draw`, returning the SVG or the drawing error.
pub fn svg(opts: &PlotOptions, draw: impl FnOnce(&Area) -> PlotResult) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (opts.width, opts.height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Writes each `(name, svg)` as `dir/name.svg`, creating `dir`: the CLI's `--svg` and the
/// replot example.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_svgs(dir: &std::path::Path, plots: Vec<(&str, String)>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
    for (name, svg) in plots {
        let path = dir.join(format!("{name}.svg"));
        std::fs::write(&path, svg)
            .map_err(|e| format!("cannot write '{}': {e}", path.display()))?;
    }
    Ok(())
}

/// A placeholder SVG that states a drawing error instead of a chart.
pub fn error_svg(opts: &PlotOptions, message: &str) -> String {
    let text = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><text x="10" y="30" font-family="sans-serif" font-size="14">{text}</text></svg>"#,
        w = opts.width,
        h = opts.height
    )
}

/// An axis label with two significant digits, in e-notation when very small or large.
pub fn tick(y: f64) -> String {
    let a = y.abs();
    if y == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{y:.0e}")
    } else {
        let decimals = (1 - a.log10().floor() as i32).max(0) as usize;
        let text = format!("{y:.decimals$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    }
}
