// Per-row reductions of a row-major rows×cols f32 matrix (a whole tensor is one row):
//   sum_rows: out[r] = Σ_c x[r, c]      sumsq_rows: out[r] = Σ_c x[r, c]²
// One workgroup of 256 per row: each invocation strides over the columns, then
// workgroup_sum (shaders/workgroup_sum.wgsl). Rows beyond 65535 use the grid's y dimension.

struct Params { rows: u32, cols: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn reduce_row(row: u32, lid: u32, square: bool) {
    var acc = 0.0;
    if (row < p.rows) {
        for (var c = lid; c < p.cols; c = c + 256u) {
            let v = x[row * p.cols + c];
            if (square) { acc = acc + v * v; } else { acc = acc + v; }
        }
    }
    let sum = workgroup_sum(lid, acc);
    if (lid == 0u && row < p.rows) { out[row] = sum; }
}

@compute @workgroup_size(256)
fn sum_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    reduce_row(wg.x + wg.y * groups.x, lid, false);
}

@compute @workgroup_size(256)
fn sumsq_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    reduce_row(wg.x + wg.y * groups.x, lid, true);
}
