// Rotary position embedding of q and k in place inside qkv (N rows of [q | k | v], each
// D = H × hs wide), paired with rope_forward/rope_backward of src/transformer/layers.rs:
// pair (2i, 2i+1) of each head at position t rotates by θ = t·10000^(−2i/hs). cos θ and
// sin θ come from a T × hs/2 table made on the host (the same f32 values the CPU
// reference uses; WGSL's sin/cos are imprecise for large arguments). `inverse` rotates
// back, which is the backward pass (rotations are orthogonal).

struct Params { n: u32, t_len: u32, d: u32, hs: u32, inverse: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<f32>; // cos[T·hs/2] then sin[T·hs/2]
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn rope_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // One invocation per rotated pair: N rows × 2 parts (q, k) × D/2 pairs.
    let j = gid.x + gid.y * groups.x * 256u;
    let half = p.hs / 2u;
    if (j >= p.n * p.d) { return; }
    let row = j / p.d;
    let r = j % p.d;
    let part = r / (p.d / 2u);
    let within = r % (p.d / 2u);
    let head = within / half;
    let i = within % half;
    let t = row % p.t_len;
    let c = table[t * half + i];
    var s = table[p.t_len * half + t * half + i];
    if (p.inverse != 0u) { s = -s; }
    let base = row * 3u * p.d + part * p.d + head * p.hs + 2u * i;
    let a = qkv[base];
    let b = qkv[base + 1u];
    qkv[base] = a * c - b * s;
    qkv[base + 1u] = a * s + b * c;
}
