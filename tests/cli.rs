//! The `overtrain` command line, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

fn overtrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_overtrain"))
        .args(args)
        .output()
        .expect("runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("overtrain-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn prints_the_default_config() {
    let out = overtrain(&["linear", "--print-default-config"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let config = overtrain::linear::LinearConfig::from_json(&text).unwrap();
    assert_eq!(config, overtrain::linear::LinearConfig::default());
}

#[test]
fn runs_a_config_and_writes_results_and_svgs() {
    let dir = temp_dir("run");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"dim": 8, "pretrain": {"steps": 300}, "finetune": {"lrs": [0.02], "l2": [0]}}"#,
    )
    .unwrap();
    let results = dir.join("results.json");
    let svg = dir.join("svg");
    let out = overtrain(&[
        "linear",
        "--backend",
        "cpu",
        "--config",
        config.to_str().unwrap(),
        "--out",
        results.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["backend"]["kind"], "cpu");
    assert_eq!(r["config"]["dim"], 8);
    assert_eq!(r["config"]["hidden"], 20, "defaults are filled in");
    let n = r["steps"].as_array().unwrap().len();
    assert_eq!(n, 7);
    for key in ["pretrain_loss", "singular_values"] {
        assert_eq!(r[key].as_array().unwrap().len(), n, "{key}");
    }
    for p in r["perturb"].as_array().unwrap() {
        for key in ["mean_loss", "expected_loss", "sensitivity"] {
            assert_eq!(p[key].as_array().unwrap().len(), n, "perturb.{key}");
        }
        assert!(p.get("inflection_step").is_some());
    }
    let ft = r["finetune"].as_array().unwrap();
    assert_eq!(ft.len(), 1);
    for key in ["pretrain_loss", "finetune_loss"] {
        assert_eq!(ft[0][key].as_array().unwrap().len(), n);
    }
    assert!(ft[0]["diverged_at"].is_null());
    assert!(r["theory"]["finetune"].is_array());
    for name in ["sensitivity", "perturbed", "finetuned", "singular_values"] {
        let text = std::fs::read_to_string(svg.join(format!("{name}.svg"))).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("</svg>") && text.len() > 2000,
            "{name}.svg"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_exits_2_naming_the_field() {
    let dir = temp_dir("bad");
    let cases = [
        (r#"{"pretrain": {"lr": -1}}"#, "pretrain.lr"),
        (r#"{"dim": 1000}"#, "dim: must be an integer in 1..=256"),
        (
            r#"{"finetune": {"lrs": []}}"#,
            "finetune.lrs: must not be empty",
        ),
        (
            r#"{"pretrain": {"spectrum": {"kind": "zipf"}}}"#,
            "pretrain.spectrum.kind",
        ),
        ("{not json", "malformed JSON"),
    ];
    for (i, (json, message)) in cases.iter().enumerate() {
        let config = dir.join(format!("c{i}.json"));
        std::fs::write(&config, json).unwrap();
        let out = overtrain(&[
            "linear",
            "--config",
            config.to_str().unwrap(),
            "--out",
            dir.join("r.json").to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{json}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{json}: {stderr}");
        assert!(
            !dir.join("r.json").exists(),
            "no results for an invalid config"
        );
    }
    for args in [
        &["linear"][..],
        &["linear", "--config"],
        &["linear", "--bogus"],
        &["nope"],
        &[],
    ] {
        let out = overtrain(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        // Every usage error says where the usage is (clap: "try '--help'", or the help).
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--help"),
            "{args:?}"
        );
    }
    let out = overtrain(&[
        "linear",
        "--config",
        "/nonexistent/c.json",
        "--out",
        "r.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/c.json"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_gpu_backend_is_chosen_and_reported() {
    let dir = temp_dir("gpu");
    let config = dir.join("config.json");
    std::fs::write(&config, r#"{"dim": 6, "pretrain": {"steps": 200}, "finetune": {"lrs": [0.02], "l2": [0], "steps": 20}}"#).unwrap();
    let run = |backend: &str| {
        let results = dir.join(format!("{backend}.json"));
        let out = overtrain(&[
            "linear",
            "--backend",
            backend,
            "--config",
            config.to_str().unwrap(),
            "--out",
            results.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
        (r, String::from_utf8_lossy(&out.stderr).to_string())
    };
    // --backend gpu runs on the adapter (lavapipe here), whatever its kind.
    let (r, stderr) = run("gpu");
    assert_eq!(r["backend"]["kind"], "gpu", "an adapter exists here");
    assert!(r["backend"]["dispatches"].as_u64().unwrap() > 0);
    let adapter = &r["backend"]["adapter"];
    assert!(!adapter["name"].as_str().unwrap().is_empty());
    assert!(stderr.contains("on the GPU ("), "{stderr}");
    // auto: a hardware adapter runs it; a software one (lavapipe, far slower than the CPU
    // path) does not, and the run says why.
    let (r, stderr) = run("auto");
    if adapter["software"].as_bool().unwrap() {
        assert_eq!(r["backend"]["kind"], "cpu", "auto skips a software adapter");
        let why = r["backend"]["fallback_reason"].as_str().unwrap();
        assert!(why.contains("software adapter"), "{why}");
        assert!(
            stderr.contains("on the CPU (") && stderr.contains("software adapter"),
            "{stderr}"
        );
    } else {
        assert_eq!(r["backend"]["kind"], "gpu", "auto uses a hardware adapter");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_on_any_number_of_threads_writes_the_same_weights_and_log() {
    let dir = temp_dir("train-threads");
    let config = dir.join("train.json");
    // Wide enough that each step's products are split over the threads.
    std::fs::write(
        &config,
        r#"{"model": {"n_layer": 1, "d_model": 32, "n_head": 4, "d_ff": 64, "ctx": 32},
            "batch": 8, "steps": 10, "eval_every": 5, "eval_batches": 2}"#,
    )
    .unwrap();
    let run = |threads: &str| {
        let out_dir = dir.join(format!("run-{threads}"));
        let out = overtrain(&[
            "train",
            "--backend",
            "cpu",
            "--threads",
            threads,
            "--config",
            config.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("training on the CPU, {threads} thread")),
            "{stderr}"
        );
        let read = |f: &str| std::fs::read(out_dir.join(f)).unwrap();
        (
            read("model.safetensors"),
            read("optimizer.safetensors"),
            read("log.json"),
        )
    };
    let one = run("1");
    for threads in ["3", "8"] {
        assert!(
            run(threads) == one,
            "{threads} threads: other weights, optimizer state or log"
        );
    }
    let out = overtrain(&[
        "train",
        "--threads",
        "0",
        "--config",
        config.to_str().unwrap(),
        "--out",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--threads") && stderr.contains("1..=1024"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_writes_config_model_and_log() {
    let dir = temp_dir("train");
    let config = dir.join("train.json");
    std::fs::write(
        &config,
        r#"{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_ff": 32, "ctx": 32, "norm": "rmsnorm", "mlp": "swiglu", "pos": "rope", "tie_embeddings": false},
            "batch": 8, "steps": 40, "eval_every": 20, "eval_batches": 2}"#,
    )
    .unwrap();
    let out_dir = dir.join("run");
    let out = overtrain(&[
        "train",
        "--backend",
        "cpu",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("parameters") && stderr.contains("ETA") && stderr.contains("held-out loss"),
        "{stderr}"
    );
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("log.json")).unwrap()).unwrap();
    for key in ["steps", "tokens", "train_loss"] {
        assert_eq!(log[key].as_array().unwrap().len(), 40, "{key}");
    }
    assert_eq!(log["eval_steps"], serde_json::json!([20, 40]));
    assert_eq!(log["tokens"][0], 8 * 32);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["model"]["mlp"], "swiglu");
    // The model file round-trips bit-exactly and loads in Python's safetensors package.
    let bytes = std::fs::read(out_dir.join("model.safetensors")).unwrap();
    let (cfg, params) = overtrain::transformer::checkpoint::from_safetensors(&bytes).unwrap();
    let layout = overtrain::transformer::params::Layout::new(&cfg);
    assert_eq!(params.len(), layout.total);
    assert_eq!(
        overtrain::transformer::checkpoint::to_safetensors(&cfg, &layout, &params),
        bytes
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_safetensors.py");
    let py = Command::new("python3")
        .arg(script)
        .arg(out_dir.join("model.safetensors"))
        .output()
        .expect("python3");
    assert!(
        py.status.success(),
        "Python's safetensors could not load the file (pip install safetensors numpy):\n{}{}",
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );
    assert!(String::from_utf8_lossy(&py.stdout).contains("h.0.mlp.fc (16, 64)"));
    // Bad input names the field.
    std::fs::write(&config, r#"{"model": {"d_model": 30, "n_head": 4}}"#).unwrap();
    let out = overtrain(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("model.d_model: must be divisible by model.n_head = 4"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_on_the_gpu_matches_the_cpu_and_refuses_what_does_not_fit() {
    let dir = temp_dir("train-gpu");
    let config = dir.join("train.json");
    std::fs::write(
        &config,
        r#"{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_ff": 32, "ctx": 16},
            "batch": 4, "steps": 20, "eval_every": 10, "eval_batches": 2}"#,
    )
    .unwrap();
    let mut logs = Vec::new();
    for backend in ["cpu", "gpu"] {
        let out_dir = dir.join(backend);
        let out = overtrain(&[
            "train",
            "--backend",
            backend,
            "--config",
            config.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains("memory") && stderr.contains("largest buffer"),
            "{stderr}"
        );
        if backend == "gpu" {
            assert!(stderr.contains("training on the GPU"), "{stderr}");
        }
        let log: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join("log.json")).unwrap())
                .unwrap();
        logs.push(log);
    }
    for (c, g) in logs[0]["train_loss"]
        .as_array()
        .unwrap()
        .iter()
        .zip(logs[1]["train_loss"].as_array().unwrap())
    {
        let (c, g) = (c.as_f64().unwrap(), g.as_f64().unwrap());
        assert!(((c - g) / c).abs() < 1e-3, "CPU {c} vs GPU {g}");
    }
    // A model whose attention buffer exceeds the adapter's per-buffer limit: exit 2, named.
    std::fs::write(
        &config,
        r#"{"model": {"n_layer": 1, "d_model": 1024, "n_head": 64, "ctx": 2048}, "batch": 64}"#,
    )
    .unwrap();
    let out = overtrain(&[
        "train",
        "--backend",
        "gpu",
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.join("big").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exceeds the adapter's max_"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn experiment_runs_a_config_and_writes_results_and_plots() {
    let dir = temp_dir("experiment");
    let config = dir.join("exp.json");
    std::fs::write(
        &config,
        r#"{"batch": 4, "eval_batches": 2,
            "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
            "pretrain": {"budgets": [320, 640, 1280]},
            "perturb": {"gammas": [1.0], "draws": 2},
            "finetune": {"lrs": [0.003], "steps": 5, "seeds": 2}}"#,
    )
    .unwrap();
    let results = dir.join("results.json");
    let svg = dir.join("svg");
    let out = overtrain(&[
        "experiment",
        "--backend",
        "cpu",
        "--config",
        config.to_str().unwrap(),
        "--out",
        results.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("ETA") && stderr.contains("tokens per parameter"),
        "{stderr}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["budgets"], serde_json::json!([320, 640, 1280]));
    for name in [
        "base",
        "perturbed",
        "finetuned_change",
        "finetuned",
        "tuned",
    ] {
        let text = std::fs::read_to_string(svg.join(format!("{name}.svg"))).unwrap();
        assert!(text.starts_with("<svg") && text.len() > 2000, "{name}");
    }
    let printed = overtrain(&["experiment", "--print-default-config"]);
    let text = String::from_utf8(printed.stdout).unwrap();
    assert_eq!(
        overtrain::experiment::ExperimentConfig::from_json(&text).unwrap(),
        overtrain::experiment::ExperimentConfig::preset("quick").unwrap()
    );
    // Bad input: exit 2, the field named.
    for (json, field) in [
        (r#"{"pretrain": {"budgets": []}}"#, "pretrain.budgets"),
        (r#"{"finetune": {"task": "poetry"}}"#, "finetune.task"),
        (r#"{"perturb": {"gammas": [-1]}}"#, "perturb.gammas[0]"),
        (
            r#"{"pretrain": {"sam_rho": 2}}"#,
            "pretrain.sam_rho: must be a finite number in [0, 1], got 2",
        ),
        (
            r#"{"finetune": {"replay": -0.5}}"#,
            "finetune.replay: must be a finite number in [0, 1]",
        ),
        (
            r#"{"pretrain": {"protocol": "cosine"}}"#,
            "one of independent, wsd, constant",
        ),
    ] {
        std::fs::write(&config, json).unwrap();
        let out = overtrain(&[
            "experiment",
            "--config",
            config.to_str().unwrap(),
            "--out",
            results.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{json}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(field),
            "{json}"
        );
    }
    let out = overtrain(&["experiment", "--preset", "huge", "--out", "x.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quick, paper, micro"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn experiment_saves_each_budget_and_resumes_an_interrupted_run() {
    let dir = temp_dir("experiment-resume");
    let config = dir.join("exp.json");
    let write_config = |lr: f64| {
        let json = format!(
            r#"{{"batch": 4, "eval_batches": 2, "pretrain": {{"protocol": "wsd", "budgets": [320, 640, 1280]}},
                "model": {{"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8}},
                "perturb": {{"gammas": [1.0], "draws": 2}},
                "finetune": {{"lrs": [{lr}], "steps": 5, "seeds": 2}}}}"#
        );
        std::fs::write(&config, json).unwrap();
    };
    write_config(0.003);
    let results = dir.join("results.json");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "experiment",
            "--backend",
            "cpu",
            "--config",
            config.to_str().unwrap(),
            "--out",
            results.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = overtrain(&args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let read = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap()
    };
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    for i in 1..=3 {
        assert!(stderr.contains(&format!("budget {i}/3 (")), "{stderr}");
    }
    let full = read();
    // An interruption after the first budget leaves that budget's results behind.
    let mut partial = full.clone();
    partial["budgets"] = serde_json::json!([320]);
    for (_, v) in partial["raw"].as_object_mut().unwrap() {
        v.as_array_mut().unwrap().truncate(1);
    }
    std::fs::write(&results, partial.to_string()).unwrap();
    let (code, stderr) = run(&["--resume"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 of 3 budgets already done"), "{stderr}");
    assert!(
        !stderr.contains("budget 1/3 (") && stderr.contains("budget 2/3 ("),
        "{stderr}"
    );
    let resumed = read();
    assert_eq!(resumed["raw"], full["raw"]);
    assert_eq!(resumed["finetune"], full["finetune"]);
    // Another config's results are refused, not mixed in.
    write_config(0.001);
    let (code, stderr) = run(&["--resume"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("another config"), "{stderr}");
    // `--resume` is the experiment's option only.
    let out = overtrain(&["linear", "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_command_has_its_help_and_usage_errors_name_the_argument() {
    for (command, option) in [
        ("linear", "--print-default-config"),
        ("train", "--backend"),
        ("experiment", "--checkpoints"),
        ("merge", "PART.json"),
        ("data", "--preset"),
    ] {
        let out = overtrain(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{command}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(option), "{command}: {help}");
    }
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).to_string();
    let out = overtrain(&["linear", "--bakend", "cpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a similar argument exists: '--backend'"),
        "{}",
        stderr(&out)
    );
    let out = overtrain(&["experiment", "--preset", "quick", "--backend", "foo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--backend") && stderr(&out).contains("cpu, gpu, auto"),
        "{}",
        stderr(&out)
    );
    for (args, named) in [
        (&["experiment", "--preset", "quick"][..], "--out"),
        (
            &[
                "experiment",
                "--preset",
                "quick",
                "--threads",
                "0",
                "--out",
                "r.json",
            ],
            "1..=1024",
        ),
        (
            &[
                "experiment",
                "--preset",
                "quick",
                "--checkpoints",
                "d",
                "--out",
                "r.json",
            ],
            "--shard",
        ),
        (&["merge", "--out", "r.json"], "PART.json"),
        (&["data", "--preset", "quick"], "--out"),
    ] {
        let out = overtrain(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
    }
    // The last value of a repeated option wins, as it did before clap.
    let plan = |args: &[&str]| String::from_utf8(overtrain(args).stdout).unwrap();
    assert_eq!(
        plan(&[
            "experiment",
            "--preset",
            "micro",
            "--preset",
            "quick",
            "--plan"
        ]),
        plan(&["experiment", "--preset", "quick", "--plan"])
    );
    assert_ne!(
        plan(&["experiment", "--preset", "micro", "--plan"]),
        plan(&["experiment", "--preset", "quick", "--plan"])
    );
}
