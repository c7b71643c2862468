//! The plots' curve colours (src/plot/style.rs PALETTE) for every reader: each keeps 3:1
//! contrast on white (WCAG 2.2's non-text contrast), and every pair of them — and each against
//! the black of the base curves — stays clearly apart with normal vision and under simulated
//! protanopia, deuteranopia and tritanopia (Machado, Oliveira & Fernandes 2009, severity 1,
//! on linear RGB), measured as the CIELAB distance (CIE76, D65).

use overtrain::plot::style::PALETTE;

type Rgb = [f64; 3];

fn linear(c: u8) -> f64 {
    let c = c as f64 / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn luminance([r, g, b]: Rgb) -> f64 {
    0.2126 * r + 0.7152 * g + 0.0722 * b
}

/// CIELAB of a linear-RGB colour (sRGB primaries, D65 white).
fn lab([r, g, b]: Rgb) -> Rgb {
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f64| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// A colour as seen with a deficiency (`m`: its matrix on linear RGB), clamped to the gamut.
fn seen(c: Rgb, m: &[[f64; 3]; 3]) -> Rgb {
    let mut out = [0.0; 3];
    for (o, row) in out.iter_mut().zip(m) {
        *o = (row[0] * c[0] + row[1] * c[1] + row[2] * c[2]).clamp(0.0, 1.0);
    }
    out
}

const VISIONS: [(&str, [[f64; 3]; 3], f64); 4] = [
    (
        "normal vision",
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        30.0,
    ),
    (
        "protanopia",
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ],
        16.0,
    ),
    (
        "deuteranopia",
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.011820, 0.042940, 0.968881],
        ],
        16.0,
    ),
    (
        "tritanopia",
        [
            [1.255528, -0.076749, -0.178779],
            [-0.078411, 0.930809, 0.147602],
            [0.004733, 0.691367, 0.303900],
        ],
        16.0,
    ),
];

fn colours() -> Vec<Rgb> {
    PALETTE
        .iter()
        .map(|c| [linear(c.0), linear(c.1), linear(c.2)])
        .collect()
}

#[test]
fn every_curve_colour_has_3_to_1_contrast_on_white() {
    for (i, c) in colours().into_iter().enumerate() {
        let contrast = 1.05 / (luminance(c) + 0.05);
        assert!(
            contrast >= 3.0,
            "colour {i} {:?}: {contrast:.2}:1",
            PALETTE[i]
        );
    }
}

#[test]
fn curve_colours_stay_apart_with_every_common_colour_vision_deficiency() {
    let mut all = colours();
    all.push([0.0, 0.0, 0.0]); // the base curves
    for (vision, m, least) in VISIONS {
        let labs: Vec<Rgb> = all.iter().map(|&c| lab(seen(c, &m))).collect();
        for i in 0..labs.len() {
            for j in i + 1..labs.len() {
                let d = ((labs[i][0] - labs[j][0]).powi(2)
                    + (labs[i][1] - labs[j][1]).powi(2)
                    + (labs[i][2] - labs[j][2]).powi(2))
                .sqrt();
                assert!(
                    d >= least,
                    "{vision}: colours {i} and {j} only {d:.1} apart (at least {least})"
                );
            }
        }
    }
}

#[test]
fn the_simulation_confuses_what_a_deficiency_confuses() {
    // The vermillion and dark orange of the earlier palette: 21 apart with normal vision,
    // one colour for protanopes and nearly so for deuteranopes — the check above can fail.
    let (vermillion, orange) = (
        [linear(213), linear(94), linear(0)],
        [linear(179), linear(107), linear(0)],
    );
    let apart = |m: &[[f64; 3]; 3]| {
        let (a, b) = (lab(seen(vermillion, m)), lab(seen(orange, m)));
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    };
    assert!(apart(&VISIONS[0].1) > 20.0);
    assert!(apart(&VISIONS[1].1) < 1.0 && apart(&VISIONS[2].1) < 6.0);
}
