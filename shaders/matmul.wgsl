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

// Row i of this invocation's block (batch wg.z): where it starts in the output (`at`,
// from p.offset_out) and in an epilogue's operand (`aux`, from p.offset_aux), and how many
// of its TPI columns are in range (`cols`: 0 past the last row or column).
struct OutRow { at: u32, aux: u32, cols: u32 }

fn out_row(wg: vec3<u32>, lid: vec3<u32>, i: u32) -> OutRow {
    let row = wg.y * BLOCK + lid.y * TPI + i;
    let col = wg.x * BLOCK + lid.x * TPI;
    if (row >= p.m || col >= p.n) { return OutRow(0u, 0u, 0u); }
    let idx = wg.z * p.stride_out + row * p.n + col;
    return OutRow(p.offset_out + idx, p.offset_aux + idx, min(TPI, p.n - col));
}

// Column j of a block row held as lo (columns 0..3) and hi (4..7). The entry points pass
// each row's two accumulators by constant index and store it in a loop over j: indexing
// the accumulator array by loop variables would put it in memory on SwiftShader (natively
// there, the 0.1M model's plain products took about 90 ms of a step before, 75 after).
fn column(lo: vec4<f32>, hi: vec4<f32>, j: u32) -> f32 {
    return select(hi[j % 4u], lo[j % 4u], j < 4u);
}

fn store_row(r: OutRow, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < r.cols; j = j + 1u) {
        var result = p.alpha * column(lo, hi, j);
        if (p.beta != 0.0) { result = result + p.beta * out[r.at + j]; }
        out[r.at + j] = result;
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = product(wg, lid);
    store_row(out_row(wg, lid, 0u), acc[0], acc[1]);
    store_row(out_row(wg, lid, 1u), acc[2], acc[3]);
    store_row(out_row(wg, lid, 2u), acc[4], acc[5]);
    store_row(out_row(wg, lid, 3u), acc[6], acc[7]);
    store_row(out_row(wg, lid, 4u), acc[8], acc[9]);
    store_row(out_row(wg, lid, 5u), acc[10], acc[11]);
    store_row(out_row(wg, lid, 6u), acc[12], acc[13]);
    store_row(out_row(wg, lid, 7u), acc[14], acc[15]);
}

// Split-K's second half (src/gpu/kernels.rs, `split_k_slices`): the p.batch partial
// products of a product cut along its inner sum lie one after another in `a` (each m × n);
// out = alpha · (their sum, added in slice order) + beta · out. The grid is 2-D past
// 65535 workgroups: i = x + y · (groups_x · 256).
@compute @workgroup_size(256)
fn sum_slices(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    let len = p.m * p.n;
    if (i >= len) { return; }
    var sum = a[i];
    for (var s = 1u; s < p.batch; s = s + 1u) {
        sum = sum + a[s * len + i];
    }
    var result = p.alpha * sum;
    if (p.beta != 0.0) { result = result + p.beta * out[p.offset_out + i]; }
    out[p.offset_out + i] = result;
}
