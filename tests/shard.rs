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
