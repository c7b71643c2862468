// Register-blocked matrix multiplication, batched over a leading dimension:
//   out[b] = alpha * op(A[b]) · op(B[b]) + beta * out[b]
// op(X) is X or Xᵀ (trans_a / trans_b); every matrix is a row-major f32 array, batch b at
// offset b * stride. Shapes need not be multiples of the block: out-of-range outputs are
// not written.
// beta = 1 with alpha = -lr turns a product into an in-place gradient step (W -= lr·G·Xᵀ).
// Each matrix starts at an element offset of its buffer, so a model's weights and
// gradients are used in place inside one flat buffer. Only the slice [k_begin, k_end) of
// the inner dimension is summed: the host splits long sums into several dispatches (with
// beta = 1 after the first) to stay inside per-invocation loop limits of software drivers.
//
// A workgroup of 8 × 8 invocations computes a 64 × 64 block of the output, each
// invocation an 8 × 8 block held in registers, each output's sum over k in increasing
// order. How an invocation reads its operands, `product`, is one of two files the device
// puts in front of this one (src/gpu/mod.rs, `Products`): shaders/matmul_tiles.wgsl on
// hardware (the workgroup shares 16 × 64 tiles of A and B in workgroup memory),
// shaders/matmul_direct.wgsl on a software adapter (each invocation reads its rows of A
// and columns of B from storage: no workgroup memory and no barriers, which a CPU pays
// for and does not need). `product` is shared with the epilogue entry points of
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
