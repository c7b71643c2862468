// `product` of shaders/matmul.wgsl for hardware adapters: the workgroup's 64 invocations
// share the inner dimension 16 at a time through two 16 × 64 tiles in workgroup memory
// (8 KiB and 64 invocations: within WebGPU's guaranteed 16 KiB and 256, so every adapter
// takes the same size); out-of-range tile elements are loaded as zero. 8 × 8 outputs per
// invocation rather than 4 × 4 halves the workgroup-memory reads per multiply-add, the
// usual size on hardware. The accumulators are indexed only by constants inside the loop
// (a private array indexed by a loop variable may live in memory rather than registers).

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

