// SwiGLU, paired with swiglu_* of src/transformer/layers.rs. (GELU is fused into the
// MLP's matrix products: shaders/gelu.wgsl, shaders/matmul_epilogue.wgsl.)
//   swiglu: each input row is [gate (F) | up (F)]; out = silu(gate)·up (N × F)
// Backward passes overwrite dinp.

struct Params { n: u32, f: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<storage, read> inp: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> dout: array<f32>;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 256u;
}

fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }

// i runs over the N × F outputs.
@compute @workgroup_size(256)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.n) { return; }
    let row = i / p.f;
    let c = i % p.f;
    let gate = inp[row * 2u * p.f + c];
    let up = inp[row * 2u * p.f + p.f + c];
    out[i] = gate * sigmoid(gate) * up;
}

@compute @workgroup_size(256)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.n) { return; }
    let row = i / p.f;
    let c = i % p.f;
    let gate = inp[row * 2u * p.f + c];
    let up = inp[row * 2u * p.f + p.f + c];
    let sig = sigmoid(gate);
    out[row * 2u * p.f + p.f + c] = dout[i] * gate * sig;
    out[row * 2u * p.f + c] = dout[i] * up * sig * (1.0 + gate * (1.0 - sig));
}
