//! Element-by-element sums and scalings over flat slices: the residual stream's adds, a
//! gradient added into another, the clip's scaling.

/// out[i] = a[i] + b[i].
#[inline(never)]
pub fn add(out: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

/// acc[i] += x[i].
#[inline(never)]
pub fn add_into(acc: &mut [f32], x: &[f32]) {
    for (a, &x) in acc.iter_mut().zip(x) {
        *a += x;
    }
}

/// x[i] *= s.
#[inline(never)]
pub fn scale(x: &mut [f32], s: f32) {
    x.iter_mut().for_each(|v| *v *= s);
}
