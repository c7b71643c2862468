// Times a first visit: from navigation to the first linear-lab plot on screen, in headless
// Chromium from the local server (scripts/serve.py, which sends the precompressed files),
// each visit in a fresh browser context (nothing cached, no service worker yet); and a
// repeat visit served by the service worker. Prints medians (ms) and the wasm's transfer
// size. Not a test.
// usage: node bench/first_plot.mjs [N]   (after scripts/serve.sh's build step: needs dist/)
import { startServer, launch } from '../tests/e2e/harness.mjs';

const n = Number(process.argv[2] ?? 7);
const server = await startServer(process.env.SITE ? { dir: process.env.SITE } : {});
const browser = await launch({ webgpu: false });
const firstPlot = (page) => page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 120_000, polling: 'raf' })
  .then(() => page.evaluate(() => performance.now()));
const first = [], repeat = [];
let wasmBytes = null;
for (let i = 0; i < n; i++) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.on('response', async (r) => {
    if (r.url().endsWith('.wasm')) wasmBytes = Number((await r.allHeaders())['content-length']);
  });
  await page.goto(server.url);
  first.push(await firstPlot(page));
  // A repeat visit, served by the service worker (a build without one: skipped).
  if (await page.evaluate(() => navigator.serviceWorker.getRegistration().then(Boolean))) {
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.reload();
    repeat.push(await firstPlot(page));
  }
  await context.close();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(JSON.stringify({
  browser: browser.version(), visits: n, wasm_transfer_bytes: wasmBytes,
  first_plot_median_ms: Math.round(median(first)), repeat_visit_median_ms: repeat.length ? Math.round(median(repeat)) : null,
  first_ms: first.map(Math.round), repeat_ms: repeat.map(Math.round),
}));
await browser.close();
await server.close();
