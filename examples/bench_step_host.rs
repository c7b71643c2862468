//! Benchmark (not a test): the host (CPU) time to prepare and submit one training step of
//! the 0.1M model on the GPU, without the GPU's own time: the step's values written and its
//! programs encoded and submitted under the clock, then the device waited on outside it.
//! Medians over the timed steps, after warm-up steps. Reported as this thread's CPU time —
//! the host's work, which other processes on a busy machine hardly change; lavapipe
//! computes on threads of its own — and as wall time, which on lavapipe also includes
//! waiting in `submit` for the queue.
//! `cargo run --release --example bench_step_host [steps]`
use overtrain::gpu::Gpu;
use overtrain::transformer::bench::sizes;
use overtrain::transformer::gpu::GpuModel;
use overtrain::transformer::optim::{Hyper, StepValues};
use std::time::Instant;

/// This thread's CPU time in µs (Linux); recording and submitting run on the calling thread.
fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let gpu = pollster::block_on(Gpu::new()).expect("a GPU adapter (install mesa-vulkan-drivers)");
    let (name, cfg) = sizes().remove(0);
    let batch = 8;
    let model = GpuModel::new(&gpu, &cfg, batch, 1).expect("the model fits");
    let n = batch * cfg.ctx;
    let x: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    let y: Vec<u8> = (0..n).map(|i| (i * 13 % 251) as u8).collect();
    model.write_batch(&gpu, &x, &y).expect("batch");
    let h = Hyper {
        weight_decay: 0.1,
        grad_clip: 1.0,
        l2: 0.0,
        sam_rho: 0.0,
    };
    let dispatches = model.dispatches(false).total();
    let wait = || {
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .expect("poll")
    };
    let (mut micros, mut cpu) = (Vec::new(), Vec::new());
    for step in 0..steps + 10 {
        let c0 = thread_cpu_us();
        let t0 = Instant::now();
        let values = StepValues::new(step, step % 16, 1e-3, &h, 0.0);
        model.run_step(&gpu, &values, false).expect("step");
        let us = t0.elapsed().as_secs_f64() * 1e6;
        let c = thread_cpu_us() - c0;
        wait();
        if step >= 10 {
            micros.push(us);
            cpu.push(c);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (median, cpu) = (median(&mut micros), median(&mut cpu));
    println!(
        "adapter: {}; model {name} ({} layers, d {}), batch {batch}: host time to prepare and \
         submit a training step, median of {steps}: {cpu:.0} µs of CPU time per step, {:.1} µs \
         per dispatch ({dispatches} dispatches); wall {median:.0} µs",
        gpu.adapter.name,
        cfg.n_layer,
        cfg.d_model,
        cpu / dispatches as f64
    );
}
