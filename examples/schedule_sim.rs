//! The schedule's simulation (`plan::makespan`, not a measurement): the expected time of a
//! preset's experiment on 1, 2, 4 and 8 workers, scaled by its measured one-thread time —
//! natively (idle threads join the running units' steps, at `plan::helped_speedup`, fed by
//! the measured 2-thread speed-up of one model's steps) and in the page (workers without
//! shared memory: no helping).
//!   cargo run --release --example schedule_sim -- PRESET SECONDS_ON_ONE_THREAD
use overtrain::experiment::{plan, ExperimentConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(seconds)) = (args.next(), args.next()) else {
        eprintln!("usage: schedule_sim PRESET SECONDS_ON_ONE_THREAD");
        std::process::exit(2);
    };
    let Some(cfg) = ExperimentConfig::preset(&name) else {
        eprintln!("no preset {name}");
        std::process::exit(2);
    };
    let one: f64 = seconds.parse().expect("seconds: a number");
    let work = plan::work_total(&cfg);
    println!("| workers | native: threads helping the running units | page: workers, no helping |");
    println!("|---|---|---|");
    for workers in [1, 2, 4, 8] {
        let native = plan::makespan_helped(&cfg, workers, 0) / work * one;
        let page = plan::makespan(&cfg, workers, 0) / work * one;
        println!("| {workers} | {native:.1} s | {page:.1} s |");
    }
}
