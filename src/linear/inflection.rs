//! The inflection rule of the linear lab's curves, shared by the measured curves
//! (`results`) and the idealized ones (`theory`).

/// The inflection of a curve over checkpoints: the step where it is lowest (the first such
/// step on ties). `None` when the lowest point is the last checkpoint (the curve is still
/// falling, so no inflection is seen yet) or when no value is finite. Missing (diverged)
/// values are skipped.
pub fn inflection_step(steps: &[usize], values: &[Option<f64>]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            if best.is_none_or(|(_, b)| v < b) {
                best = Some((i, v));
            }
        }
    }
    let (i, _) = best?;
    if i + 1 == steps.len() {
        None
    } else {
        Some(steps[i])
    }
}
