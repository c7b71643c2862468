// The Web Worker that runs every computation, so the page never freezes.
// Protocol, page → worker:
//   {type: 'init-gpu'}                          open WebGPU in this worker (worker 0 only)
//   {id, config: JSON text, backend: 'cpu', shard, shards}   one CPU shard of a run
//   {id, config: JSON text, backend: 'gpu'}                  a whole run on WebGPU
//   {type: 'train', id, config: JSON text, backend: 'cpu' | 'gpu'}   train a transformer
// worker → page: {type: 'ready'} once; {type: 'gpu', adapter} | {type: 'gpu', error};
//   per run {type: 'result', id, shard, results: JSON text}
//   per training {type: 'train-progress', id, step, loss} for every step, then
//   {type: 'trained', id, result: JSON text ({log, backend, memory, elapsed_ms})}
//   | {type: 'invalid', id, error: {field, message}} | {type: 'gpu-failed', id, message}
//   | {type: 'panic', id, message} (the worker then closes; the page starts a new one).
import init, { init_gpu, run_linear_gpu, run_linear_shard, train_transformer } from './pkg/overtrain.js';

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

onmessage = async (event) => {
  await ready;
  const msg = event.data;
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
    if (msg.type === 'train') {
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
