// Every failure reaches the page as a typed error {kind, message, field}: the worker
// forwards the wasm's errors by kind (www/protocol.js), and the page decides by the kind —
// a saved experiment that cannot be resumed is said so (not "WebGPU failed"), an invalid
// config is shown next to its field.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, launch, openPage } from './harness.mjs';

/** The Quick preset's recorded results: as a saved record keeps them (text), and as the
 * page passes them to a worker (an object). */
const QUICK_RESULTS_TEXT = fs.readFileSync(new URL('../../docs/results/quick/results.json', import.meta.url), 'utf8');
const QUICK_RESULTS = JSON.parse(QUICK_RESULTS_TEXT);

/** Sends one request (built by www/protocol.js in the page) to a fresh worker; resolves to
 * its first final answer. `initGpu`: open WebGPU first; `cancelAfterProgress`: cancel at
 * the first progress message. */
function ask(page, { make, args, initGpu = false, cancelAfterProgress = false }) {
  return page.evaluate(async ({ make, args, initGpu, cancelAfterProgress }) => {
    const { MSG, request } = await import(new URL('./www/protocol.js', location.href));
    const worker = new Worker(new URL('./www/worker.js', location.href), { type: 'module' });
    const answer = await new Promise((resolve) => {
      worker.onerror = (e) => resolve({ type: 'worker-failed', message: e.message });
      worker.onmessage = (e) => {
        const m = e.data;
        if (m.type === MSG.GPU) worker.postMessage(request[make](1, ...args));
        else if (m.type === MSG.EXP_PROGRESS && cancelAfterProgress) worker.postMessage(request.cancel());
        else if ([MSG.ERROR, MSG.PANIC, MSG.EXP_DONE, MSG.LINEAR_RESULT, MSG.TRAINED].includes(m.type)) resolve(m);
      };
      if (initGpu) worker.postMessage(request.initGpu());
      else worker.postMessage(request[make](1, ...args));
    });
    worker.terminate();
    return answer;
  }, { make, args, initGpu, cancelAfterProgress });
}

test('the worker forwards each kind of error as {type: error, id, error: {kind, message, field}}', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, server.url);
    const presets = await page.evaluate(async () => {
      const wasm = await import(new URL('./www/pkg/overtrain.js', location.href));
      await wasm.default(); // the page may still be loading it: initialise (once) before use
      return wasm.experiment_presets();
    });
    const micro = presets.micro;

    // config: an invalid field, named.
    const bad = { ...presets.micro, model: { ...presets.micro.model, d_model: 30, n_head: 4 } };
    const config = await ask(page, { make: 'experiment', args: [bad, 'cpu', null] });
    assert.equal(config.type, 'error', JSON.stringify(config));
    assert.equal(config.id, 1);
    assert.equal(config.error.kind, 'config');
    assert.equal(config.error.field, 'model.d_model');
    assert.ok(config.error.message.length > 0);

    // data: resuming with saved results of another config (the Quick preset's recorded run).
    const data = await ask(page, { make: 'experiment', args: [micro, 'cpu', QUICK_RESULTS] });
    assert.equal(data.type, 'error', JSON.stringify(data));
    assert.equal(data.error.kind, 'data', JSON.stringify(data.error));
    assert.match(data.error.field ?? '', /^resume/);

    // gpu: a WebGPU run in a worker without a device.
    const linear = await page.evaluate(async () => {
      const wasm = await import(new URL('./www/pkg/overtrain.js', location.href));
      await wasm.default(); // the page may still be loading it: initialise (once) before use
      return wasm.default_linear_config();
    });
    const gpu = await ask(page, { make: 'linear', args: [linear, 'gpu'] });
    assert.equal(gpu.type, 'error', JSON.stringify(gpu));
    assert.equal(gpu.error.kind, 'gpu', JSON.stringify(gpu.error));

    // cancelled: the experiment's host said stop.
    const cancelled = await ask(page, { make: 'experiment', args: [micro, 'cpu', null], cancelAfterProgress: true });
    assert.equal(cancelled.type, 'error', JSON.stringify(cancelled));
    assert.equal(cancelled.error.kind, 'cancelled');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('resuming a saved experiment whose results belong to another config says so (not WebGPU)', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const { page, problems } = await openPage(browser, server.url);
    await page.click('#tab-transformer');
    await page.selectOption('#tx-preset', 'micro');
    // A saved, unfinished record: the Micro config with the Quick preset's results.
    await page.evaluate(async (results) => {
      const { store } = await import(new URL('./www/persist.js', location.href));
      const wasm = await import(new URL('./www/pkg/overtrain.js', location.href));
      await wasm.default(); // the page may still be loading it: initialise (once) before use
      const micro = wasm.experiment_presets().micro;
      await store.put({ created: Date.now(), label: 'Mismatched', config: JSON.stringify(micro), backend: 'cpu', status: 'running', budgets: micro.pretrain.budgets.length, finished: 1, results, checkpoints: [] });
    }, QUICK_RESULTS_TEXT);
    await page.reload();
    await page.click('#tab-transformer');
    const saved = '#tx-saved li[data-status=running]';
    await page.waitForSelector(`${saved} button[data-action=resume]`);
    await page.click(`${saved} button[data-action=resume]`);
    await page.waitForFunction(() => document.body.dataset.experiment === 'failed', null, { timeout: 60_000 });
    const status = await page.textContent('#tx-status');
    assert.match(status, /^Cannot resume this saved experiment: \S/);
    assert.doesNotMatch(status, /WebGPU/);
    assert.equal(await page.isHidden('#tx-gpu-failure'), true, 'no "WebGPU failed" offer');
    assert.equal(await page.evaluate(() => document.body.dataset.errorKind), 'data');
    assert.equal(await page.isDisabled('#tx-start'), false, 'a new experiment can start');
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.foreignRequests, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('an invalid config is shown next to its field, in both labs', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, server.url);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    // The wasm's validation returns a typed config error naming the field.
    const typed = await page.evaluate(async () => {
      const wasm = await import(new URL('./www/pkg/overtrain.js', location.href));
      await wasm.default(); // the page may still be loading it: initialise (once) before use
      const c = wasm.default_linear_config();
      c.pretrain.lr = -1;
      return wasm.validate_linear_config(c);
    });
    assert.equal(typed.kind, 'config');
    assert.equal(typed.field, 'pretrain.lr');
    await page.fill('#f-pretrain-lr', '-1');
    const linearError = page.locator('#controls [data-field="pretrain.lr"] .error');
    await linearError.waitFor({ state: 'visible' });
    assert.equal(await linearError.textContent(), `pretrain.lr: ${typed.message}`);
    assert.equal(await page.getAttribute('#f-pretrain-lr', 'aria-invalid'), 'true');

    await page.click('#tab-transformer');
    await page.selectOption('#tx-preset', 'micro');
    await page.fill('#x-model-n_head', '3');
    await page.dispatchEvent('#x-model-n_head', 'change');
    const txError = page.locator('#tx-controls .field.invalid .error');
    await txError.waitFor({ state: 'visible' });
    const field = await page.$eval('#tx-controls .field.invalid', (r) => r.dataset.field);
    assert.match(field, /^model\.(d_model|n_head)$/);
    assert.match(await txError.textContent(), new RegExp(`^${field.replace('.', '\\.')}: \\S`));
    assert.equal(await page.isDisabled('#tx-start'), true);
    assert.equal(await page.isHidden('#tx-gpu-failure'), true);
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

/** Makes the page's workers see an adapter (and device) whose buffers may hold 4 KB:
 * served in front of www/worker.js. */
const TINY_GPU = `{
  const small = { maxStorageBufferBindingSize: 4096, maxBufferSize: 4096 };
  for (const proto of [GPUAdapter.prototype, GPUDevice.prototype]) {
    const d = Object.getOwnPropertyDescriptor(proto, 'limits');
    Object.defineProperty(proto, 'limits', { configurable: true, get() {
      const l = d.get.call(this);
      return new Proxy(l, { get: (t, k) => (k in small ? small[k] : typeof t[k] === 'function' ? t[k].bind(t) : t[k]) });
    } });
  }
}
`;

test('a WebGPU failure offers the CPU (linear lab), and a run too large for the adapter goes to the CPU with the reason (transformer lab)', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.route('**/www/worker.js', async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, body: TINY_GPU + await res.text() });
    });
    const { page, problems } = await openPage(context, server.url);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    const n = await page.evaluate(() => Number(document.getElementById('plots').dataset.rendered));
    // The linear lab on WebGPU meets the buffer limit when it runs: a gpu error.
    await page.selectOption('#f-backend', 'gpu');
    await page.waitForSelector('#gpu-failure:not([hidden])', { timeout: 120_000 });
    assert.match(await page.textContent('#gpu-failure .message'), /^WebGPU failed: \S/);
    assert.match(await page.textContent('#status'), /WebGPU failed/);
    assert.equal(await page.$$eval('#controls .field.invalid', (r) => r.length), 0, 'not shown as a bad field');
    await page.click('#gpu-continue');
    assert.equal(await page.inputValue('#f-backend'), 'cpu');
    assert.equal(await page.isHidden('#gpu-failure'), true);
    await page.waitForFunction((c) => Number(document.getElementById('plots').dataset.rendered) > c, n, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.backend), 'cpu');

    // The transformer lab: WebGPU chosen, but the model does not fit: the CPU, and why.
    await page.click('#tab-transformer');
    await page.selectOption('#tx-preset', 'micro');
    await page.selectOption('#tx-backend', 'gpu');
    assert.match(await page.textContent('#tx-backend-info'), /^Runs on the CPU \(WebAssembly\): \S/);
    assert.match(await page.textContent('#tx-estimate'), /on the CPU \(WebAssembly\) \(\S.*too large for WebGPU here: the \S+ buffer needs/);
    assert.equal(await page.isDisabled('#tx-start'), false, 'it can still run, on the CPU');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
