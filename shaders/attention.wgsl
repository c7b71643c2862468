// Causal multi-head self-attention, fused, paired with attention_forward/attention_backward
// of src/transformer/layers.rs. A row r = (b·H + h)·T + i is batch b, head h, position i,
// which sees positions 0..=i. Each invocation takes R consecutive rows of one (b, h) (R
// query rows; in backward_key, R key rows), so that every key, value, query or gradient
// element it reads serves all R of them: memory reads, not arithmetic, bound these loops
// (on a software adapter above all). In turn, the inner loops take 4 keys (a sum over the
// head's elements) or 4 elements (a sum over positions) at a time, so that each read of
// the rows' values serves 4 sums too (the backward kernels 1.8× faster on SwiftShader).
// The R rows' sums run in lanes of a vec4, each in its own order; a lane whose row does not
// see a position keeps its sum (select, not a multiply by 0), so each row's result is what
// a one-row loop gives. The inputs and outputs are row-major N × D
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

// Rows per invocation (kernels.rs: ATTENTION_ROWS).
const R: u32 = 4u;

// Which (b·H + h) and which first position the invocation takes, and how many rows (0 past
// the last block).
struct Block { bh: u32, i0: u32, rows: u32 }

fn block_of(gid: vec3<u32>, groups: vec3<u32>) -> Block {
    let per_head = (p.t_len + R - 1u) / R;
    let id = row_of(gid, groups);
    if (id >= p.b * p.h * per_head) { return Block(0u, 0u, 0u); }
    let i0 = (id % per_head) * R;
    return Block(id / per_head, i0, min(R, p.t_len - i0));
}

// Lane r's row of the block: past the block's last row, its last (read, never written).
fn lane(r: u32, rows: u32) -> u32 { return min(r, rows - 1u); }

// Which lanes' rows (positions i0 + r) see position j.
fn sees(i0: u32, j: u32) -> vec4<bool> {
    return vec4<bool>(j <= i0, j <= i0 + 1u, j <= i0 + 2u, j <= i0 + 3u);
}

// Which lanes' key rows (positions j0 + r) are seen by position i.
fn seen_by(j0: u32, i: u32) -> vec4<bool> {
    return vec4<bool>(i >= j0, i >= j0 + 1u, i >= j0 + 2u, i >= j0 + 3u);
}

// buffer[at + lane·stride] for the four lanes, each lane's row clamped to the block.
fn lanes_att(at: u32, stride: u32, rows: u32) -> vec4<f32> {
    return vec4<f32>(att[at], att[at + lane(1u, rows) * stride], att[at + lane(2u, rows) * stride], att[at + lane(3u, rows) * stride]);
}
fn lanes_datt(at: u32, stride: u32, rows: u32) -> vec4<f32> {
    return vec4<f32>(datt[at], datt[at + lane(1u, rows) * stride], datt[at + lane(2u, rows) * stride], datt[at + lane(3u, rows) * stride]);
}
fn lanes_qkvh(at: u32, stride: u32, rows: u32) -> vec4<f32> {
    return vec4<f32>(qkvh[at], qkvh[at + lane(1u, rows) * stride], qkvh[at + lane(2u, rows) * stride], qkvh[at + lane(3u, rows) * stride]);
}
fn lanes_in(at: u32, stride: u32, rows: u32) -> vec4<f32> {
    return vec4<f32>(rows_in[at], rows_in[at + lane(1u, rows) * stride], rows_in[at + lane(2u, rows) * stride], rows_in[at + lane(3u, rows) * stride]);
}

// Where key position j's k starts in the qkv rows of batch bi, head `head`.
fn key_of(bi: u32, head: u32, j: u32) -> u32 {
    let d = p.h * p.hs;
    return (bi * p.t_len + j) * 3u * d + d + head * p.hs;
}

// Stores the scores s of key j for the rows that see it (row i0 + r's weights at
// base + r·t) and returns their running maxima.
fn keep_scores(base: u32, i0: u32, rows: u32, j: u32, s: vec4<f32>, m: vec4<f32>) -> vec4<f32> {
    var mx = m;
    for (var r = 0u; r < rows; r = r + 1u) {
        if (j <= i0 + r) {
            att[base + r * p.t_len + j] = s[r];
            mx[r] = max(mx[r], s[r]);
        }
    }
    return mx;
}

// Stores dP of key j for the rows that see it and returns their running Σ att·dP.
fn keep_dp(base: u32, i0: u32, rows: u32, j: u32, dp: vec4<f32>, dot: vec4<f32>) -> vec4<f32> {
    var sum = dot;
    for (var r = 0u; r < rows; r = r + 1u) {
        if (j <= i0 + r) {
            datt[base + r * p.t_len + j] = dp[r];
            sum[r] = sum[r] + att[base + r * p.t_len + j] * dp[r];
        }
    }
    return sum;
}

// Writes elements e..e+3 (those below hs) of the rows' results, scaled: lane r of x_c is
// element e + c of row r, at at + r·stride.
fn write_rows(at: u32, stride: u32, e: u32, rows: u32, x0: vec4<f32>, x1: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>, scale: f32) {
    for (var r = 0u; r < rows; r = r + 1u) {
        let o = at + r * stride + e;
        rows_out[o] = scale * x0[r];
        if (e + 1u < p.hs) { rows_out[o + 1u] = scale * x1[r]; }
        if (e + 2u < p.hs) { rows_out[o + 2u] = scale * x2[r]; }
        if (e + 3u < p.hs) { rows_out[o + 3u] = scale * x3[r]; }
    }
}

@compute @workgroup_size(64)
fn attention_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let blk = block_of(gid, groups);
    if (blk.rows == 0u) { return; }
    let t = p.t_len;
    let bh = blk.bh;
    let i0 = blk.i0;
    let last = i0 + blk.rows - 1u;
    let head = bh % p.h;
    let bi = bh / p.h;
    let d = p.h * p.hs;
    // The rows' q, k, v, head-major, for the backward pass (and the rows' q for the scores
    // below: each invocation reads only its own rows' q and the qkv rows).
    for (var r = 0u; r < blk.rows; r = r + 1u) {
        let i = i0 + r;
        let src = (bi * t + i) * 3u * d + head * p.hs;
        for (var e = 0u; e < p.hs; e = e + 1u) {
            qkvh[head_major(0u, bh, i) + e] = rotated(src, e, i);
            qkvh[head_major(1u, bh, i) + e] = rotated(src + d, e, i);
            qkvh[head_major(2u, bh, i) + e] = rows_in[src + 2u * d + e];
        }
    }
    let q = head_major(0u, bh, i0);
    // Row i0 + r's weights at base + r·t.
    let base = (bh * t + i0) * t;
    // The scores of 4 keys at a time, so that each read of the rows' q serves 4 keys (a key
    // past the last row's reads that row's again, and is not kept).
    var m = vec4<f32>(-3.4e38);
    for (var j = 0u; j <= last; j = j + 4u) {
        let j1 = min(j + 1u, last);
        let j2 = min(j + 2u, last);
        let j3 = min(j + 3u, last);
        let k0 = key_of(bi, head, j);
        let k1 = key_of(bi, head, j1);
        let k2 = key_of(bi, head, j2);
        let k3 = key_of(bi, head, j3);
        var d0 = vec4<f32>(0.0);
        var d1 = vec4<f32>(0.0);
        var d2 = vec4<f32>(0.0);
        var d3 = vec4<f32>(0.0);
        for (var e = 0u; e < p.hs; e = e + 1u) {
            let qe = lanes_qkvh(q + e, p.hs, blk.rows);
            d0 = d0 + qe * rotated(k0, e, j);
            d1 = d1 + qe * rotated(k1, e, j1);
            d2 = d2 + qe * rotated(k2, e, j2);
            d3 = d3 + qe * rotated(k3, e, j3);
        }
        m = keep_scores(base, i0, blk.rows, j, p.scale * d0, m);
        if (j + 1u <= last) { m = keep_scores(base, i0, blk.rows, j + 1u, p.scale * d1, m); }
        if (j + 2u <= last) { m = keep_scores(base, i0, blk.rows, j + 2u, p.scale * d2, m); }
        if (j + 3u <= last) { m = keep_scores(base, i0, blk.rows, j + 3u, p.scale * d3, m); }
    }
    for (var r = 0u; r < blk.rows; r = r + 1u) {
        let i = i0 + r;
        let row = base + r * t;
        var sum = 0.0;
        for (var j = 0u; j <= i; j = j + 1u) {
            let x = exp(att[row + j] - m[r]);
            att[row + j] = x;
            sum = sum + x;
        }
        for (var j = 0u; j < t; j = j + 1u) {
            if (j <= i) { att[row + j] = att[row + j] / sum; } else { att[row + j] = 0.0; }
        }
    }
    // Row i0 + r's output at out + r·d, 4 elements at a time, so that each read of the
    // weights serves 4 (an element past hs reads the last one's, and is not written).
    let out = (bi * t + i0) * d + head * p.hs;
    for (var e = 0u; e < p.hs; e = e + 4u) {
        let e1 = min(e + 1u, p.hs - 1u);
        let e2 = min(e + 2u, p.hs - 1u);
        let e3 = min(e + 3u, p.hs - 1u);
        var y0 = vec4<f32>(0.0);
        var y1 = vec4<f32>(0.0);
        var y2 = vec4<f32>(0.0);
        var y3 = vec4<f32>(0.0);
        for (var j = 0u; j <= last; j = j + 1u) {
            let v = (bi * t + j) * 3u * d + 2u * d + head * p.hs;
            let w = lanes_att(base + j, t, blk.rows);
            let s = sees(i0, j);
            y0 = select(y0, y0 + w * rows_in[v + e], s);
            y1 = select(y1, y1 + w * rows_in[v + e1], s);
            y2 = select(y2, y2 + w * rows_in[v + e2], s);
            y3 = select(y3, y3 + w * rows_in[v + e3], s);
        }
        write_rows(out, d, e, blk.rows, y0, y1, y2, y3, 1.0);
    }
}

@compute @workgroup_size(64)
fn attention_backward_query(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let blk = block_of(gid, groups);
    if (blk.rows == 0u) { return; }
    let t = p.t_len;
    let bh = blk.bh;
    let i0 = blk.i0;
    let last = i0 + blk.rows - 1u;
    let head = bh % p.h;
    let bi = bh / p.h;
    let d = p.h * p.hs;
    // Row i0 + r's dy at dy + r·d, its weights at base + r·t.
    let dy = (bi * t + i0) * d + head * p.hs;
    let base = (bh * t + i0) * t;
    // dP of 4 keys at a time (each read of the rows' dy serves 4), kept in key order.
    var dot = vec4<f32>(0.0);
    for (var j = 0u; j <= last; j = j + 4u) {
        let v0 = head_major(2u, bh, j);
        let v1 = head_major(2u, bh, min(j + 1u, last));
        let v2 = head_major(2u, bh, min(j + 2u, last));
        let v3 = head_major(2u, bh, min(j + 3u, last));
        var p0 = vec4<f32>(0.0);
        var p1 = vec4<f32>(0.0);
        var p2 = vec4<f32>(0.0);
        var p3 = vec4<f32>(0.0);
        for (var e = 0u; e < p.hs; e = e + 1u) {
            let g = lanes_in(dy + e, d, blk.rows);
            p0 = p0 + g * qkvh[v0 + e];
            p1 = p1 + g * qkvh[v1 + e];
            p2 = p2 + g * qkvh[v2 + e];
            p3 = p3 + g * qkvh[v3 + e];
        }
        dot = keep_dp(base, i0, blk.rows, j, p0, dot);
        if (j + 1u <= last) { dot = keep_dp(base, i0, blk.rows, j + 1u, p1, dot); }
        if (j + 2u <= last) { dot = keep_dp(base, i0, blk.rows, j + 2u, p2, dot); }
        if (j + 3u <= last) { dot = keep_dp(base, i0, blk.rows, j + 3u, p3, dot); }
    }
    for (var r = 0u; r < blk.rows; r = r + 1u) {
        let row = base + r * t;
        for (var j = 0u; j < t; j = j + 1u) {
            if (j <= i0 + r) { datt[row + j] = att[row + j] * (datt[row + j] - dot[r]); } else { datt[row + j] = 0.0; }
        }
    }
    // Row i0 + r's dq at dq + r·3D, 4 elements at a time (each read of dS serves 4).
    let dq = (bi * t + i0) * 3u * d + head * p.hs;
    for (var e = 0u; e < p.hs; e = e + 4u) {
        let e1 = min(e + 1u, p.hs - 1u);
        let e2 = min(e + 2u, p.hs - 1u);
        let e3 = min(e + 3u, p.hs - 1u);
        var a0 = vec4<f32>(0.0);
        var a1 = vec4<f32>(0.0);
        var a2 = vec4<f32>(0.0);
        var a3 = vec4<f32>(0.0);
        for (var j = 0u; j <= last; j = j + 1u) {
            let k = head_major(1u, bh, j);
            let w = lanes_datt(base + j, t, blk.rows);
            let s = sees(i0, j);
            a0 = select(a0, a0 + w * qkvh[k + e], s);
            a1 = select(a1, a1 + w * qkvh[k + e1], s);
            a2 = select(a2, a2 + w * qkvh[k + e2], s);
            a3 = select(a3, a3 + w * qkvh[k + e3], s);
        }
        write_rows(dq, 3u * d, e, blk.rows, a0, a1, a2, a3, p.scale);
    }
    for (var r = 0u; r < blk.rows; r = r + 1u) { unrotate(dq + r * 3u * d, i0 + r); }
}

@compute @workgroup_size(64)
fn attention_backward_key(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let blk = block_of(gid, groups);
    if (blk.rows == 0u) { return; }
    let t = p.t_len;
    let bh = blk.bh;
    // The R rows are key positions j0 + r here.
    let j0 = blk.i0;
    let head = bh % p.h;
    let bi = bh / p.h;
    let d = p.h * p.hs;
    // Key row j0 + r's dk at dk + r·3D (its dv D further on).
    let dk = (bi * t + j0) * 3u * d + d + head * p.hs;
    // 4 elements at a time: each read of a query row's weights serves 4.
    for (var e = 0u; e < p.hs; e = e + 4u) {
        let e1 = min(e + 1u, p.hs - 1u);
        let e2 = min(e + 2u, p.hs - 1u);
        let e3 = min(e + 3u, p.hs - 1u);
        var k0 = vec4<f32>(0.0);
        var k1 = vec4<f32>(0.0);
        var k2 = vec4<f32>(0.0);
        var k3 = vec4<f32>(0.0);
        var v0 = vec4<f32>(0.0);
        var v1 = vec4<f32>(0.0);
        var v2 = vec4<f32>(0.0);
        var v3 = vec4<f32>(0.0);
        for (var i = j0; i < t; i = i + 1u) {
            // Query row i's weights of keys j0 + r, at w + r.
            let w = (bh * t + i) * t + j0;
            let seen = seen_by(j0, i);
            let ds = lanes_datt(w, 1u, blk.rows);
            let a = lanes_att(w, 1u, blk.rows);
            let q = head_major(0u, bh, i);
            let g = (bi * t + i) * d + head * p.hs;
            k0 = select(k0, k0 + ds * qkvh[q + e], seen);
            k1 = select(k1, k1 + ds * qkvh[q + e1], seen);
            k2 = select(k2, k2 + ds * qkvh[q + e2], seen);
            k3 = select(k3, k3 + ds * qkvh[q + e3], seen);
            v0 = select(v0, v0 + a * rows_in[g + e], seen);
            v1 = select(v1, v1 + a * rows_in[g + e1], seen);
            v2 = select(v2, v2 + a * rows_in[g + e2], seen);
            v3 = select(v3, v3 + a * rows_in[g + e3], seen);
        }
        write_rows(dk, 3u * d, e, blk.rows, k0, k1, k2, k3, p.scale);
        write_rows(dk + d, 3u * d, e, blk.rows, v0, v1, v2, v3, 1.0);
    }
    for (var r = 0u; r < blk.rows; r = r + 1u) { unrotate(dk + r * 3u * d, j0 + r); }
}
