// Tiled matrix multiplication, batched over a leading dimension:
//   out[b] = alpha * op(A[b]) · op(B[b]) + beta * out[b]
// op(X) is X or Xᵀ (trans_a / trans_b); every matrix is a row-major f32 array, batch b at
// offset b * stride. Shapes need not be multiples of the tile: out-of-range tile elements
// are loaded as zero and out-of-range outputs are not written.
// beta = 1 with alpha = -lr turns a product into an in-place gradient step (W -= lr·G·Xᵀ).

struct Params {
    m: u32, k: u32, n: u32, batch: u32,
    trans_a: u32, trans_b: u32,
    stride_a: u32, stride_b: u32, stride_out: u32,
    alpha: f32, beta: f32,
    _pad: u32,
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
    if (row >= p.m || col >= p.k) { return 0.0; }
    var idx: u32;
    if (p.trans_a != 0u) { idx = col * p.m + row; } else { idx = row * p.k + col; }
    return a[bi * p.stride_a + idx];
}

// Element (row, col) of op(B) (k×n) in batch `bi`, zero outside.
fn load_b(bi: u32, row: u32, col: u32) -> f32 {
    if (row >= p.k || col >= p.n) { return 0.0; }
    var idx: u32;
    if (p.trans_b != 0u) { idx = col * p.k + row; } else { idx = row * p.n + col; }
    return b[bi * p.stride_b + idx];
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row = wg.y * TILE + lid.y;
    let col = wg.x * TILE + lid.x;
    let bi = wg.z;
    var acc = 0.0;
    let tiles = (p.k + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t = t + 1u) {
        tile_a[lid.y][lid.x] = load_a(bi, row, t * TILE + lid.x);
        tile_b[lid.y][lid.x] = load_b(bi, t * TILE + lid.y, col);
        workgroupBarrier();
        for (var i = 0u; i < TILE; i = i + 1u) {
            acc = acc + tile_a[lid.y][i] * tile_b[i][lid.x];
        }
        workgroupBarrier();
    }
    if (row < p.m && col < p.n) {
        let o = bi * p.stride_out + row * p.n + col;
        var result = p.alpha * acc;
        if (p.beta != 0.0) { result = result + p.beta * out[o]; }
        out[o] = result;
    }
}
