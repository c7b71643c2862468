//! Benchmark (not a test): matmul GFLOP/s on the GPU (wgpu: lavapipe without a GPU) and on
//! the CPU path, square sizes 64…1024, and one full linear-lab recompute (default config)
//! on both backends, in one run. `cargo run --release --example bench_gpu`
use overtrain::gpu::bench::{cpu_matmul_gflops, gpu_matmul_gflops, reps_for};
use overtrain::gpu::Gpu;
use overtrain::linear::{self, LinearConfig};
use std::time::Instant;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() {
    let t0 = Instant::now();
    let now = move || t0.elapsed().as_secs_f64() * 1e3;
    let gpu = pollster::block_on(Gpu::new()).expect("a GPU adapter (install mesa-vulkan-drivers)");
    let a = &gpu.adapter;
    println!(
        "adapter: {} ({}, {}{})",
        a.name,
        a.backend,
        a.device_type,
        if a.software { ", software" } else { "" }
    );
    println!("| n | GPU GFLOP/s | CPU GFLOP/s (1 thread) |");
    println!("|---|---|---|");
    for n in [64, 128, 256, 512, 1024] {
        let g = median(
            (0..3)
                .map(|_| {
                    pollster::block_on(gpu_matmul_gflops(&gpu, n, reps_for(n, 2e9), &now)).unwrap()
                })
                .collect(),
        );
        let c = median(
            (0..3)
                .map(|_| cpu_matmul_gflops(n, reps_for(n, 2e9), &now))
                .collect(),
        );
        println!("| {n} | {g:.2} | {c:.2} |");
    }
    let config = LinearConfig::default();
    let cpu_ms = median(
        (0..5)
            .map(|_| {
                let s = now();
                linear::run(&config).unwrap();
                now() - s
            })
            .collect(),
    );
    let mut last_stats = None;
    let gpu_ms = median(
        (0..3)
            .map(|_| {
                let s = now();
                let (_, stats) = pollster::block_on(linear::gpu::run_gpu(&config, &gpu)).unwrap();
                last_stats = Some(stats);
                now() - s
            })
            .collect(),
    );
    let stats = last_stats.expect("at least one GPU run");
    println!(
        "linear lab, default config: CPU {cpu_ms:.1} ms (all cores); GPU {gpu_ms:.1} ms, {} dispatches in {} submits",
        stats.dispatches, stats.submits
    );
}
