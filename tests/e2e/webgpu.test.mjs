// The linear lab on WebGPU in headless Chromium (SwiftShader), and the CPU fallback when
// the browser has no WebGPU.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';

const NO_PROBLEMS = { consoleErrors: [], pageErrors: [], foreignRequests: [] };
const rendered = (page) => page.evaluate(() => Number(document.getElementById('plots').dataset.rendered || 0));
const plotCount = (page) => page.$$eval('#linear-lab figure.plot .svg svg', (s) => s.length);

async function micro(page) {
  // Small enough for a software GPU (about 0.2 GFLOP/s in Chromium).
  await page.fill('#f-dim', '8');
  await page.fill('#f-pretrain-steps', '300');
  await page.fill('#f-finetune-steps', '50');
}

test('the page runs the linear lab on WebGPU and says which adapter ran', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const { page, problems } = await openPage(browser, server.url);
    await page.waitForFunction(() => document.body.dataset.webgpu !== undefined, null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.webgpu), 'software', 'SwiftShader is a software adapter');
    assert.match(await page.textContent('#backend-info'), /WebGPU adapter: .*swiftshader.*software GPU: expect slow training/i);
    // Auto keeps a software adapter off this lab, and says why (the wasm's backend rule).
    assert.match(await page.textContent('#backend-info'), /The lab runs on the CPU \(WebAssembly\): \S/);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    await micro(page);
    const before = await rendered(page);
    await page.selectOption('#f-backend', 'gpu');
    await page.waitForFunction(
      (c) => document.body.dataset.backend === 'webgpu' && Number(document.getElementById('plots').dataset.rendered) > c,
      before,
      { timeout: 120_000 },
    );
    assert.doesNotMatch(await page.textContent('#backend-info'), /runs on the CPU/, 'a chosen WebGPU runs there');
    assert.match(await page.textContent('#status'), /Computed in \d+ ms on WebGPU \(google swiftshader, a software GPU; \d+ dispatches\)/);
    assert.equal(await plotCount(page), 4);
    // A change recomputes on WebGPU too.
    const second = await rendered(page);
    await page.fill('#f-perturb-gammas', '0.1');
    await page.waitForFunction((c) => Number(document.getElementById('plots').dataset.rendered) > c, second, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.backend), 'webgpu');
    assert.deepEqual(problems, NO_PROBLEMS);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('without WebGPU the page says so and runs on the CPU', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, server.url);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.webgpu), 'none');
    assert.match(await page.textContent('#backend-info'), /^WebGPU is not available in this browser\. The lab runs on the CPU \(WebAssembly\): \S/, 'one plain sentence, with the reason');
    // The adapter's raw error is behind a disclosure, closed.
    assert.equal(await page.$eval('#backend-info details.technical', (d) => d.open), false);
    assert.match(await page.textContent('#status'), /on the CPU \(WebAssembly/);
    assert.equal(await plotCount(page), 4);
    assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu');
    // Asking for WebGPU keeps the CPU path and the plots.
    await micro(page);
    await page.selectOption('#f-backend', 'gpu');
    const n = await rendered(page);
    await page.fill('#f-perturb-gammas', '0.1');
    await page.waitForFunction((c) => Number(document.getElementById('plots').dataset.rendered) > c, n, { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu');
    assert.equal(await plotCount(page), 4);
    assert.deepEqual(problems, NO_PROBLEMS);
  } finally {
    await browser.close();
    await server.close();
  }
});
