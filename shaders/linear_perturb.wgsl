// Gaussian perturbation of the linear transfer lab (science.md §2). For every checkpoint c,
// noise scale γ and draw m, one workgroup computes ‖(W₁ᶜ + γZ₁ᵐ)(W₂ᶜ + γZ₂ᵐ) − A‖².
// CPU reference: linear::experiment::perturbed_loss. workgroup_sum: shaders/workgroup_sum.wgsl
// (or its subgroup path), prepended by the host.

struct PerturbParams { d: u32, h: u32, checkpoints: u32, gammas: u32, draws: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<storage, read> ck_weights: array<f32>;   // checkpoints × 2dh
@group(0) @binding(1) var<storage, read> noise: array<f32>;        // draws × 2dh (Z₁, Z₂)
@group(0) @binding(2) var<storage, read> gamma_values: array<f32>;
@group(0) @binding(3) var<storage, read> task: array<f32>;         // A, d×d
@group(0) @binding(4) var<storage, read_write> losses: array<f32>; // (c, γ, m) row-major
@group(0) @binding(5) var<uniform> pp: PerturbParams;

@compute @workgroup_size(256)
fn perturbed_loss(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let idx = wg.x + wg.y * groups.x;
    let total = pp.checkpoints * pp.gammas * pp.draws;
    let d = pp.d;
    let h = pp.h;
    let dh = d * h;
    var acc = 0.0;
    if (idx < total) {
        let m = idx % pp.draws;
        let g = (idx / pp.draws) % pp.gammas;
        let c = idx / (pp.draws * pp.gammas);
        let gamma = gamma_values[g];
        let w = c * 2u * dh;
        let z = m * 2u * dh;
        for (var e = lid; e < d * d; e = e + 256u) {
            let i = e / d;
            let j = e % d;
            var theta = 0.0;
            for (var k = 0u; k < h; k = k + 1u) {
                let a = ck_weights[w + i * h + k] + gamma * noise[z + i * h + k];
                let bb = ck_weights[w + dh + k * d + j] + gamma * noise[z + dh + k * d + j];
                theta = theta + a * bb;
            }
            let r = theta - task[e];
            acc = acc + r * r;
        }
    }
    let sum = workgroup_sum(lid, acc);
    if (lid == 0u && idx < total) { losses[idx] = sum; }
}
