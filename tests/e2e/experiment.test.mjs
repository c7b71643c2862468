// The transformer lab in the page (headless Chromium): a micro preset runs to completion
// and draws every plot; every export downloads a valid file; its units on 2 and 4 workers give
// the results of 1 worker, and with micro-batches (idle workers helping the running
// units' steps) those of the native CLI; pause, resume and cancel work on several workers; a lost WebGPU
// device is offered the CPU and the run continues there; invalid fields are named next to
// their control. `?workers=N` sets the pool's size (www/runner.js).
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, WATCH_WORKERS, downloadText, runCli } from './harness.mjs';

const state = (page) => page.evaluate(() => document.body.dataset.experiment);
const progress = (page) => page.evaluate(() => Number(document.getElementById('tx-progress').value));

async function openLab(browser, url, { workers } = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  await context.addInitScript(WATCH_WORKERS);
  const opened = await openPage(context, workers ? new URL(`?workers=${workers}`, url).href : url);
  await opened.page.click('#tab-transformer');
  await opened.page.waitForSelector('#transformer-lab:not([hidden])');
  return opened;
}


test('a micro experiment runs to completion in the page, draws every plot and exports valid files', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const { page, problems } = await openLab(browser, server.url);
    await page.selectOption('#tx-preset', 'micro');
    await page.selectOption('#tx-backend', 'cpu');
    await page.waitForFunction(() => /parameters/.test(document.getElementById('tx-estimate').textContent));
    await page.waitForFunction(() => /about .* tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 60_000 });
    await page.click('#tx-start');
    await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 300_000 });
    assert.match(await page.textContent('#tx-status'), /Done in .* 4 budgets/);
    const plots = await page.$$eval('#tx-plots figure.plot:not([hidden]) .svg svg', (s) => s.length);
    assert.equal(plots, 5, 'every plot is drawn');
    assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length), 4, 'one checkpoint per budget');

    const json = await downloadText(page, '#tx-export-json');
    const results = JSON.parse(json.bytes.toString());
    assert.equal(results.schema_version, 1);
    assert.deepEqual(results.budgets, [4096, 8192, 16384, 32768]);
    for (const name of ['base', 'perturbed', 'finetuned_change', 'finetuned', 'tuned']) {
      const fig = `#tx-plots figure[data-plot=${name}]`;
      const svg = await downloadText(page, `${fig} button[data-export=svg]`);
      assert.match(svg.bytes.toString(), /^<svg[\s\S]*<\/svg>\s*$/, `${name}.svg`);
      const png = await downloadText(page, `${fig} button[data-export=png]`);
      assert.deepEqual([...png.bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], `${name}.png`);
      const csv = (await downloadText(page, `${fig} button[data-export=csv]`)).bytes.toString().trim().split('\n');
      assert.equal(csv.length, 5, `${name}.csv: a header and one row per budget`);
      assert.match(csv[0], /^budget_tokens,/);
      assert.equal(csv[1].split(',')[0], '4096');
      assert.ok(csv.slice(1).every((row) => row.split(',').length === csv[0].split(',').length));
    }
    const ckpt = (await downloadText(page, '#tx-checkpoints button[data-checkpoint="3"]')).bytes;
    const headerLen = Number(ckpt.readBigUInt64LE(0));
    const header = JSON.parse(ckpt.subarray(8, 8 + headerLen).toString());
    assert.deepEqual(header.wte.shape, [256, 8]);
    assert.equal(header.wte.dtype, 'F32');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

/** The workers' unit messages so far (WATCH_WORKERS). */
const pool = (page) => page.evaluate(() => globalThis.__pool.workers.map((w) => ({ ...w })));
const sum = (workers, key) => workers.reduce((s, w) => s + w[key], 0);

/** Runs the Micro preset on the CPU in a page with a pool of `workers` (`protocol` and
 * `microBatches` changed when given); resolves to its results JSON (as the export button
 * saves it) and the workers' unit counts. */
async function runMicro(browser, url, workers, { protocol, microBatches } = {}) {
  const { page, problems } = await openLab(browser, url, { workers });
  await page.selectOption('#tx-preset', 'micro');
  await page.selectOption('#tx-backend', 'cpu');
  if (protocol) await page.selectOption('#x-pretrain-protocol', protocol);
  if (microBatches) await page.fill('#x-micro_batches', String(microBatches));
  await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 60_000 });
  await page.click('#tx-start');
  await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 300_000 });
  const results = JSON.parse((await downloadText(page, '#tx-export-json')).bytes.toString());
  const status = await page.textContent('#tx-status');
  assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  const units = await pool(page);
  await page.context().close();
  return { results, units, status };
}

test('the Micro preset on 2 and 4 workers gives the results of 1 worker, every field but the time', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const one = await runMicro(browser, server.url, 1);
    const two = await runMicro(browser, server.url, 2);
    assert.equal(one.units.length, 1);
    assert.equal(two.units.length, 2);
    assert.ok(two.units.every((w) => w.units > 0), `both workers ran units: ${JSON.stringify(two.units)}`);
    assert.equal(sum(two.units, 'units'), sum(one.units, 'units'), 'the same units');
    assert.match(two.status, /Done in .* on CPU \(2 workers\) · 4 budgets/);
    assert.ok(one.results.elapsed_s > 0 && two.results.elapsed_s > 0);
    const untimed = (r) => ({ ...r, elapsed_s: null });
    assert.deepEqual(untimed(two.results), untimed(one.results));
    assert.equal(JSON.stringify(untimed(two.results)), JSON.stringify(untimed(one.results)), 'the same JSON text');
    const four = await runMicro(browser, server.url, 4);
    assert.equal(four.units.length, 4);
    assert.ok(four.units.filter((w) => w.units > 0).length > 2, `more than 2 workers ran units: ${JSON.stringify(four.units)}`);
    assert.equal(sum(four.units, 'units'), sum(one.units, 'units'), 'the same units');
    assert.equal(JSON.stringify(untimed(four.results)), JSON.stringify(untimed(one.results)), '4 workers: the same JSON text');
  } finally {
    await browser.close();
    await server.close();
  }
});

test('micro-batches: the page (wasm, 2 workers helping each other) and the command line (native, 2 threads) give the same results', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    // wsd: its stable run is a chain of units, so a worker is often without one and helps
    // the running unit with its steps' micro-batches: 3 of the batch's 8 sequences (3, 3,
    // 2), summed in one order whoever computed them.
    const wsd = { protocol: 'wsd', microBatches: 3 };
    const helped = await runMicro(browser, server.url, 2, wsd);
    const inPage = helped.results;
    assert.equal(inPage.config.micro_batches, 3);
    assert.equal(inPage.config.pretrain.protocol, 'wsd');
    assert.ok(sum(helped.units, 'helps') > 0 && sum(helped.units, 'lends') === sum(helped.units, 'helps'), `a worker helped: ${JSON.stringify(helped.units)}`);
    const native = await runCli('experiment', inPage.config, ['--threads', '2']);
    const untimed = (r) => ({ ...r, elapsed_s: null });
    assert.deepEqual(untimed(inPage), untimed(native), 'wasm in the page and the native CLI agree exactly');
    const alone = await runMicro(browser, server.url, 1, wsd);
    assert.equal(sum(alone.units, 'helps'), 0);
    assert.equal(JSON.stringify(untimed(alone.results)), JSON.stringify(untimed(inPage)), '1 worker: the same JSON text');
    // On 4 workers the first stable run starts alone, and two of the three idle workers
    // help it at once: one per micro-batch beyond its own.
    const four = await runMicro(browser, server.url, 4, wsd);
    assert.ok(sum(four.units, 'helps') >= 2, `two helpers on 4 workers: ${JSON.stringify(four.units)}`);
    assert.equal(JSON.stringify(untimed(four.results)), JSON.stringify(untimed(inPage)), '4 workers: the same JSON text');
    // And the split matters: the whole batch (the preset's 1) gives other last bits.
    const whole = await runMicro(browser, server.url, 2, { protocol: 'wsd' });
    assert.equal(sum(whole.units, 'helps'), 0, 'one micro-batch: nothing to share');
    assert.notDeepEqual(untimed(whole.results).raw, untimed(inPage).raw);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('on 2 workers, pause stops every worker, resume continues, cancel stops them all and keeps the finished budgets', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openLab(browser, server.url, { workers: 2 });
    await page.selectOption('#tx-preset', 'quick');
    await page.click('#tx-start');
    // Both workers at work, and the first budget finished.
    await page.waitForFunction(() => globalThis.__pool.workers.every((w) => w.progress > 0) && Number(document.getElementById('tx-plots').dataset.rendered || 0) > 0, null, { timeout: 300_000 });
    await page.click('#tx-pause');
    assert.equal(await state(page), 'paused');
    await page.waitForTimeout(500); // messages in flight settle
    const paused = await progress(page);
    const atPause = await pool(page);
    await page.waitForTimeout(2000);
    assert.equal(await progress(page), paused, 'no progress while paused');
    assert.deepEqual(await pool(page), atPause, 'no worker reports, starts or ends a unit while paused');
    assert.equal(await page.textContent('#tx-pause'), 'Resume');
    assert.match(await page.textContent('#tx-status'), /^Paused\./);
    await page.click('#tx-pause');
    assert.equal(await state(page), 'running');
    await page.waitForFunction((p) => Number(document.getElementById('tx-progress').value) > p, paused, { timeout: 60_000 });
    await page.waitForFunction((before) => globalThis.__pool.workers.every((w, i) => w.progress > before[i].progress), atPause, { timeout: 60_000 });
    // Cancel: every running unit answers "cancelled", and then nothing more comes.
    const beforeCancel = await pool(page);
    await page.click('#tx-cancel');
    await page.waitForFunction(() => document.body.dataset.experiment === 'cancelled', null, { timeout: 60_000 });
    assert.match(await page.textContent('#tx-status'), /Cancelled/);
    const atCancel = await pool(page);
    const cancelled = sum(atCancel, 'cancelled') - sum(beforeCancel, 'cancelled');
    const started = sum(atCancel, 'units') - sum(beforeCancel, 'units');
    assert.ok(cancelled >= 1, 'running units were cancelled');
    assert.equal(sum(atCancel, 'units'), sum(atCancel, 'done') + sum(atCancel, 'cancelled'), `every unit sent has answered (${started} started during the cancel)`);
    await page.waitForTimeout(1000);
    assert.deepEqual(await pool(page), atCancel, 'no worker goes on');
    assert.equal(await page.isDisabled('#tx-start'), false, 'a new experiment can start');
    // The finished budgets are kept, to resume later.
    const rec = await page.evaluate(async () => {
      const { store } = await import(new URL('./www/persist.js', location.href));
      const r = (await store.all()).at(-1);
      return { status: r.status, finished: r.finished, budgets: JSON.parse(r.results).budgets.length };
    });
    assert.equal(rec.status, 'cancelled');
    assert.ok(rec.finished >= 1 && rec.finished === rec.budgets, JSON.stringify(rec));
    await page.waitForSelector('#tx-saved li[data-status=cancelled] button[data-action=resume]');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('on WebGPU the whole experiment runs on worker 0 (one device), and pauses', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const { page, problems } = await openLab(browser, server.url, { workers: 2 });
    await page.selectOption('#tx-preset', 'micro');
    // A tiny experiment: SwiftShader trains at a few hundred tokens/s.
    await page.evaluate(() => {
      const c = globalThis.__overtrainLab.config();
      Object.assign(c, { eval_batches: 1 });
      Object.assign(c.pretrain, { budgets: [1024, 2048] });
      Object.assign(c.perturb, { gammas: [1], draws: 1 });
      Object.assign(c.finetune, { steps: 4, seeds: 1, lrs: [0.001] });
      globalThis.__overtrainLab.setState({ config: c });
    });
    await page.selectOption('#tx-backend', 'gpu');
    await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 120_000 });
    assert.match(await page.textContent('#tx-backend-info'), /^Runs on WebGPU/);
    assert.doesNotMatch(await page.textContent('#tx-estimate'), /workers/, 'one device: no pool in the estimate');
    await page.click('#tx-start');
    await page.waitForFunction(() => Number(document.getElementById('tx-progress').value) > 0, null, { timeout: 120_000 });
    await page.click('#tx-pause');
    // The worker pauses at its next progress report, which on SwiftShader (on a busy
    // machine) may come seconds later (one report is posted on the way): wait for a quiet
    // 3 s first.
    let paused = await progress(page);
    for (let i = 0; i < 10; i++) {
      await page.waitForTimeout(3000);
      const now = await progress(page);
      if (now === paused) break;
      paused = now;
    }
    await page.waitForTimeout(3000);
    assert.equal(await progress(page), paused, 'no progress while paused');
    await page.click('#tx-pause');
    await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 300_000 });
    assert.match(await page.textContent('#tx-status'), /Done in .* on GPU: .* · 2 budgets/);
    assert.doesNotMatch(await page.textContent('#tx-status'), /workers/);
    assert.equal(sum(await pool(page), 'units'), 0, 'no units: the whole experiment in one worker');
    assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length), 2);
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('when the WebGPU device is lost mid-run, the page offers the CPU and continues from the finished budgets', async (t) => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const { page, problems } = await openLab(browser, server.url);
    await page.selectOption('#tx-preset', 'micro');
    await page.evaluate(() => {
      const c = globalThis.__overtrainLab.config();
      Object.assign(c, { eval_batches: 1 });
      Object.assign(c.pretrain, { budgets: [1024, 2048, 4096] });
      Object.assign(c.perturb, { gammas: [1], draws: 1 });
      Object.assign(c.finetune, { steps: 4, seeds: 1, lrs: [0.001] });
      globalThis.__overtrainLab.setState({ config: c });
    });
    await page.selectOption('#tx-backend', 'gpu');
    await page.waitForFunction(() => /tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 120_000 });
    // The device lives in a worker, inside the wasm: remember it as it records work, so
    // the test can destroy it (what a driver reset or a browser's GPU watchdog does).
    for (const w of page.workers()) {
      await w.evaluate(() => {
        if (!globalThis.GPUDevice) return;
        const record = GPUDevice.prototype.createCommandEncoder;
        GPUDevice.prototype.createCommandEncoder = function (...args) {
          globalThis.__device = this;
          return record.apply(this, args);
        };
      });
    }
    await page.click('#tx-start');
    await page.waitForFunction(() => document.querySelectorAll('#tx-checkpoints button').length >= 1, null, { timeout: 300_000 });
    let destroyed = 0;
    for (const w of page.workers()) {
      destroyed += await w.evaluate(() => (globalThis.__device ? (globalThis.__device.destroy(), 1) : 0));
    }
    assert.equal(destroyed, 1, 'one device, in one worker');
    await page.waitForSelector('#tx-gpu-failure:not([hidden])', { timeout: 120_000 });
    assert.match(await page.textContent('#tx-gpu-failure .message'), /^WebGPU failed: the GPU device was lost/);
    assert.match(await page.textContent('#tx-status'), /WebGPU failed; the plots show the budgets that finished/);
    const kept = await page.$$eval('#tx-checkpoints button', (b) => b.length);
    assert.ok(kept >= 1 && kept < 3, `the finished budgets are kept (${kept})`);
    t.diagnostic(`${await page.textContent('#tx-gpu-failure .message')}; ${kept} budget(s) kept`);
    await page.click('#tx-gpu-continue');
    await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 300_000 });
    assert.equal(await page.inputValue('#tx-backend'), 'cpu');
    assert.match(await page.textContent('#tx-status'), /Done in .* 3 budgets/);
    assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length), 3);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.foreignRequests, []);
    // Chromium reports the lost device on the console; nothing else may appear there.
    for (const e of problems.consoleErrors) assert.match(e, /destroy|lost/i, e);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('invalid experiment fields are named next to their control and block the start', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await openLab(browser, server.url);
    for (const [id, value, pattern] of [
      ['#x-pretrain-budgets', '2097152, 1048576', /must increase/],
      ['#x-perturb-gammas', '0.5, -1', /\(0, 100\]/],
      ['#x-finetune-lrs', '', /must not be empty/],
      ['#x-finetune-task', 'user', /needs the text/],
    ]) {
      await page.selectOption('#tx-preset', 'micro');
      if (id === '#x-finetune-task') await page.selectOption(id, value);
      else { await page.fill(id, value); await page.dispatchEvent(id, 'change'); }
      const errorId = id === '#x-finetune-task' ? '#x-finetune-user_text-error' : `${id}-error`;
      await page.waitForSelector(errorId);
      assert.match(await page.textContent(errorId), pattern, id);
      assert.equal(await page.isDisabled('#tx-start'), true);
    }
  } finally {
    await browser.close();
    await server.close();
  }
});

test("a preset's recorded run is drawn dashed before any run, and only for exactly its config", async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openLab(browser, server.url);
    const shown = () => page.$$eval('#tx-plots figure.plot:not([hidden]) .svg svg', (s) => s.map((svg) => svg.outerHTML));
    for (const preset of ['quick', 'paper']) {
      await page.selectOption('#tx-preset', preset);
      await page.waitForFunction(() => !document.getElementById('tx-recorded-note').hidden);
      const svgs = await shown();
      assert.equal(svgs.length, 5, `${preset}: every plot`);
      assert.ok(svgs.every((s) => s.includes('(recorded)')), `${preset}: recorded curves, labelled`);
      assert.equal(await page.isHidden('#tx-exports'), true, 'a recorded run is not the user\'s to export');
      const table = await page.textContent('#tx-plots figure[data-plot=base] details.table-view');
      const recorded = await (await fetch(new URL(`www/recorded/${preset}.json`, server.url))).json();
      assert.ok(table.includes(String(recorded.budgets[0])), `${preset}: the table holds the recorded numbers`);
    }
    // Another config (one field changed) has no recorded run.
    await page.fill('#x-finetune-seeds', '2');
    await page.dispatchEvent('#x-finetune-seeds', 'change');
    await page.waitForFunction(() => document.getElementById('tx-recorded-note').hidden);
    assert.equal((await shown()).length, 0);
    await page.selectOption('#tx-preset', 'micro');
    assert.equal((await shown()).length, 0, 'micro has no recorded run');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
