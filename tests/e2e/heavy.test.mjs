// A heavy linear-lab link (valid, near the 2e11 multiply-add cap) does not start by
// itself: the page shows the estimate and a "Run" button (also when embedded); pressed, the
// run shows a busy state with its elapsed time. Light runs still start by themselves.
import { test, before, after } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';
import { estimateSeconds, AUTO_RUN_MAX_S } from '../../www/work.js';

/** 1.9e11 multiply-adds (the cap is 2e11): about 20 s on this machine's two workers. */
const HEAVY = 'dim=256&hidden=256&pretrain.steps=1000&pretrain.checkpoint_every=250&finetune.steps=90';

/** Counts the linear-lab requests the page sends its workers (before any page script). */
const COUNT_LINEAR = () => {
  globalThis.__linearRequests = 0;
  const Base = globalThis.Worker;
  globalThis.Worker = class extends Base {
    postMessage(m, ...rest) {
      if (m?.type === 'linear') globalThis.__linearRequests++;
      return super.postMessage(m, ...rest);
    }
  };
};

let server, browser, context;
before(async () => {
  server = await startServer();
  browser = await launch({ webgpu: false });
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.addInitScript(COUNT_LINEAR);
});
after(async () => { await browser?.close(); await server?.close(); });

const requests = (page) => page.evaluate(() => globalThis.__linearRequests);
const state = (page) => page.evaluate(() => document.body.dataset.linear);

test('the estimate: the same work as the Rust config, and the default config runs by itself', async () => {
  const page = await context.newPage();
  await page.goto(server.url);
  await page.waitForFunction(() => document.body.dataset.linear === 'done', null, { timeout: 60_000 });
  const work = (c) => page.evaluate(async (c) => (await import('./www/pkg/overtrain.js')).linear_work(c), c);
  const defaults = await page.evaluate(async () => (await import('./www/pkg/overtrain.js')).default_linear_config());
  assert.equal(await work(defaults), 1_241_920_000);
  assert.ok(estimateSeconds(await work(defaults)) < AUTO_RUN_MAX_S, 'the default run starts by itself');
  // Just under the cap a heavy run; just over it, the error names its count.
  const heavy = { ...defaults, dim: 256, hidden: 256, pretrain: { ...defaults.pretrain, steps: 1000, checkpoint_every: 250 }, finetune: { ...defaults.finetune, steps: 90 } };
  assert.ok(await work(heavy) > 1.8e11 && await work(heavy) < 2e11);
  const over = { ...heavy, finetune: { ...heavy.finetune, steps: 100 } };
  const message = await page.evaluate(async (c) => (await import('./www/pkg/overtrain.js')).validate_linear_config(c)?.message, over);
  assert.match(message, /needs 2\.\d+e11 multiply-adds/);
  await page.close();
});

test('a heavy link waits for Run with its estimate; Run shows the elapsed time; a light edit runs by itself', async () => {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  await page.goto(`${server.url}#${HEAVY}`);
  await page.waitForSelector('#run-gate:not([hidden])', { timeout: 60_000 });
  const gate = await page.textContent('#run-gate');
  assert.match(gate, /1\.9 × 10¹¹ multiply-adds: about 63 s of computing/);
  assert.equal(await page.isVisible('#run-heavy'), true);
  await page.waitForTimeout(1500);
  assert.equal(await requests(page), 0, 'nothing started');
  assert.equal(await state(page), 'gated');
  assert.equal(await page.evaluate(() => document.getElementById('plots').dataset.rendered), undefined);
  // Run: it starts, and after a second says how long it has been computing.
  await page.click('#run-heavy');
  await page.waitForFunction(() => /Computing… [2-9] s \(about 63 s estimated\)/.test(document.getElementById('status').textContent), null, { timeout: 15_000 });
  assert.ok(await requests(page) > 0);
  assert.equal(await state(page), 'running');
  assert.equal(await page.isHidden('#run-gate'), true);
  assert.equal(await page.getAttribute('#plots', 'aria-busy'), 'true');
  // Another heavy setting waits again; a light one runs by itself (the heavy run is dropped).
  await page.fill('#f-finetune-steps', '80');
  await page.waitForSelector('#run-gate:not([hidden])');
  assert.equal(await state(page), 'gated');
  const sent = await requests(page);
  await page.fill('#f-dim', '8');
  await page.waitForFunction(() => document.body.dataset.linear === 'done', null, { timeout: 60_000 });
  assert.ok(await requests(page) > sent);
  assert.equal(await page.isHidden('#run-gate'), true);
  assert.match(await page.textContent('#status'), /Computed in \d+ ms/);
  assert.equal(await page.getAttribute('#plots', 'aria-busy'), null);
  // A heavy link followed inside the page (hash change) waits too.
  const before = await requests(page);
  await page.evaluate((h) => { location.hash = h; }, HEAVY);
  await page.waitForSelector('#run-gate:not([hidden])');
  await page.waitForTimeout(500);
  assert.equal(await requests(page), before);
  assert.deepEqual(problems, []);
  await page.close();
});

test('embedded, a heavy link shows the estimate and Run, and the busy state when pressed', async () => {
  const page = await context.newPage();
  await page.setViewportSize({ width: 400, height: 300 });
  await page.goto(`${server.url}#${HEAVY}&embed=1&plots=finetuned`);
  await page.waitForSelector('#run-gate:not([hidden])', { timeout: 60_000 });
  assert.equal(await page.evaluate(() => document.body.classList.contains('embed')), true);
  assert.equal(await page.isVisible('#run-gate .message'), true);
  assert.equal(await page.isVisible('#run-heavy'), true);
  assert.equal(await requests(page), 0);
  await page.click('#run-heavy');
  await page.waitForFunction(() => /Computing… \d+ s/.test(document.getElementById('status').textContent), null, { timeout: 15_000 });
  assert.equal(await page.isVisible('#status'), true, 'the busy state shows in embed mode');
  await page.close();
});
