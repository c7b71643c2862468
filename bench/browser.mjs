// Times full linear-lab recomputes in headless Chromium (the page's Web Worker, wasm CPU
// path): changes the seed N times and reads the run time the page reports.
// usage: [SITE=DIR] node bench/browser.mjs [N]   (after scripts/serve.sh's build step: needs dist/;
// SITE=DIR times another site folder, a build before a change)
import { startServer, launch, openPage } from '../tests/e2e/harness.mjs';

const n = Number(process.argv[2] ?? 11);
const server = await startServer(process.env.SITE ? { dir: process.env.SITE } : {});
const browser = await launch();
const { page } = await openPage(browser, server.url);
const rendered = () => page.evaluate(() => Number(document.getElementById('plots').dataset.rendered || 0));
await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 120_000 });
const run = [], roundTrip = [];
for (let i = 1; i <= n; i++) {
  const before = await rendered();
  await page.fill('#f-seed', String(i));
  await page.waitForFunction((c) => Number(document.getElementById('plots').dataset.rendered) > c, before, { timeout: 120_000 });
  const [r, t] = await page.evaluate(() => [Number(document.body.dataset.lastRunMs), Number(document.body.dataset.lastRoundTripMs)]);
  run.push(r);
  roundTrip.push(t);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(JSON.stringify({ browser: browser.version(), runs: n, wasm_run_median_ms: median(run), round_trip_median_ms: median(roundTrip), run_ms: run.map(Math.round) }));
await browser.close();
await server.close();
