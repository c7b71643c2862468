//! Every WGSL kernel against its CPU reference, and the linear lab on the GPU against the
//! CPU path, natively (Mesa lavapipe on a machine without a GPU). A missing adapter fails
//! these tests, with what to install. The checks live in common/gpu_checks.rs, shared with
//! the browser tests.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/gpu_checks.rs"]
mod gpu_checks;
#[path = "common/transformer_checks.rs"]
mod transformer_checks;

use overtrain::gpu::Gpu;
use std::sync::OnceLock;

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| match pollster::block_on(Gpu::new()) {
        Ok(gpu) => gpu,
        Err(e) => panic!(
            "{e}\nThese tests need a WebGPU-capable adapter. Without a GPU, install Mesa's \
             software Vulkan driver: sudo apt-get install mesa-vulkan-drivers libvulkan1"
        ),
    })
}

/// Mesa's lavapipe offers subgroups, so natively both paths of the reductions are tested
/// (reductions_match_the_cpu_on_both_paths); an adapter without them would leave the
/// subgroup path untested, which this says loudly rather than passing quietly.
#[test]
fn the_subgroup_path_is_exercised() {
    let a = &gpu().adapter;
    assert!(
        gpu().subgroups,
        "adapter {} offers no subgroups: the subgroup path of workgroup_sum is not tested here",
        a.name
    );
}

macro_rules! native_tests {
    ($module:ident: $($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            pollster::block_on($module::$name(gpu()));
        }
    )*};
}

native_tests!(
    gpu_checks:
    adapter_is_described,
    matmul_matches_reference_on_awkward_shapes,
    elementwise_ops_match_reference,
    reductions_match_reference,
    gaussian_noise_is_counter_based_and_matches_reference,
    optimizers_match_reference,
    step_guard_matches_reference,
    sam_matches_reference,
    reductions_match_the_cpu_on_both_paths,
    limits_are_checked_before_submitting,
    linear_lab_on_the_gpu_matches_the_cpu_default_config,
    linear_lab_on_the_gpu_matches_the_cpu_identity_basis_and_dim_64,
);

native_tests!(
    transformer_checks:
    transformer_forward_and_gradients_match_the_cpu_reference,
    transformer_training_on_the_gpu_matches_the_cpu_for_20_steps,
    transformer_memory_beyond_the_adapter_limits_is_refused,
    transformer_updates_stop_at_a_non_finite_step,
    transformer_engine_state_and_l2_pull_match_the_cpu,
    transformer_sam_training_on_the_gpu_matches_the_cpu,
    experiment_on_the_gpu_matches_the_cpu,
    experiment_with_the_levers_on_the_gpu_matches_the_cpu,
    transformer_steady_state_steps_create_nothing,
    transformer_blocks_take_few_dispatches,
);
