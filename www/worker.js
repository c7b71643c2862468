// The Web Worker that runs every computation, so the page never freezes.
// Protocol, page → worker:
//   {type: 'init-gpu'}                          open WebGPU in this worker (worker 0 only)
//   {id, config: JSON text, backend: 'cpu', shard, shards}   one CPU shard of a run
//   {id, config: JSON text, backend: 'gpu'}                  a whole run on WebGPU
//   {type: 'train', id, config: JSON text, backend: 'cpu' | 'gpu'}   train a transformer
//   {type: 'probe', id, config, backend}   time two training steps of an experiment's model
//   {type: 'experiment', id, config, backend, resume?: results JSON of an unfinished run};
//   then {type: 'pause' | 'resume' | 'cancel'}
// worker → page: {type: 'ready'} once; {type: 'gpu', adapter} | {type: 'gpu', error};
//   per run {type: 'result', id, shard, results: JSON text}
//   per training {type: 'train-progress', id, step, loss} for every step, then
//   {type: 'trained', id, result: JSON text ({log, backend, memory, elapsed_ms})}
//   {type: 'probe', id, tokens_per_second} | {type: 'probe', id, error}
//   per experiment {type: 'exp-progress', id, progress: JSON text} (at most every 50 ms),
//   {type: 'exp-partial', id, results} after each budget, {type: 'exp-checkpoint', id,
//   budget, bytes: Uint8Array (safetensors)}, then {type: 'exp-done', id, results}
//   | {type: 'exp-cancelled', id}
//   | {type: 'invalid', id, error: {field, message}} | {type: 'gpu-failed', id, message}
//   | {type: 'panic', id, message} (the worker then closes; the page starts a new one).
import init, { init_gpu, run_linear_gpu, run_linear_shard, train_transformer, probe_experiment, run_experiment } from './pkg/overtrain.js';

let panicMessage = null;
globalThis.__overtrainPanic = (message) => { panicMessage = message; };

const ready = init().then(
  () => postMessage({ type: 'ready' }),
  (e) => postMessage({ type: 'panic', id: null, message: `could not load WebAssembly: ${e}` }),
);

function fail(id, e) {
  if (panicMessage !== null) {
    postMessage({ type: 'panic', id, message: panicMessage });
    close();
  } else if (e && typeof e === 'object' && 'field' in e) {
    postMessage({ type: 'invalid', id, error: { field: e.field, message: e.message } });
  } else if (typeof e === 'string') {
    postMessage({ type: 'gpu-failed', id, message: e });
  } else {
    postMessage({ type: 'panic', id, message: String(e) });
    close();
  }
}

// The running experiment's controls, set by pause/resume/cancel messages. The experiment
// yields to this worker's event loop at least every 50 ms (in its progress callback), so
// these messages get through even during a CPU run.
let control = null;
const yieldToEvents = () => new Promise((resolve) => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => resolve();
  channel.port2.postMessage(0);
});

async function experiment(id, config, backend, resume) {
  control = { paused: false, cancelled: false, wake: null, lastYield: performance.now(), lastPost: 0 };
  const c = control;
  const host = {
    progress(text) {
      const now = performance.now();
      const done = text.includes('"phase":"done"');
      if (done || now - c.lastPost > 50) {
        c.lastPost = now;
        postMessage({ type: 'exp-progress', id, progress: text });
      }
      if (!c.paused && !c.cancelled && now - c.lastYield < 50) return undefined;
      return (async () => {
        await yieldToEvents();
        while (c.paused && !c.cancelled) await new Promise((resolve) => { c.wake = resolve; });
        c.lastYield = performance.now();
        return !c.cancelled;
      })();
    },
    partial(text) { postMessage({ type: 'exp-partial', id, results: text }); },
    checkpoint(budget, bytes) { postMessage({ type: 'exp-checkpoint', id, budget, bytes }, [bytes.buffer]); },
  };
  try {
    postMessage({ type: 'exp-done', id, results: await run_experiment(config, backend, host, resume ?? undefined) });
  } catch (e) {
    if (c.cancelled && String(e) === 'cancelled') postMessage({ type: 'exp-cancelled', id });
    else fail(id, e);
  } finally {
    if (control === c) control = null;
  }
}

onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === 'pause' || msg.type === 'resume' || msg.type === 'cancel') {
    if (!control) return;
    if (msg.type === 'pause') control.paused = true;
    else {
      if (msg.type === 'cancel') control.cancelled = true;
      control.paused = false;
      control.wake?.();
    }
    return;
  }
  await ready;
  if (msg.type === 'init-gpu') {
    if (!('gpu' in navigator)) {
      postMessage({ type: 'gpu', error: 'this browser has no WebGPU (navigator.gpu is missing)' });
      return;
    }
    try {
      // What the browser tells about the adapter (wgpu cannot see it): "google swiftshader".
      const probe = await navigator.gpu.requestAdapter();
      const info = probe?.info ?? {};
      const description = [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || info.description || '';
      const software = Boolean(info.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(description);
      postMessage({ type: 'gpu', adapter: await init_gpu(description, software) });
    } catch (e) {
      postMessage({ type: 'gpu', error: typeof e === 'string' ? e : String(e) });
    }
    return;
  }
  const { id, config, backend, shard, shards } = msg;
  try {
    if (msg.type === 'experiment') {
      await experiment(id, config, backend, msg.resume);
    } else if (msg.type === 'probe') {
      try {
        postMessage({ type: 'probe', id, tokens_per_second: await probe_experiment(config, backend) });
      } catch (e) {
        postMessage({ type: 'probe', id, error: typeof e === 'string' ? e : (e?.message ?? String(e)) });
      }
    } else if (msg.type === 'train') {
      const progress = (step, loss) => postMessage({ type: 'train-progress', id, step, loss });
      postMessage({ type: 'trained', id, result: await train_transformer(config, backend, progress) });
    } else if (backend === 'gpu') {
      postMessage({ type: 'result', id, shard: 0, results: await run_linear_gpu(config) });
    } else {
      postMessage({ type: 'result', id, shard, results: run_linear_shard(config, shard, shards) });
    }
  } catch (e) {
    fail(id, e);
  }
};
