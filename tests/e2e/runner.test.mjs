// The shared worker pool (www/runner.js): both labs use one pool and one WebGPU device, and
// a long linear-lab run the page abandons never stops a running experiment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';

/** Counts the page's workers and the init-gpu requests they get (before any page script). */
const COUNT_WORKERS = () => {
  globalThis.__workers = { created: 0, initGpu: 0 };
  const Base = globalThis.Worker;
  globalThis.Worker = class extends Base {
    constructor(...args) { super(...args); globalThis.__workers.created++; }
    postMessage(m, ...rest) {
      if (m?.type === 'init-gpu') globalThis.__workers.initGpu++;
      return super.postMessage(m, ...rest);
    }
  };
};

test('one pool and one WebGPU device serve both labs; an abandoned linear run leaves the experiment running', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.addInitScript(COUNT_WORKERS);
    const { page, problems } = await openPage(context, server.url);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    const pool = await page.evaluate(() => ({ ...globalThis.__workers }));
    assert.equal(pool.initGpu, 1, 'WebGPU is opened once');

    // The transformer lab: a probe and an experiment, on the same pool.
    await page.click('#tab-transformer');
    await page.selectOption('#tx-preset', 'quick');
    await page.selectOption('#tx-backend', 'cpu');
    await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 60_000 });
    await page.click('#tx-start');
    await page.waitForFunction(() => Number(document.getElementById('tx-progress').value) > 0.001, null, { timeout: 120_000 });

    // Long linear runs, each replaced by the next after more than 1.5 s (abandoned). (Both
    // are estimated above 2 s, so each waits for "Run".)
    await page.click('#tab-linear');
    const rendered = await page.evaluate(() => Number(document.getElementById('plots').dataset.rendered));
    for (const steps of ['20000', '20100', '600']) {
      await page.fill('#f-pretrain-steps', steps);
      if (steps !== '600') {
        await page.waitForSelector('#run-gate:not([hidden])');
        await page.click('#run-heavy');
      }
      await page.waitForTimeout(2000);
    }
    await page.waitForFunction((c) => Number(document.getElementById('plots').dataset.rendered) > c, rendered, { timeout: 120_000 });
    assert.match(await page.textContent('#status'), /Computed in/);
    assert.equal(await page.$eval('#f-pretrain-steps', (e) => e.value), '600');

    // The experiment went on through all of it.
    assert.equal(await page.evaluate(() => document.body.dataset.experiment), 'running');
    const before = await page.evaluate(() => Number(document.getElementById('tx-progress').value));
    await page.waitForFunction((p) => Number(document.getElementById('tx-progress').value) > p, before, { timeout: 60_000 });
    const after = await page.evaluate(() => ({ ...globalThis.__workers }));
    assert.equal(after.initGpu, 1, 'still one WebGPU device');
    assert.ok(after.created > pool.created, `the abandoned runs' workers were restarted (${pool.created} → ${after.created} workers made)`);
    assert.equal(await page.isHidden('#fatal'), true);
    await page.click('#tab-transformer');
    await page.click('#tx-cancel');
    await page.waitForFunction(() => document.body.dataset.experiment === 'cancelled', null, { timeout: 60_000 });
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
