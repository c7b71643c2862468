// Times the CPU path's transformer training in the page's own Web Worker (www/worker.js):
// Quick's model and batch, 400 steps, tokens/s after the first 50 (headless Chromium, no
// WebGPU). Not a test; used to check that a build setting does not slow the page (README,
// "Size").
// usage: [SITE=DIR] [MICRO_BATCHES=N] node bench/worker_train.mjs   (after scripts/serve.sh's
// build step: needs dist/). MICRO_BATCHES=1 times the path of the page's experiments (their
// presets take whole batches); without it the config leaves the field out: `train`'s default
// (4 parts) here, whole batches in a build from before the field. MODEL='{"d_model": 64}'
// changes Quick's model (another head size: the attention kernels' fast paths).
import { startServer, launch, openPage } from '../tests/e2e/harness.mjs';

// SITE=DIR times another site folder (a build before a change).
const server = await startServer(process.env.SITE ? { dir: process.env.SITE } : {});
const browser = await launch({ webgpu: false });
try {
  const { page } = await openPage(browser, server.url);
  await page.waitForFunction(() => globalThis.__overtrainLab);
  const model = JSON.parse(process.env.MODEL ?? '{}');
  const tokensPerSecond = await page.evaluate(async ([microBatches, model]) => {
    const quick = globalThis.__overtrainLab.presets.quick;
    const parts = microBatches ? { micro_batches: Number(microBatches) } : {};
    const config = { seed: 0, ...parts, batch: quick.batch, steps: 400, lr: 0.003, eval_every: 400, eval_batches: 1, model: { ...quick.model, ...model } };
    const { MSG, request } = await import(new URL('./www/protocol.js', location.href));
    const worker = new Worker(new URL('./www/worker.js', location.href), { type: 'module' });
    let start = null;
    let last = null;
    const done = new Promise((resolve) => {
      worker.onmessage = (e) => {
        const m = e.data;
        if (m.type === MSG.TRAIN_PROGRESS) {
          if (m.step === 50) start = performance.now();
          last = [m.step, performance.now()];
        } else if (m.type === MSG.TRAINED || m.type === MSG.ERROR || m.type === MSG.PANIC) resolve(m);
      };
    });
    worker.postMessage(request.train(1, config, 'cpu'));
    const end = await done;
    worker.terminate();
    if (end.type !== MSG.TRAINED) throw new Error(JSON.stringify(end));
    return ((last[0] - 50) * config.batch * config.model.ctx) / ((last[1] - start) / 1000);
  }, [process.env.MICRO_BATCHES ?? null, model]);
  console.log(JSON.stringify({ browser: browser.version(), model: { quick: true, ...model }, tokens_per_second: Math.round(tokensPerSecond) }));
} finally {
  await browser.close();
  await server.close();
}
