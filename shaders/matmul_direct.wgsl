// `product` of shaders/matmul.wgsl for software adapters (SwiftShader, lavapipe): each
// invocation reads its 8 rows of op(A) and 8 columns of op(B) straight from storage, one
// k at a time — no workgroup memory and no barriers. On a CPU, workgroup memory is just
// memory, and a barrier makes the driver stop and resume every invocation of the
// workgroup; the tiled version spends most of its time on those (the 0.1M model's step
// on SwiftShader: 332 → 223 ms with this file; README, "The WebGPU backend"). The CPU's
// caches do what the tiles do on hardware: the 8 invocations that share rows of A read
// the same lines.
//
// A row (column) past the edge is read as the last one instead (its outputs are never
// written), so the loop has no bounds checks; k stays inside [k_begin, k_end). Each
// output's sum runs over k in increasing order, as the tiled version's. The accumulators
// and operand positions are named or indexed only by constants inside the loop: a private
// array indexed by a loop variable lives in memory on SwiftShader, not in registers.

// Where row `row` (clamped) of op(A) in batch `bi` starts at k = 0; its k-th element is
// `a_step()` further per k.
fn a_row(bi: u32, row: u32) -> u32 {
    let r = min(row, p.m - 1u);
    let at = select(r * p.k, r, p.trans_a != 0u);
    return p.offset_a + bi * p.stride_a + at;
}
fn a_step() -> u32 { return select(1u, p.m, p.trans_a != 0u); }

// Where column `col` (clamped) of op(B) in batch `bi` starts at k = 0; `b_step()` per k.
fn b_col(bi: u32, col: u32) -> u32 {
    let c = min(col, p.n - 1u);
    let at = select(c, c * p.k, p.trans_b != 0u);
    return p.offset_b + bi * p.stride_b + at;
}
fn b_step() -> u32 { return select(p.n, 1u, p.trans_b != 0u); }

// This invocation's 8 × 8 block: row i, column j in acc[2i + j/4][j%4].
fn product(wg: vec3<u32>, lid: vec3<u32>) -> array<vec4<f32>, 16> {
    let bi = wg.z;
    let row0 = wg.y * BLOCK + lid.y * TPI;
    let col0 = wg.x * BLOCK + lid.x * TPI;
    let r0 = a_row(bi, row0);
    let r1 = a_row(bi, row0 + 1u);
    let r2 = a_row(bi, row0 + 2u);
    let r3 = a_row(bi, row0 + 3u);
    let r4 = a_row(bi, row0 + 4u);
    let r5 = a_row(bi, row0 + 5u);
    let r6 = a_row(bi, row0 + 6u);
    let r7 = a_row(bi, row0 + 7u);
    let c0 = b_col(bi, col0);
    let c1 = b_col(bi, col0 + 1u);
    let c2 = b_col(bi, col0 + 2u);
    let c3 = b_col(bi, col0 + 3u);
    let c4 = b_col(bi, col0 + 4u);
    let c5 = b_col(bi, col0 + 5u);
    let c6 = b_col(bi, col0 + 6u);
    let c7 = b_col(bi, col0 + 7u);
    let sa = a_step();
    let sb = b_step();
    var acc: array<vec4<f32>, 16>;
    for (var k = p.k_begin; k < p.k_end; k = k + 1u) {
        let ka = k * sa;
        let kb = k * sb;
        let b0 = vec4<f32>(b[c0 + kb], b[c1 + kb], b[c2 + kb], b[c3 + kb]);
        let b1 = vec4<f32>(b[c4 + kb], b[c5 + kb], b[c6 + kb], b[c7 + kb]);
        let a0 = a[r0 + ka];
        acc[0] = acc[0] + a0 * b0;
        acc[1] = acc[1] + a0 * b1;
        let a1 = a[r1 + ka];
        acc[2] = acc[2] + a1 * b0;
        acc[3] = acc[3] + a1 * b1;
        let a2 = a[r2 + ka];
        acc[4] = acc[4] + a2 * b0;
        acc[5] = acc[5] + a2 * b1;
        let a3 = a[r3 + ka];
        acc[6] = acc[6] + a3 * b0;
        acc[7] = acc[7] + a3 * b1;
        let a4 = a[r4 + ka];
        acc[8] = acc[8] + a4 * b0;
        acc[9] = acc[9] + a4 * b1;
        let a5 = a[r5 + ka];
        acc[10] = acc[10] + a5 * b0;
        acc[11] = acc[11] + a5 * b1;
        let a6 = a[r6 + ka];
        acc[12] = acc[12] + a6 * b0;
        acc[13] = acc[13] + a6 * b1;
        let a7 = a[r7 + ka];
        acc[14] = acc[14] + a7 * b0;
        acc[15] = acc[15] + a7 * b1;
    }
    return acc;
}
