// Gaussian noise that depends only on (seed, offset + i): out[i] = scale · z(seed, offset + i).
// Counter-based: Philox-4x32-10 (Salmon et al., 2011) maps the 64-bit counter and the 64-bit
// seed to four uniform words, and Box–Muller turns the first two into a standard normal.
// The same generator in Rust (gpu::reference::gaussian) is the test oracle, so a run can
// be reproduced on either side and split across dispatches without changing a value.

struct Params { n: u32, seed_lo: u32, seed_hi: u32, offset_lo: u32, offset_hi: u32, scale: f32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

// (hi, lo) words of the 64-bit product a·b, from 16-bit halves (WGSL has no mulhi).
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu; let a_hi = a >> 16u;
    let b_lo = b & 0xffffu; let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + (lo_hi & 0xffffu);
    let hi = hi_hi + (hi_lo >> 16u) + (lo_hi >> 16u) + (cross >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round = round + 1u) {
        let p0 = mul_hi_lo(0xD2511F53u, c.x);
        let p1 = mul_hi_lo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

// A uniform in (0, 1] from 24 random bits: never 0, so log() is finite.
fn unit(bits: u32) -> f32 {
    return f32((bits >> 8u) + 1u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(256)
fn gaussian(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if (i >= p.n) { return; }
    let lo = p.offset_lo + i;
    let carry = select(0u, 1u, lo < p.offset_lo);
    let r = philox(vec4<u32>(lo, p.offset_hi + carry, 0u, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
    let u1 = unit(r.x);
    let u2 = unit(r.y);
    let z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
    out[i] = p.scale * z;
}
