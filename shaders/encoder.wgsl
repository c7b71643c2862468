// Token (and learned position) embedding, paired with encoder_forward/encoder_backward of
// src/transformer/layers.rs. N = B·T rows of D; tokens are u32 words inside a batch
// buffer at `off_tokens`; wte (V×D) and wpe (T×D) live in the flat parameter buffer.
//   encoder_forward:      out[n, c] = wte[tok[n], c] (+ wpe[n mod T, c])
//   encoder_backward_wte: dwte[v, c] += Σ_{n: tok[n] = v} dout[n, c]
//   encoder_backward_wpe: dwpe[t, c] += Σ_b dout[b·T + t, c]
// The wte gradient is a deterministic gather, no atomics: the host sorts the batch's
// positions by token (`order`, bucket v at order[starts[v] .. starts[v + 1]]) and each
// invocation sums one (v, c) over its bucket, restricted to the sorted positions
// [n_begin, n_end) of this dispatch (long batches are split to bound the loop).

struct Params {
    n: u32, t_len: u32, d: u32, learned: u32,
    off_wte: u32, off_wpe: u32, off_tokens: u32, off_order: u32,
    off_starts: u32, n_begin: u32, n_end: u32, b: u32,
}

@group(0) @binding(0) var<storage, read> batch: array<u32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read_write> grads: array<f32>;

fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * 256u;
}

@compute @workgroup_size(256)
fn encoder_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.n * p.d) { return; }
    let row = i / p.d;
    let c = i % p.d;
    let tok = batch[p.off_tokens + row];
    var x = params[p.off_wte + tok * p.d + c];
    if (p.learned != 0u) { x = x + params[p.off_wpe + (row % p.t_len) * p.d + c]; }
    out[i] = x;
}

@compute @workgroup_size(256)
fn encoder_backward_wte(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= 256u * p.d) { return; }
    let v = i / p.d;
    let c = i % p.d;
    let first = max(batch[p.off_starts + v], p.n_begin);
    let last = min(batch[p.off_starts + v + 1u], p.n_end);
    var acc = 0.0;
    for (var s = first; s < last; s = s + 1u) {
        acc = acc + dout[batch[p.off_order + s] * p.d + c];
    }
    if (last > first) { grads[p.off_wte + i] = grads[p.off_wte + i] + acc; }
}

@compute @workgroup_size(256)
fn encoder_backward_wpe(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = index(gid, groups);
    if (i >= p.t_len * p.d) { return; }
    var acc = 0.0;
    for (var bi = 0u; bi < p.b; bi = bi + 1u) {
        acc = acc + dout[bi * p.t_len * p.d + i];
    }
    grads[p.off_wpe + i] = grads[p.off_wpe + i] + acc;
}
