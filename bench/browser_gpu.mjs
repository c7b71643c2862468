// Benchmark (not a test): WebGPU in headless Chromium (SwiftShader without a GPU).
// 1. matmul GFLOP/s, square sizes 64…1024, on WebGPU and on the CPU path (wasm), same run;
// 2. one full linear-lab recompute (default config) in the page on WebGPU and on the CPU.
// usage: node bench/browser_gpu.mjs   (needs dist/: run scripts/serve.sh's build first)
import { startServer, launch, openPage } from '../tests/e2e/harness.mjs';

const server = await startServer();
const browser = await launch({ webgpu: true });
try {
  // A same-origin page without the app, so nothing else competes for the CPU.
  const bare = await browser.newPage();
  await bare.goto(`${server.url}www/`);
  const matmul = await bare.evaluate(async (sizes) => {
    globalThis.__overtrainPanic = (m) => { throw new Error(m); };
    const wasm = await import('./pkg/overtrain.js');
    await wasm.default();
    const rows = [];
    for (const n of sizes) {
      const [gpu, cpu] = await wasm.bench_matmul(n);
      rows.push({ n, webgpu_gflops: +gpu.toFixed(3), cpu_wasm_gflops: +cpu.toFixed(3) });
    }
    return rows;
  }, [64, 128, 256, 512, 1024]);
  console.log(JSON.stringify({ browser: browser.version(), matmul }));
  await bare.close();

  const { page } = await openPage(browser, server.url);
  const rendered = () => page.evaluate(() => Number(document.getElementById('plots').dataset.rendered || 0));
  await page.waitForFunction(() => document.body.dataset.backend === 'cpu', null, { timeout: 120_000 });
  const cpu = await page.evaluate(() => ({ ms: Number(document.body.dataset.lastRoundTripMs), status: document.getElementById('status').textContent }));
  const before = await rendered();
  await page.selectOption('#f-backend', 'gpu');
  await page.waitForFunction((c) => document.body.dataset.backend === 'webgpu' && Number(document.getElementById('plots').dataset.rendered) > c, before, { timeout: 600_000 });
  const gpu = await page.evaluate(() => ({ ms: Number(document.body.dataset.lastRoundTripMs), status: document.getElementById('status').textContent }));
  console.log(JSON.stringify({ linear_lab_default: { cpu, gpu } }));
} finally {
  await browser.close();
  await server.close();
}
