// The shared worker pool (www/runner.js): both labs use one pool and one WebGPU device, a
// long linear-lab run the page abandons has its workers restarted, and never stops a
// running experiment, whose units run on every worker of the pool.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';

/** Counts the page's workers, the init-gpu requests they get and which of them still hold
 * WebGPU (before any page script). */
const COUNT_WORKERS = () => {
  globalThis.__workers = { created: 0, initGpu: 0, terminated: 0, gpuHolders: 0 };
  const Base = globalThis.Worker;
  globalThis.Worker = class extends Base {
    constructor(...args) { super(...args); globalThis.__workers.created++; }
    postMessage(m, ...rest) {
      if (m?.type === 'init-gpu') { globalThis.__workers.initGpu++; globalThis.__workers.gpuHolders++; this.holdsGpu = true; }
      return super.postMessage(m, ...rest);
    }
    terminate() {
      globalThis.__workers.terminated++;
      if (this.holdsGpu) globalThis.__workers.gpuHolders--;
      return super.terminate();
    }
  };
};

const counts = (page) => page.evaluate(() => ({ ...globalThis.__workers }));
const rendered = (page) => page.evaluate(() => Number(document.getElementById('plots').dataset.rendered || 0));

/** Long linear runs, each replaced by the next after more than 1.5 s (abandoned); waits for
 * the last one's plots. `finetuneSteps`: the long runs' fine-tuning steps (default 200): a
 * test that needs them abandoned makes them long enough to outlast 1.5 s on a fast machine
 * (20,000 steps with 200 fine-tuning steps take about that on 2 cores). */
async function abandonLinearRuns(page, { finetuneSteps = null } = {}) {
  if (finetuneSteps) await page.fill('#f-finetune-steps', finetuneSteps);
  for (const steps of ['20000', '20100']) {
    await page.fill('#f-pretrain-steps', steps);
    // Runs estimated above 2 s wait for "Run".
    await page.waitForSelector('#run-gate:not([hidden])');
    await page.click('#run-heavy');
    await page.waitForTimeout(2000);
  }
  if (finetuneSteps) await page.fill('#f-finetune-steps', '200'); // heavy: waits for Run
  const before = await rendered(page);
  await page.fill('#f-pretrain-steps', '600');
  await page.waitForFunction((c) => Number(document.getElementById('plots').dataset.rendered) > c, before, { timeout: 180_000 });
  assert.match(await page.textContent('#status'), /Computed in/);
  assert.equal(await page.$eval('#f-pretrain-steps', (e) => e.value), '600');
}

test('one pool and one WebGPU device serve both labs; an abandoned linear run leaves the experiment running', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.addInitScript(COUNT_WORKERS);
    const { page, problems } = await openPage(context, new URL('?workers=2', server.url).href);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    const pool = await counts(page);
    assert.equal(pool.created, 2, 'the pool has the size ?workers= asks for');
    assert.equal(pool.initGpu, 1, 'WebGPU is opened once');
    // The transformer lab's probe (two timed steps on a worker) has answered: until then its
    // worker runs a task and is not restarted when a linear run is abandoned.
    await page.waitForFunction(() => document.getElementById('tx-estimate').dataset.tokensPerSecond, null, { timeout: 60_000 });

    // With nothing else running, the abandoned runs' workers are restarted.
    await abandonLinearRuns(page, { finetuneSteps: '2000' });
    const idle = await counts(page);
    assert.ok(idle.created > pool.created, `the abandoned runs' workers were restarted (${pool.created} → ${idle.created} workers made)`);
    assert.equal(idle.gpuHolders, 1, 'one worker holds WebGPU (a restarted worker 0 opens it again)');

    // The transformer lab: a probe and an experiment, on the same pool: its units on both
    // workers.
    await page.click('#tab-transformer');
    await page.selectOption('#tx-preset', 'quick');
    await page.selectOption('#tx-backend', 'cpu');
    await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 60_000 });
    assert.match(await page.textContent('#tx-estimate'), /on 2 workers/);
    await page.click('#tx-start');
    await page.waitForFunction(() => /budget \d\/6[^;]*; budget \d\/6/.test(document.getElementById('tx-status').textContent), null, { timeout: 120_000 });

    // Abandoned linear runs while every worker runs a unit: no worker is restarted; the
    // linear lab's shards run between the units' progress reports.
    await page.click('#tab-linear');
    const busy = await counts(page);
    await abandonLinearRuns(page);

    // The experiment went on through all of it.
    assert.equal(await page.evaluate(() => document.body.dataset.experiment), 'running');
    const before = await page.evaluate(() => Number(document.getElementById('tx-progress').value));
    await page.waitForFunction((p) => Number(document.getElementById('tx-progress').value) > p, before, { timeout: 60_000 });
    const after = await counts(page);
    assert.equal(after.created, busy.created, 'no worker running a unit was restarted');
    assert.equal(after.initGpu, busy.initGpu, 'still one WebGPU device');
    assert.equal(after.gpuHolders, 1);
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
