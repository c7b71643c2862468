// Benchmark (not a test): transformer training throughput in headless Chromium, WebGPU
// (SwiftShader without a GPU) and the CPU path (wasm), same run, for the benchmark's
// model sizes (src/transformer/bench.rs).
// usage: [SITE=DIR] node bench/browser_train.mjs [batch] [steps] [model]   (needs dist/:
// scripts/serve.sh's build; SITE=DIR times another site folder, [model] one size, e.g. 0.1M)
import { startServer, launch } from '../tests/e2e/harness.mjs';

const batch = Number(process.argv[2] ?? 8);
const steps = Number(process.argv[3] ?? 2);
const only = process.argv[4] ?? null;
const server = await startServer(process.env.SITE ? { dir: process.env.SITE } : {});
const browser = await launch({ webgpu: true });
try {
  // A same-origin page without the app, so nothing else competes for the CPU.
  const page = await browser.newPage();
  await page.goto(`${server.url}www/`);
  const rows = await page.evaluate(async ({ batch, steps, only }) => {
    globalThis.__overtrainPanic = (m) => { throw new Error(m); };
    const wasm = await import('./pkg/overtrain.js');
    await wasm.default();
    return wasm.bench_transformer(batch, steps, only);
  }, { batch, steps, only });
  console.log(JSON.stringify({ browser: browser.version(), batch, steps }));
  console.log('| model | parameters | WebGPU tokens/s | CPU (wasm) tokens/s | dispatches/step | GPU memory |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.model} | ${r.webgpu.parameters} | ${r.webgpu.tokens_per_second.toFixed(0)} | ${r.cpu_wasm.tokens_per_second.toFixed(0)} | ${r.webgpu.dispatches_per_step} | ${(r.webgpu.memory_bytes / 1e6).toFixed(1)} MB |`);
  }
} finally {
  await browser.close();
  await server.close();
}
