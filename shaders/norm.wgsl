// LayerNorm and RMSNorm over rows of D, paired with layernorm_*/rmsnorm_* of
// src/transformer/layers.rs. One invocation per row for the forward pass and the input
// gradient (D ≤ 1024 values each); one invocation per column for the gain/bias gradients,
// summing rows [r_begin, r_end) (long batches are split into several dispatches).
//   layernorm: out = (x − mean)·rstd·g + b, rstd = 1/√(var + ε)
//   rmsnorm:   out = x·rstd·g,               rstd = 1/√(mean(x²) + ε)
// stats holds mean[0..N] then rstd[N..2N] (rmsnorm leaves mean unused). g and b live in
// the flat parameter buffer at off_g/off_b, their gradients at the same offsets of grads.

struct Params { rows: u32, d: u32, off_g: u32, off_b: u32, r_begin: u32, r_end: u32, residual: u32, _pad0: u32 }

@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> dout: array<f32>;
@group(0) @binding(6) var<storage, read> saved: array<f32>;
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;
// The input gradients add this when p.residual = 1: the gradient reaching the norm's input
// around it, by the residual stream (the add fused).
@group(0) @binding(8) var<storage, read> dres: array<f32>;

fn residual(i: u32) -> f32 {
    if (p.residual != 0u) { return dres[i]; }
    return 0.0;
}

const EPS: f32 = 1e-5;

fn row_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

@compute @workgroup_size(64)
fn layernorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = row_index(gid, groups);
    if (n >= p.rows) { return; }
    let base = n * p.d;
    var sum = 0.0;
    for (var i = 0u; i < p.d; i = i + 1u) { sum = sum + inp[base + i]; }
    let mean = sum / f32(p.d);
    var var_sum = 0.0;
    for (var i = 0u; i < p.d; i = i + 1u) {
        let c = inp[base + i] - mean;
        var_sum = var_sum + c * c;
    }
    let rstd = 1.0 / sqrt(var_sum / f32(p.d) + EPS);
    for (var i = 0u; i < p.d; i = i + 1u) {
        out[base + i] = (inp[base + i] - mean) * rstd * params[p.off_g + i] + params[p.off_b + i];
    }
    stats[n] = mean;
    stats[p.rows + n] = rstd;
}

@compute @workgroup_size(64)
fn rmsnorm_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = row_index(gid, groups);
    if (n >= p.rows) { return; }
    let base = n * p.d;
    var sum = 0.0;
    for (var i = 0u; i < p.d; i = i + 1u) { sum = sum + inp[base + i] * inp[base + i]; }
    let rstd = 1.0 / sqrt(sum / f32(p.d) + EPS);
    for (var i = 0u; i < p.d; i = i + 1u) {
        out[base + i] = inp[base + i] * rstd * params[p.off_g + i];
    }
    stats[n] = 0.0;
    stats[p.rows + n] = rstd;
}

// Input gradients (overwrite out = dinp, + dres when p.residual = 1); `saved` holds the
// forward pass's stats.
@compute @workgroup_size(64)
fn layernorm_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = row_index(gid, groups);
    if (n >= p.rows) { return; }
    let base = n * p.d;
    let mean = saved[n];
    let rstd = saved[p.rows + n];
    var dnorm_mean = 0.0;
    var dnorm_norm_mean = 0.0;
    for (var i = 0u; i < p.d; i = i + 1u) {
        let norm = (inp[base + i] - mean) * rstd;
        let dnorm = params[p.off_g + i] * dout[base + i];
        dnorm_mean = dnorm_mean + dnorm;
        dnorm_norm_mean = dnorm_norm_mean + dnorm * norm;
    }
    dnorm_mean = dnorm_mean / f32(p.d);
    dnorm_norm_mean = dnorm_norm_mean / f32(p.d);
    for (var i = 0u; i < p.d; i = i + 1u) {
        let norm = (inp[base + i] - mean) * rstd;
        let dnorm = params[p.off_g + i] * dout[base + i];
        out[base + i] = (dnorm - dnorm_mean - norm * dnorm_norm_mean) * rstd + residual(base + i);
    }
}

@compute @workgroup_size(64)
fn rmsnorm_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = row_index(gid, groups);
    if (n >= p.rows) { return; }
    let base = n * p.d;
    let s = saved[p.rows + n];
    var dot = 0.0;
    for (var i = 0u; i < p.d; i = i + 1u) {
        dot = dot + dout[base + i] * params[p.off_g + i] * inp[base + i];
    }
    for (var i = 0u; i < p.d; i = i + 1u) {
        let x = inp[base + i];
        out[base + i] = dout[base + i] * params[p.off_g + i] * s - x * s * s * s * dot / f32(p.d) + residual(base + i);
    }
}

// Gain and bias gradients, accumulated: one invocation per column.
@compute @workgroup_size(64)
fn layernorm_backward_params(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.d) { return; }
    var dg = 0.0;
    var db = 0.0;
    for (var n = p.r_begin; n < p.r_end; n = n + 1u) {
        let dy = dout[n * p.d + c];
        let norm = (inp[n * p.d + c] - saved[n]) * saved[p.rows + n];
        dg = dg + norm * dy;
        db = db + dy;
    }
    grads[p.off_g + c] = grads[p.off_g + c] + dg;
    grads[p.off_b + c] = grads[p.off_b + c] + db;
}

@compute @workgroup_size(64)
fn rmsnorm_backward_params(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.d) { return; }
    var dg = 0.0;
    for (var n = p.r_begin; n < p.r_end; n = n + 1u) {
        dg = dg + dout[n * p.d + c] * inp[n * p.d + c] * saved[p.rows + n];
    }
    grads[p.off_g + c] = grads[p.off_g + c] + dg;
}
