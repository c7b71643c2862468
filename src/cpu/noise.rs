//! Gaussian noise from a counter-based generator: value i of a stream is a pure function
//! of (seed, offset + i), so a stream splits across threads, dispatches or backends without
//! changing a value (the GPU's `gaussian` kernel draws the same numbers).

/// Philox-4x32-10 of a 128-bit counter under a 64-bit key.
pub fn philox(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let p0 = 0xD2511F53u64 * c[0] as u64;
        let p1 = 0xCD9E8D57u64 * c[2] as u64;
        c = [
            (p1 >> 32) as u32 ^ c[1] ^ k[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ c[3] ^ k[1],
            p0 as u32,
        ];
        k = [k[0].wrapping_add(0x9E3779B9), k[1].wrapping_add(0xBB67AE85)];
    }
    c
}

/// scale · z(seed, offset + i) for i in 0..n, z standard normal by Box–Muller on two
/// uniforms in (0, 1] (f64 arithmetic; the GPU kernel agrees up to its precision of log,
/// sqrt and cos).
#[inline(never)]
pub fn gaussian(seed: u64, offset: u64, scale: f32, n: usize) -> Vec<f32> {
    let unit = |bits: u32| ((bits >> 8) + 1) as f32 * (1.0 / 16_777_216.0);
    (0..n as u64)
        .map(|i| {
            let ctr = offset.wrapping_add(i);
            let r = philox(
                [ctr as u32, (ctr >> 32) as u32, 0, 0],
                [seed as u32, (seed >> 32) as u32],
            );
            let (u1, u2) = (unit(r[0]) as f64, unit(r[1]) as f64);
            let (radius, angle) = ((-2.0 * libm::log(u1)).sqrt(), std::f64::consts::TAU * u2);
            (scale as f64 * radius * libm::cos(angle)) as f32
        })
        .collect()
}
