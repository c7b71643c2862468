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

@compute @workgroup_size(8, 8, 1)
fn matmul_residual(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = product(wg, lid);
    for (var i = 0u; i < TPI; i = i + 1u) {
        for (var j = 0u; j < TPI; j = j + 1u) {
            let idx = out_index(wg, lid, i, j);
            if (idx < 0) { continue; }
            out[p.offset_out + u32(idx)] = p.alpha * acc[2u * i + j / 4u][j % 4u] + aux[p.offset_aux + u32(idx)];
        }
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul_gelu(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = product(wg, lid);
    for (var i = 0u; i < TPI; i = i + 1u) {
        for (var j = 0u; j < TPI; j = j + 1u) {
            let idx = out_index(wg, lid, i, j);
            if (idx < 0) { continue; }
            let o = p.offset_out + u32(idx);
            var result = p.alpha * acc[2u * i + j / 4u][j % 4u];
            if (p.beta != 0.0) { result = result + p.beta * out[o]; }
            out[o] = result;
            act[p.offset_aux + u32(idx)] = gelu(result);
        }
    }
}

@compute @workgroup_size(8, 8, 1)
fn matmul_gelu_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let acc = product(wg, lid);
    for (var i = 0u; i < TPI; i = i + 1u) {
        for (var j = 0u; j < TPI; j = j + 1u) {
            let idx = out_index(wg, lid, i, j);
            if (idx < 0) { continue; }
            let o = p.offset_out + u32(idx);
            var result = p.alpha * acc[2u * i + j / 4u][j % 4u];
            if (p.beta != 0.0) { result = result + p.beta * out[o]; }
            out[o] = result * gelu_grad(aux[p.offset_aux + u32(idx)]);
        }
    }
}
