// Matrix products with the transformer's next step fused into their output (appended by
// the host to shaders/matmul.wgsl and shaders/gelu.wgsl), so that the step costs no
// dispatch and no pass over memory of its own:
//   matmul_residual:       out = alpha·op(A)·op(B) + aux  (a residual stream: x + f(x)·W;
//                          the first dispatch of a split sum)
//   matmul_gelu:           out = alpha·op(A)·op(B) (+ beta·out), act = gelu(out)
//                          (the MLP's first layer and its activation; the last dispatch)
//   matmul_gelu_backward:  out = (alpha·op(A)·op(B) (+ beta·out)) · gelu'(aux)
//                          (the activation's gradient from the next layer's; the last
//                          dispatch)
// aux and act are indexed like out, from p.offset_aux.

@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> act: array<f32>;

// Each entry point stores its block row by row, as `matmul` does (shaders/matmul.wgsl).

fn residual_row(r: OutRow, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < r.cols; j = j + 1u) {
        out[r.at + j] = p.alpha * column(lo, hi, j) + aux[r.aux + j];
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul_residual(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = product(wg, lid);
    residual_row(out_row(wg, lid, 0u), acc[0], acc[1]);
    residual_row(out_row(wg, lid, 1u), acc[2], acc[3]);
    residual_row(out_row(wg, lid, 2u), acc[4], acc[5]);
    residual_row(out_row(wg, lid, 3u), acc[6], acc[7]);
    residual_row(out_row(wg, lid, 4u), acc[8], acc[9]);
    residual_row(out_row(wg, lid, 5u), acc[10], acc[11]);
    residual_row(out_row(wg, lid, 6u), acc[12], acc[13]);
    residual_row(out_row(wg, lid, 7u), acc[14], acc[15]);
}

fn gelu_row(r: OutRow, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < r.cols; j = j + 1u) {
        var result = p.alpha * column(lo, hi, j);
        if (p.beta != 0.0) { result = result + p.beta * out[r.at + j]; }
        out[r.at + j] = result;
        act[r.aux + j] = gelu(result);
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul_gelu(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = product(wg, lid);
    gelu_row(out_row(wg, lid, 0u), acc[0], acc[1]);
    gelu_row(out_row(wg, lid, 1u), acc[2], acc[3]);
    gelu_row(out_row(wg, lid, 2u), acc[4], acc[5]);
    gelu_row(out_row(wg, lid, 3u), acc[6], acc[7]);
    gelu_row(out_row(wg, lid, 4u), acc[8], acc[9]);
    gelu_row(out_row(wg, lid, 5u), acc[10], acc[11]);
    gelu_row(out_row(wg, lid, 6u), acc[12], acc[13]);
    gelu_row(out_row(wg, lid, 7u), acc[14], acc[15]);
}

fn gelu_backward_row(r: OutRow, lo: vec4<f32>, hi: vec4<f32>) {
    for (var j = 0u; j < r.cols; j = j + 1u) {
        var result = p.alpha * column(lo, hi, j);
        if (p.beta != 0.0) { result = result + p.beta * out[r.at + j]; }
        out[r.at + j] = result * gelu_grad(aux[r.aux + j]);
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul_gelu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = product(wg, lid);
    gelu_backward_row(out_row(wg, lid, 0u), acc[0], acc[1]);
    gelu_backward_row(out_row(wg, lid, 1u), acc[2], acc[3]);
    gelu_backward_row(out_row(wg, lid, 2u), acc[4], acc[5]);
    gelu_backward_row(out_row(wg, lid, 3u), acc[6], acc[7]);
    gelu_backward_row(out_row(wg, lid, 4u), acc[8], acc[9]);
    gelu_backward_row(out_row(wg, lid, 5u), acc[10], acc[11]);
    gelu_backward_row(out_row(wg, lid, 6u), acc[12], acc[13]);
    gelu_backward_row(out_row(wg, lid, 7u), acc[14], acc[15]);
}
