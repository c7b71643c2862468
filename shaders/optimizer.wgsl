// Parameter updates over flat buffers (parameters, gradients and optimizer state share one
// layout, so one dispatch updates every tensor of a model).
//   sgd:   w = w - lr * g
//   grad_sumsq:  partials[i] = Σ_s g[i + s·P]² over the P partials' invocations: strided, so
//                neighbouring invocations read neighbouring gradients, and without a
//                workgroup barrier (which software adapters run slowly)
//   step_guard:  (one workgroup) norm = √Σ partials; the clip scale min(1, clip / norm);
//                the first step whose loss or gradient norm is not finite, or whose loss
//                exceeds max_loss (a blown-up model) → status
//   adamw: g' = scale·g;  m = b1 m + (1 - b1) g';  v = b2 v + (1 - b2) g'²;
//          w = w - lr * (m / bc1 / (sqrt(v / bc2) + eps) + wd * w)      (decoupled decay)
//          where wd applies to the elements whose bit is set in `decay`; nothing changes
//          once the guard's status is set, so a diverged run keeps its last good weights.
//   l2_pull: g = g + l2 * (w - anchor)   (fine-tuning's pull toward the pre-trained weights)
//   SAM (sharpness-aware minimization), after grad_sumsq of the gradient g at w:
//   sam_scale:   (one workgroup) norm = √Σ partials; sam_scale = sam_rho / norm (0 when the
//                norm is 0), for every invocation of sam_ascent to read
//   sam_ascent:  saved = w;  w = w + sam_scale * g   (w + ε: the gradient is taken there)
//   sam_restore: w = saved   (exactly w again, before the update)
// lr, weight_decay, bc1 = 1 - b1^t, bc2 = 1 - b2^t, alpha (= l2), clip, the step and its
// loss slot: the step's values `s` (shaders/step.wgsl, prepended by the host, as is
// workgroup_sum: shaders/workgroup_sum.wgsl or its subgroup path).

// sgd (tests only) reads its rate from lr; the training step's kernels read theirs from s.
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, _pad0: u32, _pad1: u32, _pad2: u32 }

// scale: gradient multiplier; status: 0, or 1 + the step that diverged; norm: the
// gradient's global norm before clipping; loss: the step's loss as checked.
struct Guard { scale: f32, status: u32, norm: f32, loss: f32 }

struct GuardParams { partials: u32, max_loss: f32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> decay: array<u32>;
@group(0) @binding(6) var<storage, read> guard_in: Guard;

@group(0) @binding(7) var<storage, read_write> partials: array<f32>;
@group(0) @binding(8) var<storage, read_write> guard: Guard;
@group(0) @binding(9) var<uniform> gp: GuardParams;
@group(0) @binding(10) var<storage, read> losses: array<f32>;
@group(0) @binding(11) var<storage, read_write> g_rw: array<f32>;
@group(0) @binding(12) var<storage, read> anchor: array<f32>;
@group(0) @binding(13) var<uniform> s: Step;
@group(0) @binding(14) var<storage, read_write> saved: array<f32>;
@group(0) @binding(15) var<storage, read_write> ascent_scale: array<f32>;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 256u;
}

fn finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i < p.n) { w[i] = w[i] - p.lr * g[i]; }
}

@compute @workgroup_size(256)
fn grad_sumsq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    let stride = gp.partials;
    if (i >= stride) { return; }
    var acc = 0.0;
    for (var j = i; j < p.n; j = j + stride) { acc = acc + g[j] * g[j]; }
    partials[i] = acc;
}

@compute @workgroup_size(256)
fn step_guard(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var j = lid; j < gp.partials; j = j + 256u) { acc = acc + partials[j]; }
    let norm = sqrt(workgroup_sum(lid, acc));
    if (lid == 0u) {
        let loss = losses[s.slot];
        if (guard.status == 0u && !(finite(norm) && finite(loss) && loss <= gp.max_loss)) { guard.status = s.step + 1u; }
        var scale = 1.0;
        if (s.clip > 0.0 && norm > s.clip) { scale = s.clip / norm; }
        guard.scale = scale;
        guard.norm = norm;
        guard.loss = loss;
    }
}

@compute @workgroup_size(256)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.n || guard_in.status != 0u) { return; }
    let gi = g[i] * guard_in.scale;
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gi;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    var wd = 0.0;
    if (((decay[i / 32u] >> (i % 32u)) & 1u) != 0u) { wd = s.weight_decay; }
    let update = (mi / s.bc1) / (sqrt(vi / s.bc2) + p.eps) + wd * w[i];
    w[i] = w[i] - s.lr * update;
}

@compute @workgroup_size(256)
fn l2_pull(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i < p.n) { g_rw[i] = g_rw[i] + s.l2 * (w[i] - anchor[i]); }
}

@compute @workgroup_size(256)
fn sam_scale(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var j = lid; j < gp.partials; j = j + 256u) { acc = acc + partials[j]; }
    let norm = sqrt(workgroup_sum(lid, acc));
    if (lid == 0u) {
        var scale = 0.0;
        if (norm > 0.0) { scale = s.sam_rho / norm; }
        ascent_scale[0] = scale;
    }
}

@compute @workgroup_size(256)
fn sam_ascent(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i < p.n) {
        saved[i] = w[i];
        w[i] = w[i] + ascent_scale[0] * g[i];
    }
}

@compute @workgroup_size(256)
fn sam_restore(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i < p.n) { w[i] = saved[i]; }
}
