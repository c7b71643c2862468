// Parameter updates over flat buffers (parameters, gradients and optimizer state share one
// layout, so one dispatch updates every tensor of a model).
//   sgd:   w = w - lr * g
//   adamw: m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g²;
//          w = w - lr * (m / bc1 / (sqrt(v / bc2) + eps) + wd * w)      (decoupled decay)
// bc1 = 1 - b1^t and bc2 = 1 - b2^t are the bias corrections of step t, computed on the CPU.

struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32, bc1: f32, bc2: f32 }

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 256u;
}

@compute @workgroup_size(256)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i < p.n) { w[i] = w[i] - p.lr * g[i]; }
}

@compute @workgroup_size(256)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.n) { return; }
    let gi = g[i];
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gi;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    let update = (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps) + p.weight_decay * w[i];
    w[i] = w[i] - p.lr * update;
}
