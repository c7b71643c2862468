//! In headless Chromium by wasm-bindgen-test (see scripts/test.sh): the wasm entry points,
//! every WGSL kernel on the browser's WebGPU (SwiftShader) against its CPU reference, and
//! the linear lab on WebGPU against the CPU path.
#![cfg(target_arch = "wasm32")]

#[path = "common/gpu_checks.rs"]
mod gpu_checks;
#[path = "common/transformer_checks.rs"]
mod transformer_checks;

use overtrain::experiment::Engines;
use overtrain::gpu::Gpu;
use overtrain::web::{
    check_exercise, default_linear_config, exercise_expected, exercise_list, exercise_setup,
    field_schema, linear_captions, linear_results_json, render_linear_plots, resolve_backend,
    run_experiment, run_linear, validate_experiment_config, validate_linear_config,
    ExperimentSchedule,
};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A thrown error's property (`kind`, `message`, `field`), "" when absent.
fn prop(err: &JsValue, name: &str) -> String {
    js_sys::Reflect::get(err, &name.into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

fn field_of(err: &JsValue) -> String {
    assert_eq!(prop(err, "kind"), "config", "{err:?}");
    prop(err, "field")
}

/// A JavaScript value from JSON text, as the page holds its configs (`JSON.parse`).
fn js(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

/// A value an entry point returned, read back for assertions.
fn json(value: &JsValue) -> serde_json::Value {
    serde_wasm_bindgen::from_value(value.clone()).unwrap()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(value, &key.into()).unwrap()
}

#[wasm_bindgen_test]
fn runs_the_default_experiment_deterministically() {
    let config = default_linear_config().unwrap();
    let a = run_linear(config.clone()).expect("valid");
    let b = run_linear(config).expect("valid");
    let mut ra = json(&a);
    let mut rb = json(&b);
    assert!(
        ra["elapsed_ms"].as_f64().unwrap() > 0.0,
        "timed with performance.now()"
    );
    ra.as_object_mut().unwrap().remove("elapsed_ms");
    rb.as_object_mut().unwrap().remove("elapsed_ms");
    assert_eq!(ra, rb);
    assert_eq!(ra["steps"].as_array().unwrap().len(), 41);
    // A larger γ inflects no later here too. An inflection is marked only where the rise is
    // clear of the Monte Carlo noise (γ = 0.02's is not at the default): the largest γ's is,
    // and every marked one is a step of the run.
    let infl: Vec<Option<u64>> = ra["perturb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["inflection_step"].as_u64())
        .collect();
    assert!(infl.last().unwrap().is_some(), "{infl:?}");
    let steps: Vec<u64> = ra["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert!(infl.iter().flatten().all(|s| steps.contains(s)), "{infl:?}");
    let known: Vec<u64> = infl.iter().flatten().copied().collect();
    assert!(known.windows(2).all(|w| w[1] <= w[0]), "{infl:?}");
}

#[wasm_bindgen_test]
fn invalid_configs_come_back_as_field_errors() {
    assert!(validate_linear_config(default_linear_config().unwrap()).is_null());
    // A config is an object: anything else is refused as a whole (no field).
    for (config, field) in [
        (js(r#"{"dim": 0}"#), "dim"),
        (js(r#"{"finetune": {"lrs": [-1]}}"#), "finetune.lrs[0]"),
        (JsValue::from_str("{oops"), ""),
        (JsValue::UNDEFINED, ""),
    ] {
        let err = validate_linear_config(config.clone());
        assert_eq!(field_of(&err), field, "{config:?}");
        let thrown = run_linear(config.clone()).expect_err("invalid");
        assert_eq!(field_of(&thrown), field, "{config:?}");
    }
}

/// Each kind of error reaches the page as its kind: a resume of results that belong to
/// another config is a data error on `resume` (not a GPU failure), a host that cancels
/// gives a cancelled error, a bad config a config error naming its field.
#[wasm_bindgen_test]
async fn errors_cross_into_the_page_with_their_kind() {
    bounded(
        "errors_cross_into_the_page_with_their_kind",
        errors_cross_into_the_page(),
    )
    .await;
}

async fn errors_cross_into_the_page() {
    use overtrain::experiment::{self, ExperimentConfig};
    use overtrain::transformer::engine::run_ready;
    let micro = r#"{"batch": 2, "eval_batches": 1,
        "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
        "pretrain": {"budgets": [32, 64]}, "perturb": {"gammas": [1.0], "draws": 1},
        "finetune": {"lrs": [0.01], "steps": 2, "seeds": 1}}"#;
    let config = ExperimentConfig::from_json(micro).unwrap();
    struct Quiet;
    impl experiment::Host for Quiet {
        async fn progress(&mut self, _: &experiment::Progress) -> Result<(), overtrain::Error> {
            Ok(())
        }
        fn now_ms(&self) -> f64 {
            0.0
        }
    }
    let mut engine = Engines::cpu();
    let earlier = run_ready(experiment::run(&config, &mut engine, &mut Quiet, None)).unwrap();
    let other = micro.replace(r#""batch": 2"#, r#""batch": 2, "seed": 5"#);
    let host = js_sys::Object::new();
    let resumed = run_experiment(
        js(&other),
        "cpu".into(),
        host.clone().into(),
        js(&serde_json::to_string(&earlier).unwrap()),
    )
    .await
    .expect_err("results of another config");
    assert_eq!(prop(&resumed, "kind"), "data", "{resumed:?}");
    assert_eq!(prop(&resumed, "field"), "resume");
    assert!(prop(&resumed, "message").contains("another config"));
    let cancel = js_sys::Function::new_no_args("return Promise.resolve(false);");
    js_sys::Reflect::set(&host, &"progress".into(), &cancel).unwrap();
    let cancelled = run_experiment(js(&other), "cpu".into(), host.into(), JsValue::NULL)
        .await
        .expect_err("cancelled by the host");
    assert_eq!(prop(&cancelled, "kind"), "cancelled", "{cancelled:?}");
    let invalid = run_experiment(
        js(r#"{"batch": 0}"#),
        "cpu".into(),
        js_sys::Object::new().into(),
        JsValue::NULL,
    )
    .await
    .expect_err("invalid");
    assert_eq!(field_of(&invalid), "batch");
}

/// The page builds its forms from the schema: every field named once, with a label.
#[wasm_bindgen_test]
fn the_field_schema_and_the_backend_rule_are_exported() {
    let schema = json(&field_schema().unwrap());
    let lr = schema["transformer"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["fields"].as_array().unwrap())
        .find(|f| f["path"] == "pretrain.lr")
        .expect("pretrain.lr in the schema");
    assert_eq!(lr["max"], 1.0);
    assert!(!lr["label"].as_str().unwrap().is_empty());
    // The page lists every preset, the three sweeps of the follow-up work included.
    let presets: Vec<&str> = schema["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        presets,
        [
            "micro",
            "quick",
            "paper",
            "scaling",
            "schedules",
            "mitigations"
        ]
    );
    let sweep = schema["transformer"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["fields"].as_array().unwrap())
        .find(|f| f["path"] == "sweep")
        .expect("the sweep in the schema");
    assert_eq!(sweep["kind"], "sweep");
    // A plain object, as init_gpu resolves to (JSON.parse, not a serde map).
    let software = js_sys::JSON::parse(
        &serde_json::json!({
            "name": "SwiftShader", "backend": "BrowserWebGpu", "device_type": "Cpu", "driver": "",
            "software": true, "max_buffer_size": 1u64 << 28,
            "max_storage_buffer_binding_size": 1u64 << 27,
            "max_compute_workgroups_per_dimension": 65535,
            "max_compute_invocations_per_workgroup": 256,
            "max_compute_workgroup_storage_size": 16384
        })
        .to_string(),
    )
    .unwrap();
    let pick = |choice: &str, adapter: &JsValue, fits: bool| {
        let r = resolve_backend(choice, adapter.clone(), fits).unwrap();
        (prop(&r, "backend"), prop(&r, "reason"))
    };
    assert_eq!(pick("gpu", &software, true).0, "gpu");
    let (backend, reason) = pick("auto", &software, true);
    assert_eq!(backend, "cpu");
    assert!(reason.contains("software"), "{reason}");
    assert_eq!(pick("auto", &JsValue::NULL, true).0, "cpu");
    assert_eq!(pick("gpu", &software, false).0, "cpu");
}

#[wasm_bindgen_test]
fn renders_the_four_plots() {
    let results = run_linear(js(r#"{"dim": 6, "pretrain": {"steps": 200}}"#)).unwrap();
    let plots = render_linear_plots(results, js("{}")).unwrap();
    let plots: Vec<(String, String)> = serde_wasm_bindgen::from_value(plots).unwrap();
    let names: Vec<&str> = plots.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["sensitivity", "perturbed", "finetuned", "singular_values"]
    );
    for (name, svg) in &plots {
        assert!(svg.starts_with("<svg") && svg.len() > 2000, "{name}");
    }
    let not_results = render_linear_plots(JsValue::from_str("not results"), js("{}"));
    assert_eq!(prop(&not_results.unwrap_err(), "kind"), "data");
}

/// The classroom's entry points (src/web/teach.rs): each plot's caption of a run, and an
/// exercise's set-up, its answer computed from the run, a right answer accepted and a
/// wrong one refused.
#[wasm_bindgen_test]
fn captions_and_exercises_come_from_the_run() {
    let results = run_linear(js(r#"{"dim": 6, "pretrain": {"steps": 200}}"#)).unwrap();
    let captions = json(&linear_captions(results).unwrap());
    let plots: Vec<&str> = captions
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["plot"].as_str().unwrap())
        .collect();
    assert_eq!(
        plots,
        ["sensitivity", "perturbed", "finetuned", "singular_values"]
    );
    let list = json(&exercise_list().unwrap());
    assert_eq!(list[0]["id"], "inflection");
    assert_eq!(list[0]["answer"]["kind"], "number");

    let config = exercise_setup("lr", default_linear_config().unwrap()).unwrap();
    assert_eq!(
        json(&config)["finetune"]["lrs"],
        serde_json::json!([0.01, 0.03])
    );
    let run = run_linear(config).unwrap();
    let expected = json(&exercise_expected("lr", "linear", run.clone()).unwrap());
    let right = expected["answer"].as_str().unwrap().to_string();
    let wrong = if right == "earlier" {
        "later"
    } else {
        "earlier"
    };
    let check = |answer: &str| json(&check_exercise("lr", "linear", run.clone(), answer).unwrap());
    assert_eq!(check(&right)["correct"], true, "{expected}");
    assert_eq!(check(wrong)["correct"], false);
    // A transformer exercise has no linear set-up; an unknown one is a data error.
    assert!(
        exercise_setup("overtrain", default_linear_config().unwrap())
            .unwrap()
            .is_null()
    );
    let unknown = check_exercise("nonsense", "linear", run, "x").unwrap_err();
    assert_eq!(prop(&unknown, "kind"), "data");
}

/// Numbers cross the boundary exactly (src/web/values.rs). A u64 up to 2^53 − 1 (a seed)
/// goes into the page as a number and comes back as the same integer; a larger seed is a
/// config error naming it, not a number silently rounded. f32s (weights) and f64s (losses)
/// in a unit's output come back from the page and go out to it again with the same bits:
/// subnormals, −0, the extremes, values one ulp apart.
#[wasm_bindgen_test]
fn numbers_cross_the_boundary_exactly() {
    // u64: the largest seed a JavaScript number holds, through a run's results and back.
    let largest = r#"{"seed": 9007199254740991, "dim": 4, "pretrain": {"steps": 50, "checkpoint_every": 25}}"#;
    let results = run_linear(js(largest)).unwrap();
    let seed = get(&get(&results, "config"), "seed");
    assert_eq!(seed.as_f64(), Some(9_007_199_254_740_991.0));
    assert!(linear_results_json(results)
        .unwrap()
        .contains(r#""seed":9007199254740991"#));
    let over = validate_linear_config(js(r#"{"seed": 9007199254740992}"#));
    assert_eq!(field_of(&over), "seed", "{over:?}");
    assert!(
        prop(&over, "message").contains("9007199254740991"),
        "{over:?}"
    );
    let far_over = validate_linear_config(js(r#"{"seed": 18446744073709551615}"#));
    assert_eq!(field_of(&far_over), "seed", "{far_over:?}");
    let micro = |seed: u64| {
        let mut c = overtrain::experiment::ExperimentConfig::preset("micro").unwrap();
        c.seed = seed;
        js(&serde_json::to_string(&c).unwrap())
    };
    assert_eq!(
        field_of(&validate_experiment_config(micro(1 << 53))),
        "seed"
    );
    // An experiment's results come back as a resume only with the very same config: the
    // seed (and the u64 budgets) made the round trip exactly.
    let config = micro((1 << 53) - 1);
    let schedule = ExperimentSchedule::new(config.clone(), "CPU", JsValue::NULL, Some(1)).unwrap();
    let results = schedule.results().unwrap();
    assert_eq!(
        get(&get(&results, "config"), "seed").as_f64(),
        Some(9_007_199_254_740_991.0)
    );
    ExperimentSchedule::new(config.clone(), "CPU", results, Some(1)).expect("its own results");

    // f32 and f64: a pre-training output as a worker posts it (src/web/unit_output.rs: its
    // weights in a Float32Array, the rest a plain object), into the schedule (done) and
    // out again as the next unit's input (next).
    let layout = overtrain::transformer::params::Layout::new(
        &overtrain::experiment::ExperimentConfig::preset("micro")
            .unwrap()
            .model,
    );
    let specials: [f32; 9] = [
        0.1,
        -0.0,
        f32::from_bits(1), // the smallest subnormal
        f32::MIN_POSITIVE,
        f32::MAX,
        -f32::MAX,
        1.0,
        1.0 + f32::EPSILON,
        -3.0e-39, // subnormal
    ];
    let params: Vec<f32> = (0..layout.total)
        .map(|i| specials[i % specials.len()])
        .collect();
    // Losses: the f64s cross as JSON text (src/web/values.rs), -0 included.
    let losses: [f64; 6] = [
        0.1,
        f64::from_bits(1),
        f64::MAX,
        1.0 + f64::EPSILON,
        -0.0,
        7.0,
    ];
    let output = js(&serde_json::json!({
        "value": {"kind": "pretrained", "params": [], "base": 2.5, "losses": losses, "diverged": null},
        "tensors": [],
    })
    .to_string());
    get(&output, "tensors")
        .unchecked_into::<js_sys::Array>()
        .push(&js_sys::Float32Array::from(params.as_slice()));

    let mut schedule = ExperimentSchedule::new(micro(0), "CPU", JsValue::NULL, Some(1)).unwrap();
    let first = schedule.next().unwrap();
    assert_eq!(
        json(&get(&first, "unit")),
        serde_json::json!({"variant": 0, "budget": 0, "kind": "pretrain"})
    );
    assert!(get(&first, "input").is_null());
    let events = schedule.done(get(&first, "unit"), output).unwrap();
    assert_eq!(prop(&events.get(0), "type"), "checkpoint");
    let input = loop {
        let ready = schedule.next().unwrap();
        assert!(
            !ready.is_undefined(),
            "a unit that starts from budget 0's weights"
        );
        let input = get(&ready, "input");
        if !input.is_null() {
            break input;
        }
    };
    let tensors = js_sys::Array::from(&get(&input, "tensors"));
    assert_eq!(tensors.length(), 1);
    let got = js_sys::Float32Array::from(tensors.get(0)).to_vec();
    assert_eq!(got.len(), params.len());
    for (got, want) in got.iter().zip(&params) {
        assert_eq!(got.to_bits(), want.to_bits(), "{got:e} is not {want:e}");
    }
    let value = get(&input, "value");
    let got = js_sys::Array::from(&get(&value, "losses"));
    for (i, want) in losses.iter().enumerate() {
        let got = got.get(i as u32).as_f64().expect("a number");
        assert_eq!(got.to_bits(), want.to_bits(), "{got:e} is not {want:e}");
    }
    assert_eq!(get(&value, "base").as_f64(), Some(2.5));
    // Not an output: a data error, not a panic.
    let mut schedule = ExperimentSchedule::new(micro(0), "CPU", JsValue::NULL, Some(1)).unwrap();
    let first = schedule.next().unwrap();
    let wrong = js(
        r#"{"value": {"kind": "pretrained", "params": [], "base": 1, "losses": [], "diverged": null}, "tensors": [[1, 2]]}"#,
    );
    let err = schedule.done(get(&first, "unit"), wrong).unwrap_err();
    assert_eq!(prop(&err, "kind"), "data", "{err:?}");
    assert_eq!(prop(&err, "field"), "output");
}

/// The page's WebGPU device (SwiftShader in headless Chromium), opened once and shared by
/// every test, as the native tests share theirs (tests/gpu.rs) and the page shares one
/// between its labs. A device per test left a score of devices behind in the GPU process
/// (a dropped device is only freed when JavaScript's garbage collector gets to it); tests
/// that need a device of their own open it themselves, and `Gpu` destroys it when dropped.
/// No adapter fails the test.
async fn browser_gpu() -> Rc<Gpu> {
    thread_local! {
        static SHARED: RefCell<Option<Rc<Gpu>>> = const { RefCell::new(None) };
    }
    if let Some(gpu) = SHARED.with(|s| s.borrow().clone()) {
        return gpu;
    }
    let gpu = match Gpu::new().await {
        Ok(g) => Rc::new(g),
        Err(e) => panic!("{e}: these tests need WebGPU (headless Chromium: --enable-unsafe-webgpu, see webdriver.json)"),
    };
    SHARED.with(|s| *s.borrow_mut() = Some(gpu.clone()));
    gpu
}

/// How long one test may run before it fails by name: well under chromedriver's 300 s
/// (after which the whole run would end without saying which test hung). The slowest test,
/// `reductions_match_the_cpu_on_both_paths` (the linear lab twice on SwiftShader), takes
/// about 70 s on 2 cores; `-- --nocapture` prints each test's time.
const TEST_TIMEOUT_S: u32 = 180;

/// Runs `test` and fails, naming it, if it has not finished after [`TEST_TIMEOUT_S`]: a GPU
/// wait that never resolves then fails its own test, and the rest of the suite still runs.
async fn bounded(name: &str, test: impl Future<Output = ()>) {
    let timer = js_sys::Promise::new(&mut |resolve, _| {
        let set_timeout: js_sys::Function =
            js_sys::Reflect::get(&js_sys::global(), &"setTimeout".into())
                .expect("setTimeout")
                .into();
        set_timeout
            .call2(&JsValue::NULL, &resolve, &(TEST_TIMEOUT_S * 1000).into())
            .expect("setTimeout");
    });
    let started = js_sys::Date::now();
    let mut timer = std::pin::pin!(wasm_bindgen_futures::JsFuture::from(timer));
    let mut test = std::pin::pin!(test);
    let finished = std::future::poll_fn(|cx| {
        if test.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(true);
        }
        if timer.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(false);
        }
        std::task::Poll::Pending
    })
    .await;
    // Shown with `-- --nocapture`: which tests take the time.
    web_sys::console::log_1(
        &format!("{name}: {:.1} s", (js_sys::Date::now() - started) / 1e3).into(),
    );
    assert!(
        finished,
        "{name}: still running after {TEST_TIMEOUT_S} s (hung: a GPU wait that never resolved?)"
    );
}

macro_rules! browser_gpu_tests {
    ($module:ident: $($name:ident),* $(,)?) => {$(
        #[wasm_bindgen_test]
        async fn $name() {
            let gpu = browser_gpu().await;
            bounded(stringify!($name), $module::$name(&gpu)).await;
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
    sam_matches_reference,
    reductions_match_the_cpu_on_both_paths,
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
    transformer_sam_training_on_the_gpu_matches_the_cpu,
    experiment_on_the_gpu_matches_the_cpu,
    experiment_with_the_levers_on_the_gpu_matches_the_cpu,
    transformer_steady_state_steps_create_nothing,
    transformer_blocks_take_few_dispatches,
);
