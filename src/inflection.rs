//! The one significance rule for the inflection of a curve, in both labs: where a curve
//! over pre-training (steps or token budgets) is lowest — the paper's "inflection point":
//! training past it makes things worse — reported only where the curve visibly rises on
//! both sides of that minimum beyond its noise. Otherwise there is no inflection: the curve
//! keeps falling, keeps rising, or is flat within its noise, and the page says so instead
//! of marking a point.

/// The smallest rise that counts, relative to the minimum: 1 %, so that a dip a reader
/// cannot see on the plot, or a deterministic curve flat to a few parts in a thousand, is
/// no inflection.
pub const MIN_RISE: f64 = 0.01;

/// How many standard errors of the difference a rise must exceed.
pub const NOISE_SE: f64 = 2.0;

/// What the rule found on a curve (see [`inflection`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// An interior minimum at point `index` that both ends exceed by more than the noise
    /// and by [`MIN_RISE`].
    Inflection { index: usize },
    /// The lowest point is the last: the curve is still falling (not yet overtrained).
    StillFalling,
    /// The lowest point is the first: the curve only rises.
    OnlyRising,
    /// An interior minimum, but an end is not clear of it by the noise or by [`MIN_RISE`]:
    /// `index` is that minimum.
    WithinNoise { index: usize },
    /// Fewer than three finite points.
    TooFew,
}

impl Verdict {
    /// The inflection's point, if there is one.
    pub fn index(&self) -> Option<usize> {
        match self {
            Verdict::Inflection { index } => Some(*index),
            _ => None,
        }
    }
}

/// The rule on a curve of `mean` values with standard errors `se` (None: no noise, e.g. a
/// deterministic run or a closed form); missing or non-finite values (diverged runs) are
/// skipped. The minimum is the first lowest point; it is an inflection when it is neither
/// end and both ends exceed it by more than [`NOISE_SE`]·√(se_end² + se_min²) and by
/// [`MIN_RISE`]·|min|.
pub fn verdict(mean: &[Option<f64>], se: &[Option<f64>]) -> Verdict {
    let points: Vec<(usize, f64, f64)> = mean
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.filter(|m| m.is_finite())
                .map(|m| (i, m, se.get(i).copied().flatten().unwrap_or(0.0)))
        })
        .collect();
    if points.len() < 3 {
        return Verdict::TooFew;
    }
    let (k, &(index, min, s)) = points
        .iter()
        .enumerate()
        .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .expect("three points");
    if k + 1 == points.len() {
        return Verdict::StillFalling;
    }
    if k == 0 {
        return Verdict::OnlyRising;
    }
    let clear = |&(_, v, sv): &(usize, f64, f64)| {
        let rise = v - min;
        rise > NOISE_SE * (sv * sv + s * s).sqrt() && rise > MIN_RISE * min.abs()
    };
    if clear(&points[0]) && clear(&points[points.len() - 1]) {
        Verdict::Inflection { index }
    } else {
        Verdict::WithinNoise { index }
    }
}

/// The x (step or budget) of the inflection of a curve over `xs`, by [`verdict`].
pub fn inflection<T: Copy>(xs: &[T], mean: &[Option<f64>], se: &[Option<f64>]) -> Option<T> {
    verdict(mean, se).index().map(|i| xs[i])
}
