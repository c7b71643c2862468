//! In headless Chromium by wasm-bindgen-test (see scripts/test.sh): the wasm entry points,
//! every WGSL kernel on the browser's WebGPU (SwiftShader) against its CPU reference, and
//! the linear lab on WebGPU against the CPU path.
#![cfg(target_arch = "wasm32")]

#[path = "common/gpu_checks.rs"]
mod gpu_checks;
#[path = "common/transformer_checks.rs"]
mod transformer_checks;

use overtrain::gpu::Gpu;
use overtrain::web::{
    default_linear_config, render_linear_plots, run_linear, validate_linear_config,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn field_of(err: &JsValue) -> String {
    js_sys::Reflect::get(err, &"field".into())
        .unwrap()
        .as_string()
        .unwrap()
}

#[wasm_bindgen_test]
fn runs_the_default_experiment_deterministically() {
    let config = default_linear_config();
    let a = run_linear(&config).expect("valid");
    let b = run_linear(&config).expect("valid");
    let mut ra: serde_json::Value = serde_json::from_str(&a).unwrap();
    let mut rb: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert!(
        ra["elapsed_ms"].as_f64().unwrap() > 0.0,
        "timed with performance.now()"
    );
    ra.as_object_mut().unwrap().remove("elapsed_ms");
    rb.as_object_mut().unwrap().remove("elapsed_ms");
    assert_eq!(ra, rb);
    assert_eq!(ra["steps"].as_array().unwrap().len(), 41);
    // A larger γ inflects earlier here too.
    let infl: Vec<u64> = ra["perturb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["inflection_step"].as_u64().unwrap())
        .collect();
    assert!(infl[1] <= infl[0], "{infl:?}");
}

#[wasm_bindgen_test]
fn invalid_configs_come_back_as_field_errors() {
    assert!(validate_linear_config(&default_linear_config()).is_null());
    for (json, field) in [
        (r#"{"dim": 0}"#, "dim"),
        (r#"{"finetune": {"lrs": [-1]}}"#, "finetune.lrs[0]"),
        ("{oops", ""),
    ] {
        let err = validate_linear_config(json);
        assert_eq!(field_of(&err), field, "{json}");
        let thrown = run_linear(json).expect_err(json);
        assert_eq!(field_of(&thrown), field, "{json}");
    }
}

#[wasm_bindgen_test]
fn renders_the_four_plots() {
    let results = run_linear(r#"{"dim": 6, "pretrain": {"steps": 200}}"#).unwrap();
    let plots = render_linear_plots(&results, "{}").unwrap();
    let plots: Vec<(String, String)> = serde_wasm_bindgen::from_value(plots).unwrap();
    let names: Vec<&str> = plots.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["sensitivity", "perturbed", "finetuned", "singular_values"]
    );
    for (name, svg) in &plots {
        assert!(svg.starts_with("<svg") && svg.len() > 2000, "{name}");
    }
    assert!(render_linear_plots("not json", "{}").is_err());
}

/// The page's WebGPU adapter (SwiftShader in headless Chromium). No adapter fails the test.
async fn browser_gpu() -> Gpu {
    match Gpu::new().await {
        Ok(g) => g,
        Err(e) => panic!("{e}: these tests need WebGPU (headless Chromium: --enable-unsafe-webgpu, see webdriver.json)"),
    }
}

macro_rules! browser_gpu_tests {
    ($module:ident: $($name:ident),* $(,)?) => {$(
        #[wasm_bindgen_test]
        async fn $name() {
            $module::$name(&browser_gpu().await).await;
        }
    )*};
}

browser_gpu_tests!(
    gpu_checks:
    adapter_is_described,
    matmul_matches_reference_on_awkward_shapes,
    elementwise_ops_match_reference,
    reductions_match_reference,
    gaussian_noise_is_counter_based_and_matches_reference,
    optimizers_match_reference,
    step_guard_matches_reference,
    limits_are_checked_before_submitting,
    linear_lab_on_the_gpu_matches_the_cpu_default_config,
    linear_lab_on_the_gpu_matches_the_cpu_identity_basis_and_dim_64,
);

browser_gpu_tests!(
    transformer_checks:
    transformer_forward_and_gradients_match_the_cpu_reference,
    transformer_training_on_the_gpu_matches_the_cpu_for_20_steps,
    transformer_memory_beyond_the_adapter_limits_is_refused,
    transformer_updates_stop_at_a_non_finite_step,
    transformer_engine_state_and_l2_pull_match_the_cpu,
    experiment_on_the_gpu_matches_the_cpu,
);
