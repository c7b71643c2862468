// What a real browser does to a long run, in headless Chromium: storage that is missing,
// throws or is full; a computation worker that dies mid-unit (once, and again and again),
// or while it helps another's unit with its micro-batches;
// two tabs running experiments at once.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, WATCH_WORKERS, poolWorker } from './harness.mjs';

// Micro with 64× its budgets: about 8 s on one worker here, long enough to act mid-run.
const LONGER_MICRO = '#lab=transformer&preset=micro&tx.model.d_model=8&tx.model.d_ff=16&tx.model.ctx=16&tx.batch=8&tx.eval_batches=2'
  + '&tx.pretrain.budgets=262144,524288,1048576,2097152&tx.perturb.draws=2&tx.finetune.steps=20&tx.finetune.seeds=2';

/** A new page of `context` at `path`, recording page errors. */
async function open(context, base, path) {
  const page = await context.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(new URL(path, base).href);
  await page.waitForSelector('#tx-start:not([disabled])');
  return { page, pageErrors };
}

const experiment = (page) => page.evaluate(() => document.body.dataset.experiment);
const waitFor = (page, state, timeout = 300_000) => page.waitForFunction((s) => document.body.dataset.experiment === s, state, { timeout });

/** The saved records of the page's origin (www/persist.js). */
const records = (page) => page.evaluate(async () => {
  const { store } = await import(new URL('./www/persist.js', location.href));
  return (await store.all()).map((r) => ({ id: r.id, status: r.status, finished: r.finished, results: r.results, checkpoints: r.checkpoints.length }));
});

/** Results without their wall time, which differs from run to run. */
const numbers = (text) => {
  const r = JSON.parse(text);
  delete r.elapsed_s;
  return r;
};

/** Makes the worker `w` die as an uncaught error does (it is mid-computation: the error
 * fires at its next yield, within 50 ms). */
const kill = (w) => w.evaluate(() => { setTimeout(() => { throw new Error('simulated: the worker ran out of memory'); }); });

/** Waits until the page's progress passes `frac` in a budget's pre-training or later. */
const progressPast = (page, frac) => page.waitForFunction((f) => Number(document.getElementById('tx-progress').value) > f, frac, { timeout: 120_000 });

test('without IndexedDB, or with one that throws on open, the labs run and the page says once that nothing is kept', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const breakages = {
      missing: () => Object.defineProperty(globalThis, 'indexedDB', { value: undefined, configurable: true }),
      throwing: () => { IDBFactory.prototype.open = function open() { throw new DOMException('The operation is insecure.', 'SecurityError'); }; },
    };
    for (const [name, breakage] of Object.entries(breakages)) {
      const context = await browser.newContext();
      await context.addInitScript(breakage);
      const { page, pageErrors } = await open(context, server.url, '?workers=2#lab=transformer&preset=micro');
      await page.selectOption('#tx-preset', 'micro');
      await page.waitForSelector('#tx-storage:not([hidden])');
      assert.match(await page.textContent('#tx-storage'), /not kept in this browser: this browser does not let the page keep data/, name);
      assert.match(await page.textContent('#tx-saved'), /Nothing is kept/, name);
      await page.evaluate(() => {
        globalThis.__notices = 0;
        new MutationObserver(() => globalThis.__notices++).observe(document.getElementById('tx-storage'), { childList: true, characterData: true, subtree: true, attributes: true });
      });
      for (let run = 0; run < 2; run++) {
        await page.click('#tx-start');
        await waitFor(page, 'done');
        assert.equal(await page.$$eval('#tx-plots figure.plot:not([hidden]) .svg svg', (s) => s.length), 5, `${name}: plotted`);
        assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length), 4, `${name}: checkpoints to download`);
      }
      assert.equal(await page.evaluate(() => globalThis.__notices), 0, `${name}: said once, not again for each run`);
      assert.equal(await page.isHidden('#fatal'), true, `${name}: no internal error`);
      assert.deepEqual(pageErrors, [], name);
      await context.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a full storage quota: the run goes on, the page says so once, and what was saved reads back whole', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext();
    const { page, pageErrors } = await open(context, server.url, `?workers=2${LONGER_MICRO}`);
    // A real quota (Chromium's own check): room for the first writes of the record, not
    // for all four budgets' weights.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(server.url).origin, quotaSize: 150_000 });
    await page.click('#tx-start');
    await waitFor(page, 'done');
    assert.match(await page.textContent('#tx-storage'), /not kept in this browser: the browser's storage for this page is full/);
    assert.equal(await page.isHidden('#fatal'), true, 'no internal error');
    assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length), 4, 'every checkpoint can still be downloaded');
    const saved = await records(page);
    assert.equal(saved.length, 1, 'the record was written before the quota was reached');
    const [rec] = saved;
    assert.ok(rec.finished < 4, `the last complete write holds fewer budgets (${rec.finished})`);
    // What is read back is one whole earlier state: its results hold exactly its finished
    // budgets, and it can be shown and resumed.
    if (rec.results) {
      const results = JSON.parse(rec.results);
      assert.equal(results.budgets.length, rec.finished);
    }
    await page.reload();
    await page.waitForSelector('#tx-saved li[data-status=running] button[data-action=resume]');
    assert.match(await page.textContent('#tx-saved li[data-status=running]'), new RegExp(` ${rec.finished}/4 budgets · unfinished`));
    assert.deepEqual(pageErrors, []);
    await context.close();
  } finally {
    await browser.close();
    await server.close();
  }
});

/**
 * Runs the experiment of `path` on a fresh page twice — undisturbed, then while
 * `disturb(page)` acts on the second run — and checks that both are saved as done with the
 * same results, number for number, with no internal error; then `check({page, pool,
 * disturbed})` with the pool's workers as WATCH_WORKERS counted them and the second run's
 * record.
 */
async function cleanThenDisturbed(path, disturb, check) {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext();
    await context.addInitScript(WATCH_WORKERS);
    const { page, pageErrors } = await open(context, server.url, path);
    await page.click('#tx-start');
    await waitFor(page, 'done');
    await page.waitForSelector('#tx-saved li[data-status=done]'); // its last write follows "done"
    const clean = (await records(page))[0];
    await page.click('#tx-start');
    await disturb(page);
    await waitFor(page, 'done');
    await page.waitForFunction(() => document.querySelectorAll('#tx-saved li[data-status=done]').length === 2, null, { timeout: 10_000 });
    const disturbed = (await records(page)).find((r) => r.id !== clean.id);
    assert.equal(disturbed.status, 'done');
    assert.deepEqual(numbers(disturbed.results), numbers(clean.results), 'the same results, number for number');
    assert.equal(await page.isHidden('#fatal'), true, 'no internal error');
    assert.deepEqual(pageErrors, []);
    await check({ page, pool: await page.evaluate(() => globalThis.__pool.workers), disturbed });
    await context.close();
  } finally {
    await browser.close();
    await server.close();
  }
}

test('a worker that dies mid-unit is replaced, and its unit runs again to the same results', async () => {
  await cleanThenDisturbed(`?workers=2${LONGER_MICRO}`, async (page) => {
    await progressPast(page, 0.15);
    await kill(page.workers()[0]);
  }, async ({ page, pool }) => {
    assert.equal(pool.length, 3, 'one worker replaced');
    const died = pool.filter((w) => w.units > w.done + w.cancelled);
    assert.equal(died.length, 1, `the replaced worker died running a unit: ${JSON.stringify(pool)}`);
    assert.match(await page.textContent('#tx-status'), /^Done in/);
  });
});

test('a worker that dies while helping a unit with its micro-batches: the unit computes them and the results are the same', async () => {
  // wsd's stable run is a chain: from the start, one worker runs it and the other helps.
  let helper = null;
  await cleanThenDisturbed(`?workers=2${LONGER_MICRO}&tx.pretrain.protocol=wsd&tx.micro_batches=4`, async (page) => {
    await page.waitForFunction(() => globalThis.__pool.workers.some((w) => w.helping !== null), null, { timeout: 60_000 });
    helper = await page.evaluate(() => globalThis.__pool.workers.findIndex((w) => w.helping !== null));
    await kill(await poolWorker(page, helper));
  }, ({ pool, disturbed }) => {
    assert.equal(pool.length, 3, `the helper was replaced: ${JSON.stringify(pool)}`);
    assert.ok(pool[helper].helps > pool[helper].cancelled, `the killed worker was helping: ${JSON.stringify(pool)}`);
    assert.ok(pool[2].helps > 0, `the new worker helped too: ${JSON.stringify(pool)}`);
    assert.equal(JSON.parse(disturbed.results).config.micro_batches, 4);
  });
});

test('a unit that takes its worker down three times stops the run, naming it and memory, and keeps the finished budgets', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext();
    await context.addInitScript(WATCH_WORKERS);
    const { page, pageErrors } = await open(context, server.url, `?workers=1${LONGER_MICRO}`);
    await page.click('#tx-start');
    const deadline = Date.now() + 120_000;
    while (!(await records(page)).some((r) => r.finished >= 1)) {
      assert.ok(Date.now() < deadline, 'a budget finishes');
      await page.waitForTimeout(100);
    }
    for (let death = 1; death <= 3; death++) {
      // The worker now running the unit (the first, then each replacement) reports
      // progress, then dies.
      const index = death - 1;
      await page.waitForFunction((i) => globalThis.__pool.workers[i]?.progress > 0 && globalThis.__pool.workers.length === i + 1, index, { timeout: 60_000 });
      await kill(page.workers().at(-1));
      if (death < 3) await page.waitForFunction((n) => globalThis.__pool.workers.length === n, death + 1, { timeout: 60_000 });
    }
    await waitFor(page, 'failed', 60_000);
    const status = await page.textContent('#tx-status');
    assert.match(status, /budget \d\/4: [a-z-]+.*: it stopped its worker 3 times .*memory/, status);
    assert.equal(await page.isHidden('#fatal'), true, 'not an internal error');
    await page.waitForSelector('#tx-saved li[data-status=failed]');
    const [rec] = await records(page);
    assert.equal(rec.status, 'failed');
    assert.ok(rec.finished >= 1, 'the finished budgets are kept');
    assert.ok(await page.$$eval('#tx-plots figure.plot:not([hidden]) .svg svg', (s) => s.length) > 0, 'and plotted');
    assert.deepEqual(pageErrors, []);
    await context.close();
  } finally {
    await browser.close();
    await server.close();
  }
});

test('on WebGPU, a worker 0 that dies is replaced and the experiment goes on from its finished budgets to the same results', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const context = await browser.newContext();
    await context.addInitScript(WATCH_WORKERS);
    const { page, pageErrors } = await open(context, server.url, '?workers=1#lab=transformer&preset=micro');
    await page.selectOption('#tx-preset', 'micro');
    // A tiny experiment: SwiftShader trains slowly.
    await page.evaluate(() => {
      const c = globalThis.__overtrainLab.config();
      Object.assign(c, { eval_batches: 1 });
      Object.assign(c.pretrain, { budgets: [1024, 2048, 3072] });
      Object.assign(c.perturb, { gammas: [1], draws: 1 });
      Object.assign(c.finetune, { steps: 4, seeds: 1, lrs: [0.001] });
      globalThis.__overtrainLab.setState({ config: c });
    });
    await page.selectOption('#tx-backend', 'gpu');
    await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 120_000 });
    await page.click('#tx-start');
    await waitFor(page, 'done');
    await page.waitForSelector('#tx-saved li[data-status=done]');
    const clean = (await records(page))[0];
    await page.click('#tx-start');
    const deadline = Date.now() + 200_000;
    while (!(await records(page)).some((r) => r.id !== clean.id && r.finished >= 1)) {
      assert.ok(Date.now() < deadline, 'a budget finishes');
      await page.waitForTimeout(100);
    }
    assert.equal(await experiment(page), 'running', 'killed mid-run');
    await kill(page.workers()[0]);
    await waitFor(page, 'done');
    await page.waitForFunction(() => document.querySelectorAll('#tx-saved li[data-status=done]').length === 2, null, { timeout: 10_000 });
    const pool = await page.evaluate(() => globalThis.__pool.workers);
    assert.equal(pool.length, 2, 'worker 0 replaced');
    assert.deepEqual(pool.map((w) => w.experiments), [2, 1], 'the experiment started again on the new worker');
    const disturbed = (await records(page)).find((r) => r.id !== clean.id);
    assert.deepEqual(numbers(disturbed.results), numbers(clean.results), 'the same results, number for number');
    assert.match(await page.textContent('#tx-status'), /^Done in .* on GPU/);
    assert.equal(await page.isHidden('#fatal'), true, 'no internal error');
    assert.deepEqual(pageErrors, []);
    await context.close();
  } finally {
    await browser.close();
    await server.close();
  }
});

test('two tabs run experiments at once and each keeps its own saved run; a closed tab\'s run becomes resumable in the other', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext();
    const a = await open(context, server.url, `?workers=1${LONGER_MICRO}`);
    const b = await open(context, server.url, `?workers=1${LONGER_MICRO}`);
    await a.page.click('#tx-start');
    await b.page.click('#tx-start');
    // While both run, each lists the other's run as running elsewhere: no Resume, no Delete.
    for (const { page } of [a, b]) {
      await page.waitForSelector('#tx-saved li[data-status=elsewhere]', { timeout: 60_000 });
      assert.match(await page.textContent('#tx-saved li[data-status=elsewhere]'), /running in another tab/);
      assert.equal(await page.$$eval('#tx-saved li[data-status=elsewhere] button:is([data-action=resume], [data-action=delete])', (x) => x.length), 0);
    }
    await waitFor(a.page, 'done');
    await waitFor(b.page, 'done');
    // (Each tab's last write follows its "done".)
    for (const { page } of [a, b]) {
      await page.waitForFunction(() => document.querySelectorAll('#tx-saved li[data-status=done]').length === 2, null, { timeout: 10_000 });
    }
    const saved = await records(a.page);
    assert.equal(saved.length, 2);
    assert.notEqual(saved[0].id, saved[1].id);
    for (const rec of saved) {
      assert.equal(rec.status, 'done');
      assert.equal(rec.checkpoints, 4);
    }
    assert.deepEqual(numbers(saved[0].results), numbers(saved[1].results), 'the same config gives the same results in either tab');
    // A tab closed mid-run: its record becomes resumable in the other, which resumes it.
    await a.page.click('#tx-start');
    await progressPast(a.page, 0.1);
    await b.page.waitForSelector('#tx-saved li[data-status=elsewhere]', { timeout: 30_000 });
    await a.page.close();
    await b.page.waitForSelector('#tx-saved li[data-status=running] button[data-action=resume]', { timeout: 30_000 });
    await b.page.click('#tx-saved li[data-status=running] button[data-action=resume]');
    await waitFor(b.page, 'done');
    await b.page.waitForFunction(() => document.querySelectorAll('#tx-saved li[data-status=done]').length === 3, null, { timeout: 10_000 });
    const after = await records(b.page);
    assert.equal(after.length, 3);
    assert.deepEqual(after.map((r) => r.status), ['done', 'done', 'done']);
    assert.deepEqual(numbers(after[2].results), numbers(saved[0].results), 'the resumed run gives the same results');
    assert.equal(await experiment(b.page), 'done');
    assert.deepEqual([...a.pageErrors, ...b.pageErrors], []);
    await context.close();
  } finally {
    await browser.close();
    await server.close();
  }
});
