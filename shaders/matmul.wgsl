// Tiled matrix multiplication, batched over a leading dimension:
//   out[b] = alpha * op(A[b]) · op(B[b]) + beta * out[b]
// op(X) is X or Xᵀ (trans_a / trans_b); every matrix is a row-major f32 array, batch b at
// offset b * stride. Shapes need not be multiples of the tile: out-of-range tile elements
// are loaded as zero and out-of-range outputs are not written.
// beta = 1 with alpha = -lr turns a product into an in-place gradient step (W -= lr·G·Xᵀ).
// Each matrix starts at an element offset of its buffer, so a model's weights and
// gradients are used in place inside one flat buffer. Only the slice [k_begin, k_end) of
// the inner dimension is summed: the host splits long sums into several dispatches (with
// beta = 1 after the first) to stay inside per-invocation loop limits of software drivers.

struct Params {
    m: u32, k: u32, n: u32, batch: u32,
    trans_a: u32, trans_b: u32,
    stride_a: u32, stride_b: u32, stride_out: u32,
    alpha: f32, beta: f32,
    offset_a: u32, offset_b: u32, offset_out: u32,
    k_begin: u32, k_end: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const TILE: u32 = 16u;
var<workgroup> tile_a: array<array<f32, 16>, 16>;
var<workgroup> tile_b: array<array<f32, 16>, 16>;

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

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.y * TILE + lid.y;
    let col = wg.x * TILE + lid.x;
    let bi = wg.z;
    var acc = 0.0;
    for (var k0 = p.k_begin; k0 < p.k_end; k0 = k0 + TILE) {
        tile_a[lid.y][lid.x] = load_a(bi, row, k0 + lid.x);
        tile_b[lid.y][lid.x] = load_b(bi, k0 + lid.y, col);
        workgroupBarrier();
        for (var i = 0u; i < TILE; i = i + 1u) {
            acc = acc + tile_a[lid.y][i] * tile_b[i][lid.x];
        }
        workgroupBarrier();
    }
    if (row < p.m && col < p.n) {
        let o = p.offset_out + bi * p.stride_out + row * p.n + col;
        var result = p.alpha * acc;
        if (p.beta != 0.0) { result = result + p.beta * out[o]; }
        out[o] = result;
    }
}
