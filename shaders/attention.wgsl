// Causal multi-head self-attention, fused, paired with attention_forward/attention_backward
// of src/transformer/layers.rs. One invocation per row r = (b·H + h)·T + i: batch b, head
// h, position i, which sees positions 0..=i. The inputs and outputs are row-major N × D
// matrices (N = B·T; head h is columns h·hs..(h+1)·hs); `qkvh` keeps q, k, v head-major
// (3 blocks of B × H × T × hs) for the backward pass, `att` the softmax weights (B·H·T·T).
//   forward:         s_ij = q_i·k_j · scale; att_i = softmax(s_i); y_i = Σ_j att_ij v_j
//   backward_query:  dP_ij = dy_i·v_j; dS_ij = att_ij (dP_ij − Σ_k att_ik dP_ik) → datt;
//                    dq_i = scale Σ_j dS_ij k_j
//   backward_key:    (row r names key position j) dk_j = scale Σ_{i≥j} dS_ij q_i;
//                    dv_j = Σ_{i≥j} att_ij dy_i
// Every sum runs over positions in increasing order, as the CPU reference's does.
// With rotary positions (p.rope = 1) q and k are rotated as they are read (rope_forward of
// layers.rs: pair (2i, 2i+1) at position t by θ = t·10000^(−2i/hs), cos and sin from the
// host's table), `qkvh` keeps them rotated, and dq and dk are rotated back (rope_backward)
// before they are written: the rotation costs no dispatch of its own.

struct Params { b: u32, t_len: u32, h: u32, hs: u32, scale: f32, rope: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
// forward: qkv rows (N × 3D); backward: dout rows (N × D).
@group(0) @binding(1) var<storage, read> rows_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> qkvh: array<f32>;
@group(0) @binding(3) var<storage, read_write> att: array<f32>;
// forward: out rows (N × D); backward: dqkv rows (N × 3D).
@group(0) @binding(4) var<storage, read_write> rows_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> datt: array<f32>;
// cos[T·hs/2] then sin[T·hs/2], read when p.rope = 1.
@group(0) @binding(6) var<storage, read> rope: array<f32>;

// cos θ and sin θ of pair i at position t.
fn angle(t: u32, i: u32) -> vec2<f32> {
    let half = p.hs / 2u;
    return vec2<f32>(rope[t * half + i], rope[p.t_len * half + t * half + i]);
}

// Element e of the hs values at rows_in[at..] of position t, rotated when p.rope = 1.
fn rotated(at: u32, e: u32, t: u32) -> f32 {
    if (p.rope == 0u) { return rows_in[at + e]; }
    let i = e / 2u;
    let r = angle(t, i);
    let a = rows_in[at + 2u * i];
    let b = rows_in[at + 2u * i + 1u];
    if (e % 2u == 0u) { return a * r.x - b * r.y; }
    return a * r.y + b * r.x;
}

// Rotates the hs values at rows_out[at..] of position t back (the inverse rotation), in
// place, when p.rope = 1.
fn unrotate(at: u32, t: u32) {
    if (p.rope == 0u) { return; }
    for (var i = 0u; i < p.hs / 2u; i = i + 1u) {
        let r = angle(t, i);
        let a = rows_out[at + 2u * i];
        let b = rows_out[at + 2u * i + 1u];
        rows_out[at + 2u * i] = a * r.x + b * r.y;
        rows_out[at + 2u * i + 1u] = b * r.x - a * r.y;
    }
}

fn row_of(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 64u;
}

// Start of (b, h, position i)'s vector in head-major block `part` (0 q, 1 k, 2 v).
fn head_major(part: u32, bh: u32, i: u32) -> u32 {
    let block = p.b * p.h * p.t_len * p.hs;
    return part * block + (bh * p.t_len + i) * p.hs;
}

@compute @workgroup_size(64)
fn attention_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = row_of(gid, groups);
    let t = p.t_len;
    if (r >= p.b * p.h * t) { return; }
    let i = r % t;
    let bh = r / t;
    let head = bh % p.h;
    let bi = bh / p.h;
    let d = p.h * p.hs;
    // This position's q, k, v, head-major, for the backward pass (and for the other rows'
    // keys and values below: each row reads only its own inputs and the qkv rows).
    let src = (bi * t + i) * 3u * d + head * p.hs;
    let q = head_major(0u, bh, i);
    for (var e = 0u; e < p.hs; e = e + 1u) {
        qkvh[q + e] = rotated(src, e, i);
        qkvh[head_major(1u, bh, i) + e] = rotated(src + d, e, i);
        qkvh[head_major(2u, bh, i) + e] = rows_in[src + 2u * d + e];
    }
    let base = r * t;
    var m = -3.4e38;
    for (var j = 0u; j <= i; j = j + 1u) {
        let key = (bi * t + j) * 3u * d + d + head * p.hs;
        var dot = 0.0;
        for (var e = 0u; e < p.hs; e = e + 1u) { dot = dot + qkvh[q + e] * rotated(key, e, j); }
        let s = p.scale * dot;
        att[base + j] = s;
        m = max(m, s);
    }
    var sum = 0.0;
    for (var j = 0u; j <= i; j = j + 1u) {
        let x = exp(att[base + j] - m);
        att[base + j] = x;
        sum = sum + x;
    }
    for (var j = 0u; j < t; j = j + 1u) {
        if (j <= i) { att[base + j] = att[base + j] / sum; } else { att[base + j] = 0.0; }
    }
    let out = (bi * t + i) * d + head * p.hs;
    for (var e = 0u; e < p.hs; e = e + 1u) {
        var y = 0.0;
        for (var j = 0u; j <= i; j = j + 1u) {
            y = y + att[base + j] * rows_in[(bi * t + j) * 3u * d + 2u * d + head * p.hs + e];
        }
        rows_out[out + e] = y;
    }
}

@compute @workgroup_size(64)
fn attention_backward_query(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = row_of(gid, groups);
    let t = p.t_len;
    if (r >= p.b * p.h * t) { return; }
    let i = r % t;
    let bh = r / t;
    let head = bh % p.h;
    let bi = bh / p.h;
    let d = p.h * p.hs;
    let dy = (bi * t + i) * d + head * p.hs;
    let base = r * t;
    var dot = 0.0;
    for (var j = 0u; j <= i; j = j + 1u) {
        let v = head_major(2u, bh, j);
        var dp = 0.0;
        for (var e = 0u; e < p.hs; e = e + 1u) { dp = dp + rows_in[dy + e] * qkvh[v + e]; }
        datt[base + j] = dp;
        dot = dot + att[base + j] * dp;
    }
    for (var j = 0u; j < t; j = j + 1u) {
        if (j <= i) { datt[base + j] = att[base + j] * (datt[base + j] - dot); } else { datt[base + j] = 0.0; }
    }
    let dq = (bi * t + i) * 3u * d + head * p.hs;
    for (var e = 0u; e < p.hs; e = e + 1u) {
        var acc = 0.0;
        for (var j = 0u; j <= i; j = j + 1u) { acc = acc + datt[base + j] * qkvh[head_major(1u, bh, j) + e]; }
        rows_out[dq + e] = p.scale * acc;
    }
    unrotate(dq, i);
}

@compute @workgroup_size(64)
fn attention_backward_key(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let r = row_of(gid, groups);
    let t = p.t_len;
    if (r >= p.b * p.h * t) { return; }
    let j = r % t;
    let bh = r / t;
    let head = bh % p.h;
    let bi = bh / p.h;
    let d = p.h * p.hs;
    let dk = (bi * t + j) * 3u * d + d + head * p.hs;
    for (var e = 0u; e < p.hs; e = e + 1u) {
        var gk = 0.0;
        var gv = 0.0;
        for (var i = j; i < t; i = i + 1u) {
            let w = (bh * t + i) * t + j;
            gk = gk + datt[w] * qkvh[head_major(0u, bh, i) + e];
            gv = gv + att[w] * rows_in[(bi * t + i) * d + head * p.hs + e];
        }
        rows_out[dk + e] = p.scale * gk;
        rows_out[dk + d + e] = gv;
    }
    unrotate(dk, j);
}
