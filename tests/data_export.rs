//! `overtrain data`: the files hold exactly the bytes the library's streams give — the
//! pre-training corpus (`Corpus`) and the fine-tuning task's streams (`task_source`, user
//! text) — and the manifest describes them.
#![cfg(not(target_arch = "wasm32"))]

use overtrain::data::tasks::{task_source, UserText};
use overtrain::data::{batch, ByteSource, Split};
use overtrain::experiment::ExperimentConfig;
use overtrain::transformer::train::{Corpus, TrainConfig};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn overtrain(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_overtrain"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("overtrain-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// `n` batches of `cfg`'s shape from `source`, one after another.
fn draw(source: &mut dyn ByteSource, cfg: &ExperimentConfig, n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|_| batch(source, cfg.batch, cfg.model.ctx))
        .collect()
}

/// The pre-training corpus as `overtrain train` and the experiment build it.
fn corpus(cfg: &ExperimentConfig) -> Corpus {
    Corpus::new(&TrainConfig {
        seed: cfg.seed,
        model: cfg.model.clone(),
        batch: cfg.batch,
        eval_batches: cfg.eval_batches,
        ..TrainConfig::default()
    })
}

/// The folder's manifest, after checking that it lists exactly the folder's files with
/// their true sizes, shapes and config.
fn checked_manifest(dir: &Path, cfg: &ExperimentConfig) -> serde_json::Value {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let recorded: ExperimentConfig =
        serde_json::from_value(manifest["config"].clone()).expect("the config, whole");
    assert_eq!(&recorded, cfg);
    let steps = cfg.budget_steps();
    assert_eq!(manifest["budget_steps"], serde_json::json!(steps));
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 3 + cfg.finetune.seeds);
    let mut listed: Vec<String> = vec!["manifest.json".into()];
    for f in files {
        let name = f["file"].as_str().unwrap();
        listed.push(name.to_string());
        let size = std::fs::metadata(dir.join(name)).unwrap().len();
        assert_eq!(f["bytes"].as_u64().unwrap(), size, "{name}");
        assert_eq!(f["rows_per_batch"].as_u64().unwrap(), cfg.batch as u64);
        assert_eq!(f["row_bytes"].as_u64().unwrap(), cfg.model.ctx as u64 + 1);
        let batches = f["batches"].as_u64().unwrap();
        assert_eq!(
            size,
            batches * cfg.batch as u64 * (cfg.model.ctx as u64 + 1),
            "{name}"
        );
        assert_eq!(f["seed"].as_u64().unwrap(), cfg.seed);
    }
    let mut present: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    listed.sort();
    present.sort();
    assert_eq!(
        listed, present,
        "the folder holds the listed files, no more"
    );
    manifest
}

#[test]
fn a_preset_exports_the_bytes_of_its_corpus_and_task_streams() {
    let dir = temp_dir("preset");
    let out = overtrain(
        &["data", "--preset", "micro", "--out", dir.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("5 files"), "{}", stderr(&out));
    let cfg = ExperimentConfig::preset("micro").unwrap();
    let manifest = checked_manifest(&dir, &cfg);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();

    // Pre-training: the training stream as far as the largest budget reads it, and the
    // held-out batches behind every pre-training perplexity.
    let longest = *cfg.budget_steps().iter().max().unwrap();
    let mut corpus = corpus(&cfg);
    let train = read("pretrain-train.bin");
    assert_eq!(train, draw(corpus.train_source(), &cfg, longest));
    let heldout = read("pretrain-heldout.bin");
    assert_eq!(&heldout[..corpus.eval[0].len()], &corpus.eval[0][..]);
    assert_eq!(heldout, corpus.eval.concat());
    assert_ne!(train[..heldout.len()], heldout[..], "two different streams");

    // Fine-tuning: seed r's training stream (repeat r of the task) and the held-out batches
    // (repeat 0 of the held-out split).
    let task = &cfg.finetune.task;
    for r in 0..cfg.finetune.seeds {
        let mut source = task_source(task, cfg.seed, Split::Train, r as u64).unwrap();
        assert_eq!(
            read(&format!("finetune-train-seed-{r}.bin")),
            draw(source.as_mut(), &cfg, cfg.finetune.steps),
            "seed {r}"
        );
    }
    assert_ne!(
        read("finetune-train-seed-0.bin"),
        read("finetune-train-seed-1.bin"),
        "seeds differ in their data"
    );
    let mut source = task_source(task, cfg.seed, Split::Heldout, 0).unwrap();
    assert_eq!(
        read("finetune-heldout.bin"),
        draw(source.as_mut(), &cfg, cfg.eval_batches)
    );
    let entry = |name: &str| {
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["file"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(entry("pretrain-train.bin")["source"], "pretraining");
    assert_eq!(entry("finetune-train-seed-1.bin")["source"], task.as_str());
    assert_eq!(entry("finetune-train-seed-1.bin")["split"], "train");
    assert_eq!(entry("finetune-train-seed-1.bin")["repeat"], 1);
    assert_eq!(entry("finetune-heldout.bin")["split"], "heldout");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_config_from_stdin_with_user_text_exports_its_splits() {
    let dir = temp_dir("user");
    let text: String = (0..300)
        .map(|i| format!("line {i}: the quick brown fox\n"))
        .collect();
    let json = serde_json::json!({
        "seed": 7, "batch": 4, "eval_batches": 3,
        "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
        "pretrain": {"protocol": "wsd", "budgets": [320, 640]},
        "finetune": {"task": "user", "user_text": text, "steps": 5, "seeds": 3}
    })
    .to_string();
    let out = overtrain(
        &["data", "--config", "-", "--out", dir.to_str().unwrap()],
        Some(&json),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let cfg = ExperimentConfig::from_json(&json).unwrap();
    checked_manifest(&dir, &cfg);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let mut corpus = corpus(&cfg);
    assert_eq!(
        read("pretrain-train.bin"),
        draw(corpus.train_source(), &cfg, 20),
        "wsd reads the same stream: 640 tokens are 20 steps of 4 × 8"
    );
    assert_eq!(read("pretrain-heldout.bin"), corpus.eval.concat());
    // Repeat r of the user's text starts (r · 997) mod len bytes into its train split.
    let user = UserText::new(&text).unwrap();
    for r in 0..3 {
        let mut source = user.source(Split::Train);
        let mut skip = vec![0u8; (r * 997) % text.len()];
        source.fill(&mut skip);
        assert_eq!(
            read(&format!("finetune-train-seed-{r}.bin")),
            draw(&mut source, &cfg, 5),
            "seed {r}"
        );
    }
    let mut heldout = user.source(Split::Heldout);
    assert_eq!(read("finetune-heldout.bin"), draw(&mut heldout, &cfg, 3));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_exit_2_and_write_nothing() {
    let dir = temp_dir("bad");
    let out_dir = dir.join("out");
    let o = out_dir.to_str().unwrap();
    for args in [
        &["data", "--out", o][..],
        &["data", "--preset", "micro"],
        &["data", "--preset", "huge", "--out", o],
        &[
            "data", "--preset", "micro", "--config", "x.json", "--out", o,
        ],
    ] {
        let out = overtrain(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error:"), "{}", stderr(&out));
    }
    let out = overtrain(
        &["data", "--config", "-", "--out", o],
        Some(r#"{"finetune": {"seeds": 0}}"#),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("finetune.seeds"), "{}", stderr(&out));
    assert!(!out_dir.exists(), "nothing written for bad input");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ctrl-C while a large stream is written: exit 130, and neither a half-written file nor
/// its temporary file is left.
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_leaves_no_half_written_file() {
    use std::time::{Duration, Instant};
    let dir = temp_dir("sigint");
    let out_dir = dir.join("out");
    // 10⁹ tokens: a pre-training stream of over a gigabyte, far from written in time.
    let mut child = Command::new(env!("CARGO_BIN_EXE_overtrain"))
        .args(["data", "--config", "-", "--out", out_dir.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let json = r#"{"batch": 4, "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
                   "pretrain": {"budgets": [1000000000]}}"#;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.as_bytes())
        .unwrap();
    let writing = || {
        std::fs::read_dir(&out_dir).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        })
    };
    let start = Instant::now();
    while !writing() {
        assert!(start.elapsed() < Duration::from_secs(120), "never wrote");
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill only sends a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped (Ctrl-C)"),
        "{}",
        stderr(&out)
    );
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
