//! The one significance rule of both labs (src/inflection.rs): a clear U gives its
//! minimum; a flat curve, a noisy one, a monotone one or a minimum at an end gives none,
//! and says which.

use overtrain::inflection::{inflection, verdict, Verdict, MIN_RISE};

fn some(xs: &[f64]) -> Vec<Option<f64>> {
    xs.iter().map(|&x| Some(x)).collect()
}

const STEPS: [usize; 5] = [0, 10, 20, 30, 40];

#[test]
fn a_clear_u_gives_its_minimum() {
    assert_eq!(
        inflection(&STEPS, &some(&[5.0, 3.0, 1.0, 2.0, 4.0]), &[]),
        Some(20)
    );
    assert_eq!(
        inflection(&STEPS, &some(&[3.0, 1.0, 1.0, 2.0, 2.0]), &[]),
        Some(10),
        "the first of equal minima"
    );
    assert_eq!(
        inflection(
            &STEPS,
            &[Some(3.0), None, Some(1.0), Some(f64::NAN), Some(2.0)],
            &[]
        ),
        Some(20),
        "diverged (missing or non-finite) points are skipped"
    );
}

#[test]
fn a_flat_curve_has_no_inflection() {
    // The linear lab's η_ft = 0.1 curve: 1.233 → 1.238, within 0.4 %, lowest inside.
    let flat = some(&[1.2380, 1.2350, 1.2331, 1.2340, 1.2375]);
    assert_eq!(verdict(&flat, &[]), Verdict::WithinNoise { index: 2 });
    assert_eq!(inflection(&STEPS, &flat, &[]), None);
    // Just under and just over the visible rise.
    let rise = |r: f64| some(&[2.0, 1.5, 1.0, 1.0 + r, 1.0 + r]);
    assert_eq!(inflection(&STEPS, &rise(0.9 * MIN_RISE), &[]), None);
    assert_eq!(inflection(&STEPS, &rise(1.1 * MIN_RISE), &[]), Some(20));
}

#[test]
fn a_rise_within_the_noise_is_no_inflection() {
    // The linear lab's γ = 0.02 curve: its last point 0.00006 above a minimum whose Monte
    // Carlo standard error is 0.0012.
    let mean = some(&[1.5985, 0.2, 0.05800, 0.05793, 0.05799]);
    let se = some(&[0.03, 0.004, 0.00117, 0.00116, 0.00117]);
    assert_eq!(verdict(&mean, &se), Verdict::WithinNoise { index: 3 });
    // The same U with a tenth of the noise... still within it relative to the minimum.
    let tiny = some(&[0.003, 0.0004, 0.0001, 0.0001, 0.0001]);
    assert_eq!(inflection(&STEPS, &mean, &tiny), None);
    // A rise of several standard errors and several percent: reported.
    let u = some(&[3.5, 3.2, 3.0, 3.3, 3.6]);
    assert_eq!(inflection(&STEPS, &u, &some(&[0.05; 5])), Some(20));
    assert_eq!(
        inflection(&STEPS, &u, &some(&[0.2; 5])),
        None,
        "the same rise within two standard errors of the difference"
    );
}

#[test]
fn monotone_curves_and_minima_at_an_end_are_no_inflection() {
    assert_eq!(
        verdict(&some(&[5.0, 4.0, 3.0, 2.0, 1.0]), &[]),
        Verdict::StillFalling
    );
    assert_eq!(
        verdict(&some(&[1.0, 2.0, 3.0, 4.0, 5.0]), &[]),
        Verdict::OnlyRising
    );
    assert_eq!(verdict(&some(&[1.0, 0.5]), &[]), Verdict::TooFew);
    assert_eq!(verdict(&[None; 5], &[]), Verdict::TooFew);
}
