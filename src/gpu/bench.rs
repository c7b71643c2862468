//! Benchmarks (not tests), shared by the native example `bench_gpu` and the page's
//! `bench_*` wasm entry points so both sides measure the same thing. `now` is a clock in
//! milliseconds (std's Instant natively, performance.now() in the browser).

use super::kernels::{self, MatmulSpec};
use super::{Gpu, GpuError};

/// Square f32 matmul on the GPU: GFLOP/s over `reps` products recorded into one command
/// buffer (one warm-up submit first; the clock stops when a result has been read back).
pub async fn gpu_matmul_gflops(
    gpu: &Gpu,
    n: usize,
    reps: usize,
    now: &dyn Fn() -> f64,
) -> Result<f64, GpuError> {
    let data: Vec<f32> = (0..n * n).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
    let a = gpu.upload(&data, &[n, n])?;
    let b = gpu.upload(&data, &[n, n])?;
    let out = gpu.zeros(&[n, n])?;
    let probe = gpu.zeros(&[1])?;
    let spec = MatmulSpec::new(n, n, n);
    let mut warm = gpu.recorder();
    kernels::matmul(&mut warm, &a, &b, &out, spec)?;
    gpu.submit(warm)?;
    gpu.read(&probe).await?;
    let start = now();
    let mut rec = gpu.recorder();
    for _ in 0..reps {
        kernels::matmul(&mut rec, &a, &b, &out, spec)?;
    }
    gpu.submit(rec)?;
    gpu.read(&probe).await?;
    let ms = now() - start;
    Ok(2.0 * (n as f64).powi(3) * reps as f64 / (ms * 1e6))
}

/// The CPU path's matmul (`cpu::matmul`, one thread) on the same product.
pub fn cpu_matmul_gflops(n: usize, reps: usize, now: &dyn Fn() -> f64) -> f64 {
    let data: Vec<f32> = (0..n * n).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
    let mut out = vec![0.0f32; n * n];
    crate::cpu::matmul(&mut out, &data, &data, n, n, n);
    let start = now();
    for _ in 0..reps {
        crate::cpu::matmul(&mut out, &data, &data, n, n, n);
    }
    let ms = (now() - start).max(1e-3);
    std::hint::black_box(&out);
    2.0 * (n as f64).powi(3) * reps as f64 / (ms * 1e6)
}

/// Repetitions that keep one measurement around a fixed amount of work.
pub fn reps_for(n: usize, flop_budget: f64) -> usize {
    ((flop_budget / (2.0 * (n as f64).powi(3))).round() as usize).clamp(1, 1000)
}
