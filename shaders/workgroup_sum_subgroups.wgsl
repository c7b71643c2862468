// The sum over a workgroup of 256 invocations (see shaders/workgroup_sum.wgsl, the path
// without subgroups and the reference of the tests), when the adapter has subgroups: each
// subgroup adds its values in one operation and its first invocation leaves the sum at its
// own index (zeros elsewhere); then one invocation adds the 256 slots in index order. Two
// barriers instead of nine (software adapters run barriers slowly), and the same result
// on every run on one device, whatever its subgroup size. A browser needs the directive
// `enable subgroups;` first, which Naga (natively) does not take: the host adds it in wasm.

var<workgroup> sum_scratch: array<f32, 256>;
var<workgroup> sum_total: f32;

fn workgroup_sum(lid: u32, x: f32) -> f32 {
    let s = subgroupAdd(x);
    sum_scratch[lid] = select(0.0, s, subgroupBroadcastFirst(lid) == lid);
    workgroupBarrier();
    if (lid == 0u) {
        var t = 0.0;
        for (var i = 0u; i < 256u; i = i + 1u) { t = t + sum_scratch[i]; }
        sum_total = t;
    }
    workgroupBarrier();
    return sum_total;
}
