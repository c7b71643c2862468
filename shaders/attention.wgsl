// The pieces of causal multi-head self-attention that are not matrix products, paired
// with attention_forward/attention_backward of src/transformer/layers.rs. The host
// composes them with batched products (shaders/matmul.wgsl), as llm.c does:
//   forward:  split_heads(qkv) → q, k, v (B·H × T × hs each)
//             scores = q·kᵀ/√hs;  softmax_forward (causal, in place) → att
//             y = att·v;  merge_heads(y) → out (N × D)
//   backward: split_heads(dout) → dy;  datt = dy·vᵀ;  dv = attᵀ·dy
//             softmax_backward (in place on datt) → dscores
//             dq = dscores·k/√hs;  dk = dscoresᵀ·q/√hs;  merge_heads(dq, dk, dv) → dqkv
// split_heads/merge_heads move `parts` blocks of D columns of an N × (parts·D) matrix to
// and from a parts × B × H × T × hs tensor.

struct Params { b: u32, t_len: u32, h: u32, hs: u32, parts: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> rows: array<f32>;
@group(0) @binding(4) var<storage, read> att: array<f32>;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 256u;
}

// Index i of the head-major tensor → index of the row-major N × (parts·D) matrix.
fn row_major(i: u32) -> u32 {
    let d = p.h * p.hs;
    let e = i % p.hs;
    let t = (i / p.hs) % p.t_len;
    let head = (i / (p.hs * p.t_len)) % p.h;
    let bi = (i / (p.hs * p.t_len * p.h)) % p.b;
    let part = i / (p.hs * p.t_len * p.h * p.b);
    return (bi * p.t_len + t) * p.parts * d + part * d + head * p.hs + e;
}

@compute @workgroup_size(256)
fn split_heads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.parts * p.b * p.t_len * p.h * p.hs) { return; }
    dst[i] = src[row_major(i)];
}

@compute @workgroup_size(256)
fn merge_heads(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.parts * p.b * p.t_len * p.h * p.hs) { return; }
    dst[row_major(i)] = src[i];
}

// Row r of the B·H·T rows of T scores: query position t = r mod T sees keys 0..=t.
@compute @workgroup_size(64)
fn softmax_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * 64u;
    if (r >= p.b * p.h * p.t_len) { return; }
    let t = r % p.t_len;
    let base = r * p.t_len;
    var m = rows[base];
    for (var j = 1u; j <= t; j = j + 1u) { m = max(m, rows[base + j]); }
    var sum = 0.0;
    for (var j = 0u; j <= t; j = j + 1u) {
        let e = exp(rows[base + j] - m);
        rows[base + j] = e;
        sum = sum + e;
    }
    for (var j = 0u; j < p.t_len; j = j + 1u) {
        if (j <= t) { rows[base + j] = rows[base + j] / sum; } else { rows[base + j] = 0.0; }
    }
}

// In place on datt: dscores = att ⊙ (datt − Σ att·datt).
@compute @workgroup_size(64)
fn softmax_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = gid.x + gid.y * groups.x * 64u;
    if (r >= p.b * p.h * p.t_len) { return; }
    let t = r % p.t_len;
    let base = r * p.t_len;
    var dot = 0.0;
    for (var j = 0u; j <= t; j = j + 1u) { dot = dot + att[base + j] * rows[base + j]; }
    for (var j = 0u; j < p.t_len; j = j + 1u) {
        rows[base + j] = att[base + j] * (rows[base + j] - dot);
    }
}
