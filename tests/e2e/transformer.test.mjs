// Transformer training inside the page's Web Worker (www/worker.js): on the CPU path (the
// fallback without WebGPU) and on WebGPU (SwiftShader in headless Chromium), with
// progress for every step, and the two backends agreeing.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';

const MICRO = {
  seed: 2, batch: 4, steps: 24, lr: 0.01, eval_every: 12, eval_batches: 2,
  model: { n_layer: 1, d_model: 16, n_head: 2, d_ff: 32, ctx: 16 },
};

/** Trains in a fresh worker of the page (messages built by www/protocol.js); resolves to
 * {result, steps} or {error: the failure message}. */
function trainInWorker(page, config, backend) {
  return page.evaluate(async ({ config, backend }) => {
    const { MSG, request } = await import(new URL('./www/protocol.js', location.href));
    const worker = new Worker(new URL('./www/worker.js', location.href), { type: 'module' });
    const steps = [];
    const done = new Promise((resolve) => {
      worker.onerror = (e) => resolve({ error: `the worker failed: ${e.message}` });
      worker.onmessage = (e) => {
        const m = e.data;
        if (m.type === MSG.GPU && backend === 'gpu') {
          if (m.error) resolve({ error: m });
          else worker.postMessage(request.train(1, config, backend));
        } else if (m.type === MSG.TRAIN_PROGRESS) steps.push([m.step, m.loss]);
        else if (m.type === MSG.TRAINED) resolve({ result: m.result, steps });
        else if (m.type === MSG.ERROR || m.type === MSG.PANIC) resolve({ error: m });
      };
    });
    if (backend === 'gpu') worker.postMessage(request.initGpu());
    else worker.postMessage(request.train(1, config, backend));
    const out = await done;
    worker.terminate();
    return out;
  }, { config, backend });
}

test('a transformer trains in the page\'s worker on the CPU and on WebGPU, with the same losses', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const { page, problems } = await openPage(browser, server.url);
    const cpu = await trainInWorker(page, MICRO, 'cpu');
    assert.equal(cpu.error, undefined, JSON.stringify(cpu.error));
    assert.deepEqual(cpu.steps.map(([s]) => s), Array.from({ length: 24 }, (_, i) => i + 1), 'progress for every step');
    const log = cpu.result.log;
    assert.deepEqual(log.eval_steps, [12, 24]);
    assert.ok(log.train_loss[23] < log.train_loss[0] - 0.5, `it learns: ${log.train_loss[0]} → ${log.train_loss[23]}`);
    assert.ok(log.eval_loss[1] < Math.log(256), 'held-out loss below uniform');
    assert.match(cpu.result.backend, /CPU/);
    assert.ok(cpu.result.memory.parameters > 0);

    const gpu = await trainInWorker(page, MICRO, 'gpu');
    assert.equal(gpu.error, undefined, JSON.stringify(gpu.error));
    assert.match(gpu.result.backend, /WebGPU/);
    assert.equal(gpu.steps.length, 24);
    gpu.result.log.train_loss.forEach((l, i) => {
      assert.ok(Math.abs(l - log.train_loss[i]) / log.train_loss[i] < 1e-3, `step ${i + 1}: WebGPU ${l} vs CPU ${log.train_loss[i]}`);
    });

    const invalid = await trainInWorker(page, { model: { d_model: 30, n_head: 4 } }, 'cpu');
    assert.equal(invalid.error.type, 'error');
    assert.equal(invalid.error.error.kind, 'config');
    assert.equal(invalid.error.error.field, 'model.d_model');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
