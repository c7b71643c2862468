// Register-tiled matrix multiplication, batched over a leading dimension:
//   out[b] = alpha * op(A[b]) · op(B[b]) + beta * out[b]
// op(X) is X or Xᵀ (trans_a / trans_b); every matrix is a row-major f32 array, batch b at
// offset b * stride. Shapes need not be multiples of the tile: out-of-range tile elements
// are loaded as zero and out-of-range outputs are not written.
// beta = 1 with alpha = -lr turns a product into an in-place gradient step (W -= lr·G·Xᵀ).
// Each matrix starts at an element offset of its buffer, so a model's weights and
// gradients are used in place inside one flat buffer. Only the slice [k_begin, k_end) of
// the inner dimension is summed: the host splits long sums into several dispatches (with
// beta = 1 after the first) to stay inside per-invocation loop limits of software drivers.
//
// A workgroup of 8 × 8 invocations computes a 64 × 64 block of the output, each
// invocation an 8 × 8 block held in registers; the inner dimension goes 16 at a time
// through two 16 × 64 tiles in workgroup memory (8 KiB and 64 invocations: within
// WebGPU's guaranteed 16 KiB and 256, so every adapter takes the same size). Each output's
// sum runs over k in increasing order. 8 × 8 rather than 4 × 4 per invocation halves the
// workgroup-memory reads per multiply-add, which is what bounds software adapters
// (SwiftShader reads each lane's value separately: 2.1× faster there), and is the usual
// size on hardware too. The accumulators are indexed only by constants inside the loop:
// a private array indexed by a loop variable lives in memory on SwiftShader, not in
// registers. `product` is shared with the epilogue entry points of
// shaders/matmul_epilogue.wgsl, which the transformer appends to this file.

struct Params {
    m: u32, k: u32, n: u32, batch: u32,
    trans_a: u32, trans_b: u32,
    stride_a: u32, stride_b: u32, stride_out: u32,
    alpha: f32, beta: f32,
    offset_a: u32, offset_b: u32, offset_out: u32,
    k_begin: u32, k_end: u32,
    // An epilogue's extra operand (a residual, a pre-activation, an activation's output).
    offset_aux: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const BLOCK: u32 = 64u; // outputs per workgroup side
const TPI: u32 = 8u; // outputs per invocation side
const TK: u32 = 16u; // inner-dimension step
var<workgroup> tile_a: array<array<f32, 64>, 16>; // [k][row]
var<workgroup> tile_b: array<array<f32, 64>, 16>; // [k][col]

// Element (row, col) of op(A) (m×k) in batch `bi`, zero outside.
fn load_a(bi: u32, row: u32, col: u32) -> f32 {
    if (row >= p.m || col >= p.k_end) { return 0.0; }
    var idx: u32;
    if (p.trans_a != 0u) { idx = col * p.m + row; } else { idx = row * p.k + col; }
    return a[p.offset_a + bi * p.stride_a + idx];
}

// Element (row, col) of op(B) (k×n) in batch `bi`, zero outside.
fn load_b(bi: u32, row: u32, col: u32) -> f32 {
    if (row >= p.k_end || col >= p.n) { return 0.0; }
    var idx: u32;
    if (p.trans_b != 0u) { idx = col * p.k + row; } else { idx = row * p.n + col; }
    return b[p.offset_b + bi * p.stride_b + idx];
}

// This invocation's 8 × 8 block: row i, column j in acc[2i + j/4][j%4].
fn product(wg: vec3<u32>, lid: vec3<u32>) -> array<vec4<f32>, 16> {
    let bi = wg.z;
    let row0 = wg.y * BLOCK;
    let col0 = wg.x * BLOCK;
    let t = lid.y * 8u + lid.x;
    var acc: array<vec4<f32>, 16>;
    for (var k0 = p.k_begin; k0 < p.k_end; k0 = k0 + TK) {
        // 16 × 64 values of each tile, 16 per invocation; neighbouring invocations read
        // neighbouring addresses when A and B are not transposed.
        for (var q = 0u; q < 16u; q = q + 1u) {
            let e = t + q * 64u;
            tile_a[e % TK][e / TK] = load_a(bi, row0 + e / TK, k0 + e % TK);
            tile_b[e / BLOCK][e % BLOCK] = load_b(bi, k0 + e / BLOCK, col0 + e % BLOCK);
        }
        workgroupBarrier();
        let c = lid.x * 8u;
        let r = lid.y * 8u;
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            let b0 = vec4<f32>(tile_b[kk][c], tile_b[kk][c + 1u], tile_b[kk][c + 2u], tile_b[kk][c + 3u]);
            let b1 = vec4<f32>(tile_b[kk][c + 4u], tile_b[kk][c + 5u], tile_b[kk][c + 6u], tile_b[kk][c + 7u]);
            let a0 = tile_a[kk][r + 0u];
            acc[0] = acc[0] + a0 * b0;
            acc[1] = acc[1] + a0 * b1;
            let a1 = tile_a[kk][r + 1u];
            acc[2] = acc[2] + a1 * b0;
            acc[3] = acc[3] + a1 * b1;
            let a2 = tile_a[kk][r + 2u];
            acc[4] = acc[4] + a2 * b0;
            acc[5] = acc[5] + a2 * b1;
            let a3 = tile_a[kk][r + 3u];
            acc[6] = acc[6] + a3 * b0;
            acc[7] = acc[7] + a3 * b1;
            let a4 = tile_a[kk][r + 4u];
            acc[8] = acc[8] + a4 * b0;
            acc[9] = acc[9] + a4 * b1;
            let a5 = tile_a[kk][r + 5u];
            acc[10] = acc[10] + a5 * b0;
            acc[11] = acc[11] + a5 * b1;
            let a6 = tile_a[kk][r + 6u];
            acc[12] = acc[12] + a6 * b0;
            acc[13] = acc[13] + a6 * b1;
            let a7 = tile_a[kk][r + 7u];
            acc[14] = acc[14] + a7 * b0;
            acc[15] = acc[15] + a7 * b1;
        }
        workgroupBarrier();
    }
    return acc;
}

// Element (i, j) of this invocation's block (batch wg.z): its index in the output, or -1
// when out of range.
fn out_index(wg: vec3<u32>, lid: vec3<u32>, i: u32, j: u32) -> i32 {
    let row = wg.y * BLOCK + lid.y * TPI + i;
    let col = wg.x * BLOCK + lid.x * TPI + j;
    if (row >= p.m || col >= p.n) { return -1; }
    return i32(wg.z * p.stride_out + row * p.n + col);
}

@compute @workgroup_size(8, 8, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = product(wg, lid);
    for (var i = 0u; i < TPI; i = i + 1u) {
        for (var j = 0u; j < TPI; j = j + 1u) {
            let idx = out_index(wg, lid, i, j);
            if (idx < 0) { continue; }
            let o = p.offset_out + u32(idx);
            var result = p.alpha * acc[2u * i + j / 4u][j % 4u];
            if (p.beta != 0.0) { result = result + p.beta * out[o]; }
            out[o] = result;
        }
    }
}
