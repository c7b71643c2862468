// The sum over a workgroup of 256 invocations, for the kernels that reduce (the gradient
// norm, the mean loss, the linear lab's perturbed losses, row sums). The host prepends
// this file, or shaders/workgroup_sum_subgroups.wgsl when the adapter has subgroups, to
// each of their shaders (gpu::Shader::sums), so one definition serves them all.
// This path: a tree in workgroup memory, 9 barriers. Called in uniform control flow by
// every invocation; each gets the sum.

var<workgroup> sum_scratch: array<f32, 256>;

fn workgroup_sum(lid: u32, x: f32) -> f32 {
    sum_scratch[lid] = x;
    workgroupBarrier();
    for (var width = 128u; width > 0u; width = width / 2u) {
        if (lid < width) { sum_scratch[lid] = sum_scratch[lid] + sum_scratch[lid + width]; }
        workgroupBarrier();
    }
    return sum_scratch[0];
}
