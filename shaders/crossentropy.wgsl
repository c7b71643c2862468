// Softmax cross-entropy over V = 256 bytes, paired with crossentropy_forward/_backward of
// src/transformer/layers.rs. Targets are u32 words inside a batch buffer at off_targets.
//   crossentropy_forward:  probs = softmax(logits) per row; losses[n] = −log probs[n, y_n]
//   loss_mean:             out[slot + s.slot] = Σ_n losses[n] / N   (one workgroup; s: the
//                          step's values, shaders/step.wgsl — a training step's loss goes
//                          to its slot of the ring, an evaluation binds s.slot = 0;
//                          workgroup_sum: shaders/workgroup_sum.wgsl; both prepended)
//   crossentropy_backward: dlogits = (probs − onehot(y)) / N   (may overwrite logits)

struct Params { n: u32, v: u32, off_targets: u32, slot: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> batch: array<u32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> row_losses: array<f32>;
@group(0) @binding(7) var<storage, read> saved_probs: array<f32>;
@group(0) @binding(8) var<uniform> s: Step;

@compute @workgroup_size(64)
fn crossentropy_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = gid.x + gid.y * groups.x * 64u;
    if (n >= p.n) { return; }
    let base = n * p.v;
    var m = logits[base];
    for (var i = 1u; i < p.v; i = i + 1u) { m = max(m, logits[base + i]); }
    var sum = 0.0;
    for (var i = 0u; i < p.v; i = i + 1u) { sum = sum + exp(logits[base + i] - m); }
    for (var i = 0u; i < p.v; i = i + 1u) { probs[base + i] = exp(logits[base + i] - m) / sum; }
    let y = batch[p.off_targets + n];
    losses[n] = log(sum) - (logits[base + y] - m);
}

@compute @workgroup_size(256)
fn loss_mean(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var n = lid; n < p.n; n = n + 256u) { acc = acc + row_losses[n]; }
    let total = workgroup_sum(lid, acc);
    if (lid == 0u) { out[p.slot + s.slot] = total / f32(p.n); }
}

@compute @workgroup_size(256)
fn crossentropy_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if (i >= p.n * p.v) { return; }
    let n = i / p.v;
    var onehot = 0.0;
    if (i % p.v == batch[p.off_targets + n]) { onehot = 1.0; }
    out[i] = (saved_probs[i] - onehot) / f32(p.n);
}
