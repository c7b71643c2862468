//! The command line under faults: an inconsistent results file to resume, a full or closed
//! stdout and stderr, `--out` through a symlink or to a device, Ctrl-C and SIGTERM during
//! `train` and `experiment`, two runs with the same `--out` and the locks killed runs leave,
//! and runs too large for the machine. Never a panic; nothing half-written.
#![cfg(all(target_os = "linux", not(target_arch = "wasm32")))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_overtrain"))
}

fn overtrain(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("overtrain-rel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

const MICRO: &str = r#"{"batch": 4, "eval_batches": 2, "pretrain": {"budgets": [320, 640]},
    "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
    "perturb": {"gammas": [1.0], "draws": 2}, "finetune": {"lrs": [0.003], "steps": 4, "seeds": 2}}"#;

fn experiment(config: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "experiment",
        "--backend",
        "cpu",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    overtrain(&args)
}

#[test]
fn resuming_an_inconsistent_results_file_is_refused_naming_the_part() {
    let dir = temp_dir("resume");
    let config = dir.join("exp.json");
    std::fs::write(&config, MICRO).unwrap();
    let results = dir.join("results.json");
    let out = experiment(&config, &results, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let full: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 5] = [
        ("resume.raw.train_loss", |r| {
            r["raw"]["train_loss"].as_array_mut().unwrap().clear()
        }),
        ("resume.raw.perturb[0]", |r| {
            r["raw"]["perturb"][0][0].as_array_mut().unwrap().clear()
        }),
        ("resume.raw.finetune[1]", |r| {
            r["raw"]["finetune"][1][0][0]
                .as_array_mut()
                .unwrap()
                .push(serde_json::Value::Null)
        }),
        ("resume.raw.base", |r| {
            let b = r["raw"]["base"].clone();
            let base = r["raw"]["base"].as_array_mut().unwrap();
            base.extend(b.as_array().unwrap().iter().cloned());
        }),
        ("resume.raw.diverged", |r| {
            r["raw"]["diverged"].as_array_mut().unwrap().pop();
        }),
    ];
    for (part, edit) in edits {
        let mut r = full.clone();
        edit(&mut r);
        std::fs::write(&results, r.to_string()).unwrap();
        let out = experiment(&config, &results, &["--resume"]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{part}: {text}");
        assert!(text.contains(part), "{part}: {text}");
        assert!(!text.contains("panicked"), "{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_stdout_or_stderr_is_reported_or_ignored_never_a_panic() {
    let dir = temp_dir("full");
    let full = || std::fs::File::create("/dev/full").unwrap();
    let out = bin()
        .args(["linear", "--print-default-config"])
        .stdout(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("standard output"), "{}", stderr(&out));
    // With stderr full, the run still writes its results and succeeds.
    let config = dir.join("c.json");
    std::fs::write(&config, r#"{"dim": 4, "pretrain": {"steps": 50}}"#).unwrap();
    let results = dir.join("r.json");
    let status = bin()
        .args(["linear", "--backend", "cpu", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&results)
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(std::fs::read_to_string(&results)
        .unwrap()
        .contains("\"steps\""));
    // A closed stderr (the reading end gone) is no panic either.
    let mut child = bin()
        .args(["experiment", "--backend", "cpu", "--config"])
        .arg({
            let c = dir.join("exp.json");
            std::fs::write(&c, MICRO).unwrap();
            c
        })
        .arg("--out")
        .arg(dir.join("exp-results.json"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn out_follows_a_symlink_and_writes_a_device_in_place() {
    let dir = temp_dir("symlink");
    let config = dir.join("exp.json");
    std::fs::write(&config, MICRO).unwrap();
    let target = dir.join("real.json");
    std::fs::write(&target, "old").unwrap();
    let link = dir.join("link.json");
    std::os::unix::fs::symlink("real.json", &link).unwrap();
    let out = experiment(&config, &link, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is kept"
    );
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.contains("\"budgets\""), "the target holds the results");
    let out = experiment(&config, Path::new("/dev/null"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device_like());
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

trait CharDevice {
    fn is_char_device_like(&self) -> bool;
}

impl CharDevice for std::fs::FileType {
    fn is_char_device_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_char_device()
    }
}

/// Waits until `ready()` holds (at most 120 s), then sends SIGINT to the child.
fn interrupt_when(child: &mut std::process::Child, ready: impl Fn() -> bool) {
    signal_when(child, libc::SIGINT, ready)
}

/// Waits until `ready()` holds (at most 120 s), then sends `signal` to the child.
fn signal_when(child: &mut std::process::Child, signal: i32, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never got ready"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the interrupt"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill only sends a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, signal) };
}

#[test]
fn ctrl_c_stops_train_and_keeps_every_file_whole() {
    let dir = temp_dir("sigint-train");
    let config = dir.join("train.json");
    std::fs::write(
        &config,
        r#"{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_ff": 32, "ctx": 16},
            "batch": 4, "steps": 100000, "eval_every": 1000, "eval_batches": 1}"#,
    )
    .unwrap();
    let run = dir.join("run");
    // An old run's model must not look like this run's.
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("model.safetensors"), "an old model").unwrap();
    let mut child = bin()
        .args(["train", "--backend", "cpu", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&run)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = run.join("log.json");
    interrupt_when(&mut child, || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("\"running\""))
            && !run.join("model.safetensors").exists()
    });
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    assert_eq!(log["status"], "interrupted");
    let steps = log["steps"].as_array().unwrap().len();
    assert!(steps < 100000);
    let model = std::fs::read(run.join("model.safetensors")).unwrap();
    let header = u64::from_le_bytes(model[..8].try_into().unwrap()) as usize;
    let meta: serde_json::Value = serde_json::from_slice(&model[8..8 + header]).unwrap();
    let end = meta["wte"]["data_offsets"][1].as_u64().unwrap() as usize;
    assert!(model.len() >= 8 + header + end, "the model file is whole");
    assert!(
        stderr(&out).contains("interrupted after"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `train` stopped by SIGTERM and resumed with `--resume`, twice, ends with the very bytes
/// of an uninterrupted run: its weights, AdamW's state and its log (every step's loss and
/// the evaluations where the whole run has them). The stops land wherever the signal
/// finds the run: any step must do.
#[test]
fn train_stopped_by_sigterm_and_resumed_equals_an_uninterrupted_run_bit_for_bit() {
    let dir = temp_dir("train-resume");
    let config = dir.join("train.json");
    std::fs::write(
        &config,
        r#"{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_ff": 32, "ctx": 16},
            "batch": 4, "steps": 20000, "eval_every": 7, "eval_batches": 1, "lr": 0.003}"#,
    )
    .unwrap();
    let train = |out: &Path, resume: bool| {
        let mut cmd = bin();
        cmd.args(["train", "--backend", "cpu", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(out)
            .stderr(Stdio::piped());
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let whole = dir.join("whole");
    let out = train(&whole, false).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let run = dir.join("run");
    let log = run.join("log.json");
    let mut stops = Vec::new();
    for attempt in 0..2 {
        let mut child = train(&run, attempt > 0).spawn().unwrap();
        // Stop it some way into its steps: once it has run for a while after starting
        // (a fresh run's log says "running"; a resumed one's still says "interrupted").
        let started = Instant::now();
        signal_when(&mut child, libc::SIGTERM, || {
            std::fs::read_to_string(&log).is_ok() && started.elapsed() > Duration::from_millis(700)
        });
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
        assert_eq!(saved["status"], "interrupted");
        stops.push(saved["steps"].as_array().unwrap().len());
    }
    assert!(
        stops[0] > 0 && stops[0] < stops[1] && stops[1] < 20000,
        "stopped after {stops:?} steps"
    );
    let out = train(&run, true).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("resuming after step {}", stops[1])),
        "{}",
        stderr(&out)
    );
    for name in ["model.safetensors", "optimizer.safetensors", "log.json"] {
        assert!(
            std::fs::read(run.join(name)).unwrap() == std::fs::read(whole.join(name)).unwrap(),
            "{name} differs from the uninterrupted run's (stopped after {stops:?} steps)"
        );
    }
    // A finished run is left alone; another config is refused naming both.
    let out = train(&run, true).output().unwrap();
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("nothing to resume"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&config, r#"{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_ff": 32, "ctx": 16}, "steps": 500}"#).unwrap();
    std::fs::write(
        run.join("log.json"),
        std::fs::read_to_string(&log)
            .unwrap()
            .replace("\"done\"", "\"interrupted\""),
    )
    .unwrap();
    let out = train(&run, true).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("another config"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctrl_c_stops_an_experiment_after_saving_its_finished_budgets() {
    let dir = temp_dir("sigint-exp");
    let config = dir.join("exp.json");
    // The second budget is long enough to interrupt.
    std::fs::write(&config, MICRO.replace("[320, 640]", "[320, 64000000]")).unwrap();
    let results = dir.join("results.json");
    let mut child = bin()
        .args(["experiment", "--backend", "cpu", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&results)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    interrupt_when(&mut child, || results.exists());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!(
        saved["budgets"],
        serde_json::json!([320]),
        "the first budget is kept"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_run_larger_than_the_machine_is_refused_before_allocating() {
    let dir = temp_dir("huge");
    let config = dir.join("train.json");
    std::fs::write(
        &config,
        r#"{"model": {"n_layer": 24, "d_model": 1024, "n_head": 16, "d_ff": 4096, "ctx": 2048}, "batch": 1024}"#,
    )
    .unwrap();
    let start = Instant::now();
    let out = overtrain(&[
        "train",
        "--backend",
        "cpu",
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("model:") && text.contains("this machine has"),
        "{text}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "refused before allocating"
    );
    assert!(!dir.join("run").exists(), "nothing written");
    // A run that fits says how long it will take, from its own first steps, before it ends.
    std::fs::write(
        &config,
        r#"{"model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8}, "batch": 2, "steps": 5, "eval_every": 5, "eval_batches": 1}"#,
    )
    .unwrap();
    let out = overtrain(&[
        "train",
        "--backend",
        "cpu",
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.join("run").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stderr(&out);
    let estimate = text.find("estimated time on the CPU").expect(&text);
    assert!(
        text.contains("over the first 1 steps")
            && estimate < text.find("held-out loss").expect(&text),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An experiment whose second budget is long enough to stop, writing to `results`.
fn long_experiment(dir: &Path, results: &Path) -> std::process::Child {
    let config = dir.join("long.json");
    std::fs::write(&config, MICRO.replace("[320, 640]", "[320, 64000000]")).unwrap();
    bin()
        .args(["experiment", "--backend", "cpu", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(results)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_stops_an_experiment_like_ctrl_c_with_143() {
    let dir = temp_dir("sigterm-exp");
    let results = dir.join("results.json");
    let mut child = long_experiment(&dir, &results);
    signal_when(&mut child, libc::SIGTERM, || results.exists());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped (SIGTERM)"),
        "{}",
        stderr(&out)
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!(
        saved["budgets"],
        serde_json::json!([320]),
        "the first budget is kept"
    );
    assert!(
        !dir.join("results.json.lock").exists(),
        "the lock goes with the run"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_run_with_the_same_out_is_refused_naming_the_first() {
    let dir = temp_dir("lock-twice");
    let results = dir.join("results.json");
    let mut first = long_experiment(&dir, &results);
    let lock = dir.join("results.json.lock");
    let start = Instant::now();
    while !results.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        lock.exists(),
        "the running experiment holds a lock beside its output"
    );
    let before = std::fs::read(&results).unwrap();
    let config = dir.join("micro.json");
    std::fs::write(&config, MICRO).unwrap();
    let t = Instant::now();
    let second = experiment(&config, &results, &[]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(t.elapsed() < Duration::from_secs(10), "refused at once");
    let message = stderr(&second);
    assert!(message.contains("another run writes to"), "{message}");
    assert!(
        message.contains(&format!("process {}", first.id())),
        "names the first run's process: {message}"
    );
    // Another output is free meanwhile.
    let other = dir.join("other.json");
    assert_eq!(experiment(&config, &other, &[]).status.code(), Some(0));
    assert!(!dir.join("other.json.lock").exists());
    // The first run goes on, its output untouched by the second.
    assert!(first.try_wait().unwrap().is_none(), "the first run goes on");
    assert_eq!(std::fs::read(&results).unwrap(), before);
    // SAFETY: kill only sends a signal to our own child process.
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(!lock.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_runs_lock_is_taken_over_and_another_hosts_is_not() {
    let dir = temp_dir("lock-stale");
    let config = dir.join("micro.json");
    std::fs::write(&config, MICRO).unwrap();
    let results = dir.join("results.json");
    let lock = dir.join("results.json.lock");
    // A process that is gone, on this host: what a run killed with SIGKILL leaves.
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let holder = |pid: u32, host: &str| {
        serde_json::json!({"pid": pid, "host": host.trim(), "command": "experiment"}).to_string()
    };
    std::fs::write(&lock, holder(gone.id(), &host)).unwrap();
    let out = experiment(&config, &results, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "taking over the lock '{}' of process {}",
            lock.display(),
            gone.id()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!lock.exists());
    // A lock of this host whose process runs (this test's own) is refused.
    std::fs::write(&lock, holder(std::process::id(), &host)).unwrap();
    let out = experiment(&config, &results, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("process {} on this host", std::process::id())));
    // A lock of another host is never taken over: its process may run there.
    std::fs::write(&lock, holder(gone.id(), "node-17.cluster")).unwrap();
    let out = experiment(&config, &results, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("on host node-17.cluster"), "{message}");
    assert!(
        message.contains(&format!("remove '{}'", lock.display())),
        "{message}"
    );
    assert!(lock.exists(), "left for its owner");
    std::fs::remove_dir_all(&dir).unwrap();
}
