//! Sharding an experiment (a Slurm job array) and merging the parts gives the unsharded
//! results number for number, for any number of shards, with checkpoints shared or
//! recomputed; bad shards and parts are refused, naming the problem.
#![cfg(not(target_arch = "wasm32"))]

use overtrain::experiment::shard::{assign, merge, run_shard, Checkpoints, Part, Shard};
use overtrain::experiment::Engines;
use overtrain::experiment::{self, ExperimentConfig, Protocol};
use overtrain::transformer::engine::run_ready;
use std::process::Command;

#[path = "common/quiet_host.rs"]
mod quiet_host;
use quiet_host::{without_time, Quiet};

fn micro(protocol: Protocol) -> ExperimentConfig {
    let mut c = ExperimentConfig::from_json(
        r#"{"batch": 4, "eval_batches": 2,
            "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
            "pretrain": {"budgets": [320, 640, 1280]},
            "perturb": {"gammas": [0.5, 2.0], "draws": 2},
            "finetune": {"lrs": [0.001, 0.01], "l2": [0.0, 0.5], "steps": 4, "seeds": 2}}"#,
    )
    .unwrap();
    c.pretrain.protocol = protocol;
    c
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("overtrain-shard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sharded_and_merged_equals_unsharded_for_1_2_3_and_7_shards() {
    for protocol in [Protocol::Independent, Protocol::Wsd] {
        let cfg = micro(protocol);
        let mut engine = Engines::cpu();
        let whole = run_ready(experiment::run(&cfg, &mut engine, &mut Quiet, None)).unwrap();
        for n in [1, 2, 3, 7] {
            for shared in [false, true] {
                let dir = temp_dir(&format!("{protocol:?}-{n}-{shared}"));
                let checkpoints = shared.then(|| Checkpoints::new(&dir, &cfg).unwrap());
                let parts: Vec<(String, Part)> = (0..n)
                    .map(|k| {
                        let part = pollster::block_on(run_shard(
                            &cfg,
                            Shard { k, n },
                            1 + k % 2,
                            checkpoints.as_ref(),
                            None,
                            &mut |_| Ok(()),
                            &mut Quiet,
                        ))
                        .unwrap();
                        // Parts cross as JSON files.
                        let text = serde_json::to_string(&part).unwrap();
                        (format!("part-{k}"), serde_json::from_str(&text).unwrap())
                    })
                    .collect();
                let merged = merge(&parts).unwrap();
                assert_eq!(
                    without_time(&merged),
                    without_time(&whole),
                    "{protocol:?}, {n} shards, shared checkpoints: {shared}"
                );
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
    }
}

/// A shard saves its part after every unit; stopped after any of them (as SIGTERM stops
/// the CLI) and resumed from the part it saved last, it ends with a part that merges, with
/// the other shards', into exactly the unsharded results — with checkpoints shared or not.
#[test]
fn a_shard_stopped_after_any_unit_and_resumed_merges_into_the_unsharded_results() {
    use overtrain::Error;
    for protocol in [Protocol::Independent, Protocol::Wsd] {
        let cfg = micro(protocol);
        let whole =
            run_ready(experiment::run(&cfg, &mut Engines::cpu(), &mut Quiet, None)).unwrap();
        let n = 2;
        let mine = assign(&cfg, n).values().filter(|&&s| s == 0).count();
        for shared in [false, true] {
            for stop in [1, mine / 2] {
                let dir = temp_dir(&format!("resume-{protocol:?}-{shared}-{stop}"));
                let checkpoints = shared.then(|| Checkpoints::new(&dir, &cfg).unwrap());
                let run = |resume: Option<Part>, stop: Option<usize>| {
                    let mut saved: Option<Part> = None;
                    let mut save = |part: &Part| {
                        saved = Some(part.clone());
                        if Some(part.units.len()) == stop {
                            Err(Error::Cancelled)
                        } else {
                            Ok(())
                        }
                    };
                    let shard = Shard { k: 0, n };
                    // The stopped run on one thread (the stop lands after that unit);
                    // the resumed one on two.
                    let threads = if stop.is_some() { 1 } else { 2 };
                    let out = pollster::block_on(run_shard(
                        &cfg,
                        shard,
                        threads,
                        checkpoints.as_ref(),
                        resume,
                        &mut save,
                        &mut Quiet,
                    ));
                    (out, saved)
                };
                let (stopped, saved) = run(None, Some(stop));
                assert!(
                    matches!(stopped, Err(Error::Cancelled)),
                    "{protocol:?}: {stopped:?}"
                );
                let saved = saved.unwrap();
                assert!(
                    saved.units.len() >= stop && saved.units.len() < mine,
                    "{} of {mine} units saved",
                    saved.units.len()
                );
                // The part crosses as a file, as the CLI writes it.
                let saved: Part =
                    serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
                let (resumed, _) = run(Some(saved), None);
                let first = resumed.unwrap();
                assert_eq!(first.units.len(), mine);
                let other = pollster::block_on(run_shard(
                    &cfg,
                    Shard { k: 1, n },
                    1,
                    checkpoints.as_ref(),
                    None,
                    &mut |_| Ok(()),
                    &mut Quiet,
                ))
                .unwrap();
                let parts = [("part-0".to_string(), first), ("part-1".to_string(), other)];
                assert_eq!(
                    without_time(&merge(&parts).unwrap()),
                    without_time(&whole),
                    "{protocol:?}, stopped after {stop} units, shared checkpoints: {shared}"
                );
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
    }
    // A part of another shard is refused, naming `resume`.
    let cfg = micro(Protocol::Independent);
    let part = pollster::block_on(run_shard(
        &cfg,
        Shard { k: 1, n: 2 },
        1,
        None,
        None,
        &mut |_| Ok(()),
        &mut Quiet,
    ))
    .unwrap();
    let err = pollster::block_on(run_shard(
        &cfg,
        Shard { k: 0, n: 2 },
        1,
        None,
        Some(part),
        &mut |_| Ok(()),
        &mut Quiet,
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("resume") && err.to_string().contains("1/2"),
        "{err}"
    );
}

#[test]
fn shards_are_balanced_and_cover_every_unit_once() {
    let cfg = ExperimentConfig::preset("quick").unwrap();
    let units = experiment::plan::plan(&cfg);
    for n in [1, 2, 3, 7] {
        let a = assign(&cfg, n);
        assert_eq!(a.len(), units.len());
        let mut load = vec![0.0; n];
        for (u, &s) in &a {
            assert!(s < n);
            load[s] += u.work(std::slice::from_ref(&cfg));
        }
        let total: f64 = load.iter().sum();
        let max = load.iter().cloned().fold(0.0, f64::max);
        // No shard holds much more than its share, beyond the largest single unit.
        let largest = units.iter().map(|u| u.work(&cfg)).fold(0.0, f64::max);
        assert!(max <= total / n as f64 + largest, "{n} shards: {load:?}");
    }
}

fn overtrain(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_overtrain"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bad_shards_and_parts_exit_2_naming_the_problem() {
    let dir = temp_dir("bad");
    let config = dir.join("exp.json");
    std::fs::write(
        &config,
        serde_json::to_string(&micro(Protocol::Independent)).unwrap(),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    for bad in ["3/3", "4/2", "x/2", "1", "0/0", "-1/2"] {
        let out = overtrain(&[
            "experiment",
            "--config",
            c,
            "--shard",
            bad,
            "--out",
            "p.json",
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--shard must be K/N"),
            "{}",
            stderr(&out)
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_overtrain"))
        .args([
            "experiment",
            "--config",
            c,
            "--shard",
            "slurm",
            "--out",
            "p.json",
        ])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("SLURM_ARRAY_TASK_ID"),
        "{}",
        stderr(&out)
    );
    // Two shards of this config, and one part of another config.
    let part = |k: usize, config: &str, name: &str| {
        let path = dir.join(name);
        let out = overtrain(&[
            "experiment",
            "--config",
            config,
            "--shard",
            &format!("{k}/2"),
            "--out",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        path.to_str().unwrap().to_string()
    };
    let (p0, p1) = (part(0, c, "p0.json"), part(1, c, "p1.json"));
    let other = dir.join("other.json");
    let mut cfg = micro(Protocol::Independent);
    cfg.seed = 9;
    std::fs::write(&other, serde_json::to_string(&cfg).unwrap()).unwrap();
    let q1 = part(1, other.to_str().unwrap(), "q1.json");
    let merged = dir.join("merged.json");
    let m = merged.to_str().unwrap();
    let out = overtrain(&["merge", "--out", m, &p0, &p1]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = overtrain(&["merge", "--out", m, &p0, &q1]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("q1.json") && stderr(&out).contains("another config"),
        "{}",
        stderr(&out)
    );
    let out = overtrain(&["merge", "--out", m, &p0]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("units are in no part"),
        "{}",
        stderr(&out)
    );
    let out = overtrain(&["merge", "--out", m, &p0, &p1, &p1]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is also in"), "{}", stderr(&out));
    std::fs::write(dir.join("junk.json"), "{\"kind\": 1}").unwrap();
    let out = overtrain(&["merge", "--out", m, dir.join("junk.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("junk.json"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The CLI: a shard stopped by SIGTERM (a preemption: exit 143) or killed outright by
/// SIGKILL after it saved some units, then run again with `--resume`, keeps those units,
/// and its part merges with the other shard's into exactly the unsharded results.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_shard_killed_by_sigterm_or_sigkill_resumes_and_merges_into_the_unsharded_results() {
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};
    let dir = temp_dir("cli-resume");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"batch": 8, "eval_batches": 2,
            "model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_ff": 32, "ctx": 16},
            "pretrain": {"budgets": [81920, 163840, 327680]},
            "perturb": {"gammas": [1.0], "draws": 2},
            "finetune": {"lrs": [0.001, 0.01], "l2": [0.0], "steps": 100, "seeds": 2}}"#,
    )
    .unwrap();
    let cfg = ExperimentConfig::from_json(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let mine = assign(&cfg, 2).values().filter(|&&s| s == 0).count();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let c = path("config.json");
    let out = overtrain(&[
        "experiment",
        "--config",
        &c,
        "--threads",
        "2",
        "--out",
        &path("whole.json"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shard = |k: usize, part: &str, resume: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_overtrain"));
        cmd.args([
            "experiment",
            "--config",
            &c,
            "--threads",
            "1",
            "--shard",
            &format!("{k}/2"),
            "--out",
            part,
        ]);
        if resume {
            cmd.arg("--resume");
        }
        cmd.stderr(std::process::Stdio::piped());
        cmd
    };
    let units = |part: &str| -> usize {
        std::fs::read_to_string(part)
            .ok()
            .and_then(|t| serde_json::from_str::<Part>(&t).ok())
            .map_or(0, |p| p.units.len())
    };
    let other = path("part-1.json");
    assert!(shard(1, &other, false).output().unwrap().status.success());
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        let part = path(&format!("part-0-{signal}.json"));
        let mut child = shard(0, &part, false).spawn().unwrap();
        // Once it has saved a unit: the signal.
        let start = Instant::now();
        while units(&part) == 0 {
            assert!(start.elapsed() < Duration::from_secs(120), "no unit saved");
            assert!(
                child.try_wait().unwrap().is_none(),
                "finished before the signal"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: kill only sends a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, signal) };
        let stopped = child.wait_with_output().unwrap();
        if signal == libc::SIGTERM {
            assert_eq!(
                stopped.status.code(),
                Some(143),
                "{}",
                String::from_utf8_lossy(&stopped.stderr)
            );
        } else {
            assert_eq!(stopped.status.signal(), Some(libc::SIGKILL));
        }
        let kept = units(&part);
        assert!(
            kept >= 1 && kept < mine,
            "signal {signal}: {kept} of {mine} units saved"
        );
        let resumed = shard(0, &part, true).output().unwrap();
        let said = String::from_utf8_lossy(&resumed.stderr);
        assert!(resumed.status.success(), "{said}");
        assert!(
            said.contains(&format!("resuming shard 0/2: {kept} of its units finished")),
            "{said}"
        );
        assert_eq!(units(&part), mine);
        let merged = path(&format!("merged-{signal}.json"));
        let out = overtrain(&["merge", "--out", &merged, &part, &other]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = |p: &str| {
            let mut v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            quiet_host::strip_elapsed(&mut v);
            v.as_object_mut().unwrap().remove("backend");
            v
        };
        assert_eq!(read(&merged), read(&path("whole.json")), "signal {signal}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every unit's job and every kind of output reads back as written (a shard's part holds
/// them as JSON, and the page's workers hand them over as its text), a diverged fine-tuning
/// run included; a job or an output without a field its kind needs is refused, naming it.
#[test]
fn jobs_and_outputs_read_back_as_written() {
    use experiment::{Job, Output, Unit};
    use overtrain::transformer::engine::TrainState;
    for unit in [
        Unit::Stable { budget: 1 },
        Unit::Pretrain { budget: 2 },
        Unit::Perturb { budget: 0 },
        Unit::Finetune {
            budget: 1,
            l2: 1,
            lr: 0,
            seed: 1,
        },
    ] {
        for variant in [0, 2] {
            let job = Job { variant, unit };
            let text = serde_json::to_string(&job).unwrap();
            assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job, "{text}");
        }
    }
    let job: Job = serde_json::from_str(r#"{"budget": 1, "kind": "pretrain"}"#).unwrap();
    assert_eq!(
        job,
        Job {
            variant: 0,
            unit: Unit::Pretrain { budget: 1 }
        }
    );
    let e = serde_json::from_str::<Job>(r#"{"kind": "finetune", "budget": 1, "l2": 0, "lr": 0}"#)
        .unwrap_err();
    assert!(e.to_string().contains("missing field `seed`"), "{e}");

    let state = TrainState {
        params: vec![0.5, -0.25],
        m: vec![1e-3, 0.0],
        v: vec![1e-6, 2e-7],
        step: 3,
    };
    for output in [
        Output::Stable {
            state,
            losses: vec![2.5, 2.25],
            diverged: None,
        },
        Output::Pretrained {
            params: vec![0.1, 0.2],
            base: 1.5,
            losses: vec![3.0],
            diverged: Some(7),
        },
        Output::Perturbed {
            ppl: vec![vec![1.5, 2.5]],
            sharpness: Some(4.0),
        },
        Output::Perturbed {
            ppl: vec![],
            sharpness: None,
        },
        Output::Finetuned {
            run: Some((1.25, 2.5)),
        },
        Output::Finetuned { run: None },
    ] {
        let text = serde_json::to_string(&output).unwrap();
        assert_eq!(
            serde_json::from_str::<Output>(&text).unwrap(),
            output,
            "{text}"
        );
    }
    let e = serde_json::from_str::<Output>(r#"{"kind": "pretrained", "params": [], "losses": []}"#)
        .unwrap_err();
    assert!(e.to_string().contains("missing field `base`"), "{e}");
}
