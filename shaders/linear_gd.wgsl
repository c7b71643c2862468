// Gradient descent of the linear transfer lab (science.md §2), many runs at once. Every run
// is one workgroup; its state lives in storage buffers, so any d, h fits, and the workgroup
// synchronizes with barriers between the phases of a step. CPU reference:
// linear::model::gd_step (linear_forward, loss_backward, linear_backward, sgd_update).
//
// gd_runs: `steps` full-batch gradient-descent steps of every run, on
//   L = ‖θ − A‖² + λ‖θ − θ₀‖²,  θ = W₁W₂,  dL/dθ = G = 2((1+λ)θ − B),  B = A + λθ₀,
//   W₁ ← W₁ − η G W₂ᵀ,  W₂ ← W₂ − η W₁ᵀ G   (both from the old weights).
//   A run whose gradient turns non-finite stops and records the step in `status`.
//   With `every` > 0, the weights after global step s are copied to snapshot s / every
//   whenever every divides s (pre-training checkpoints).

struct GdParams { d: u32, h: u32, steps: u32, step0: u32, every: u32, snapshots: u32, runs: u32, _pad: u32 }
struct Run { lr: f32, scale: f32, target_index: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read_write> weights: array<f32>;   // runs × (W₁ d×h, W₂ h×d)
@group(0) @binding(1) var<storage, read_write> scratch: array<f32>;   // runs × (G d×d, ΔW₁, ΔW₂)
@group(0) @binding(2) var<storage, read> targets: array<f32>;         // B matrices, d×d each
@group(0) @binding(3) var<storage, read> run_params: array<Run>;
@group(0) @binding(4) var<storage, read_write> snapshots: array<f32>; // runs × snapshots × 2dh
@group(0) @binding(5) var<storage, read_write> status: array<u32>;    // 0, or the diverged step
@group(0) @binding(6) var<uniform> gp: GdParams;

var<workgroup> bad: atomic<u32>;
var<workgroup> stopped: u32;

fn finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn gd_runs(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let run = wg.x + wg.y * groups.x;
    let d = gp.d;
    let h = gp.h;
    let dh = d * h;
    let w1 = run * 2u * dh;          // W₁[i, k] = weights[w1 + i*h + k]
    let w2 = w1 + dh;                // W₂[k, j] = weights[w2 + k*d + j]
    let sg = run * (d * d + 2u * dh); // G[i, j] = scratch[sg + i*d + j]
    let s1 = sg + d * d;             // ΔW₁
    let s2 = s1 + dh;                // ΔW₂
    var rp = Run(0.0, 1.0, 0u, 0u);
    var st = 1u;
    if (run < gp.runs) {
        rp = run_params[run];
        st = status[run];
    }
    if (lid == 0u) { stopped = st; }
    let b = rp.target_index * d * d;
    // A workgroup past the last run, or a run that already diverged, does nothing.
    if (workgroupUniformLoad(&stopped) != 0u) { return; }

    for (var t = 1u; t <= gp.steps; t = t + 1u) {
        if (lid == 0u) { atomicStore(&bad, 0u); }
        workgroupBarrier();
        // θ = W₁W₂, then G = 2((1+λ)θ − B).
        for (var e = lid; e < d * d; e = e + 256u) {
            let i = e / d;
            let j = e % d;
            var acc = 0.0;
            for (var k = 0u; k < h; k = k + 1u) {
                acc = acc + weights[w1 + i * h + k] * weights[w2 + k * d + j];
            }
            let g = 2.0 * (rp.scale * acc - targets[b + e]);
            scratch[sg + e] = g;
            if (!finite(g)) { atomicStore(&bad, 1u); }
        }
        storageBarrier();
        if (workgroupUniformLoad(&bad) != 0u) {
            if (lid == 0u) { status[run] = gp.step0 + t; }
            return;
        }
        // ΔW₁ = G W₂ᵀ and ΔW₂ = W₁ᵀ G, from the old weights.
        for (var e = lid; e < dh; e = e + 256u) {
            let i = e / h;
            let k = e % h;
            var acc = 0.0;
            for (var j = 0u; j < d; j = j + 1u) {
                acc = acc + scratch[sg + i * d + j] * weights[w2 + k * d + j];
            }
            scratch[s1 + e] = acc;
        }
        for (var e = lid; e < dh; e = e + 256u) {
            let k = e / d;
            let j = e % d;
            var acc = 0.0;
            for (var i = 0u; i < d; i = i + 1u) {
                acc = acc + weights[w1 + i * h + k] * scratch[sg + i * d + j];
            }
            scratch[s2 + e] = acc;
        }
        storageBarrier();
        for (var e = lid; e < 2u * dh; e = e + 256u) {
            weights[w1 + e] = weights[w1 + e] - rp.lr * scratch[s1 + e];
        }
        storageBarrier();
        let step = gp.step0 + t;
        if (gp.every > 0u && step % gp.every == 0u && step / gp.every < gp.snapshots) {
            let base = (run * gp.snapshots + step / gp.every) * 2u * dh;
            for (var e = lid; e < 2u * dh; e = e + 256u) {
                snapshots[base + e] = weights[w1 + e];
            }
        }
        storageBarrier();
    }
}
