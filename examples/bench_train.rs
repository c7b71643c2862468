//! Benchmark (not a test): transformer training throughput for about 0.1M, 0.5M and 2M
//! parameters on the GPU (wgpu: lavapipe without a GPU) and on the CPU reference, measured
//! in one run, with dispatches per step and the GPU memory of each config.
//! `cargo run --release --example bench_train [batch] [steps]`
use overtrain::gpu::Gpu;
use overtrain::transformer::bench::{sizes, train_throughput};
use overtrain::transformer::micro::DEFAULT_COUNT;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(8);
    let steps = args.get(1).copied().unwrap_or(4);
    let t0 = Instant::now();
    let now = move || t0.elapsed().as_secs_f64() * 1e3;
    let gpu = pollster::block_on(Gpu::new()).expect("a GPU adapter (install mesa-vulkan-drivers)");
    let a = &gpu.adapter;
    println!(
        "adapter: {} ({}, {}{}); batch {batch} × ctx 64, {steps} timed steps after one warm-up",
        a.name,
        a.backend,
        a.device_type,
        if a.software { ", software" } else { "" }
    );
    println!(
        "| model | parameters | GPU tokens/s | CPU tokens/s | GPU dispatches/step | GPU memory |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, model) in sizes() {
        let g = pollster::block_on(train_throughput(
            Some(&gpu),
            &model,
            batch,
            DEFAULT_COUNT,
            steps,
            &now,
        ))
        .expect("GPU run");
        let c = pollster::block_on(train_throughput(
            None,
            &model,
            batch,
            DEFAULT_COUNT,
            steps,
            &now,
        ))
        .expect("CPU run");
        println!(
            "| {name} (L{} d{} h{}) | {} | {:.0} | {:.0} | {} | {:.1} MB |",
            model.n_layer,
            model.d_model,
            model.n_head,
            g.parameters,
            g.tokens_per_second,
            c.tokens_per_second,
            g.dispatches_per_step.unwrap_or(0),
            g.memory_bytes as f64 / 1e6
        );
    }
}
