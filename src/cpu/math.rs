//! `exp` and `tanh` for the transformer's CPU path, written with plain f32 operations only
//! (no libm call, no fused multiply-add: Rust never contracts), so that every build gives
//! the same bits — native with any SIMD width, and wasm — and a loop over them
//! vectorizes. libm's scalar calls were 40 % of a training step's time (the softmaxes and
//! GELU). Accuracy: within 2 ulp of the exact values over the ranges a model produces
//! (tests below); NaN passes through, so a diverging run still shows it.
//!
//! The other transcendental functions behind a reported number (the losses' logarithm, a
//! perplexity, the schedule's cosine, the noise, the synthetic language, RoPE's angles) are
//! the `libm` crate's, called by name: on wasm, std's `f64::ln` and the like run that same
//! code, while natively they call the platform's C library, which rounds some inputs the
//! other way (1 ulp of a loss: found comparing the page's results with the command line's).

/// e^x: Cephes' expf (x = n·ln 2 + r, |r| ≤ ln 2 / 2, a degree-6 polynomial in r, then
/// 2^n from its bits). Below −87 it returns e^−87 (1.6e−38) rather than underflowing.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // clamp keeps NaN.
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2), to nearest even, by adding and subtracting 1.5 · 2^23.
    const ROUND: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // r = x − n·ln 2, with ln 2 in two parts so that n·C1 is exact.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * (r * r) + r + 1.0;
    // 2^n for n in [−126, 127]. `shifted` = 1.5 · 2^23 + n holds n in its low bits (its
    // exponent is that of 2^23 for every such n), so n is read with integer operations: a
    // float-to-integer `as` saturates, which vectorizes badly (scalar conversions and lane
    // inserts, most of the cost of a GELU). For NaN the scale is meaningless and y is NaN.
    let n_int = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let scale = f32::from_bits((n_int.wrapping_add(127) << 23) as u32);
    y * scale
}

/// tanh(u): an odd polynomial near 0 (Cephes' tanhf, |u| < 0.625), else
/// 1 − 2 / (e^{2|u|} + 1) with the sign of u. Both are computed and one is selected, so a
/// loop over it has no branch.
#[inline(always)]
pub fn tanh(u: f32) -> f32 {
    let a = u.abs();
    let z = u * u;
    let small = ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 0.133_314_42)
        * z
        - 0.333_332_8)
        * z
        * u
        + u;
    let large = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(u);
    if a < 0.625 {
        small
    } else {
        large
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place.
    fn ulps(a: f32, b: f32) -> u32 {
        let (a, b) = (a.to_bits() as i32, b.to_bits() as i32);
        a.abs_diff(b)
    }

    #[test]
    fn exp_is_within_2_ulp_of_f64() {
        let mut worst = 0;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f32 / 200_000.0;
            let want = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp(x), want));
        }
        assert!(worst <= 2, "{worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-1000.0), exp(-87.0));
    }

    /// n is read from the rounding sum's bits; the same bits as the plain conversion of n
    /// (n in [−126, 127], as the clamp keeps it) for every x, which keeps recorded runs.
    #[test]
    fn exp_reads_n_as_the_conversion_does() {
        const ROUND: f32 = 12_582_912.0;
        for i in 0..=2_000_000 {
            let x = -87.0 + 175.0 * i as f32 / 2_000_000.0;
            let shifted = x * std::f32::consts::LOG2_E + ROUND;
            let n = shifted - ROUND;
            let by_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
            assert_eq!(by_bits, n as i32, "x = {x}");
        }
    }

    #[test]
    fn tanh_is_close_to_f64() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let u = -20.0 + 40.0 * i as f32 / 200_000.0;
            let want = (u as f64).tanh();
            // Relative where the value is not tiny, absolute near 0.
            let err = (tanh(u) as f64 - want).abs() / want.abs().max(1e-3);
            worst = worst.max(err);
        }
        assert!(worst < 1e-6, "{worst}");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(30.0), 1.0);
        assert_eq!(tanh(-30.0), -1.0);
        assert!(tanh(f32::NAN).is_nan());
    }
}
