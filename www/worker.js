// The Web Worker that runs every computation, so the page never freezes. The messages it
// takes and sends are described and built in www/protocol.js.
import init, { init_gpu, run_linear_gpu, run_linear_shard, train_transformer, probe_experiment, run_experiment } from './pkg/overtrain.js';
import { MSG, reply, typedError } from './protocol.js';

let panicMessage = null;
globalThis.__overtrainPanic = (message) => { panicMessage = message; };

const ready = init().then(
  () => postMessage(reply.ready()),
  (e) => { postMessage(reply.panic(null, `could not load WebAssembly: ${e}`)); close(); },
);

/** Reports a failed request: a panic closes this worker; anything else is a typed error. */
function fail(id, e) {
  if (panicMessage !== null) {
    postMessage(reply.panic(id, panicMessage));
    close();
  } else {
    postMessage(reply.error(id, e));
  }
}

// The running experiment's controls, set by pause/resume/cancel messages. The experiment
// yields to this worker's event loop at least every 50 ms (in its progress callback), so
// these messages, and the linear lab's requests, get through even during a CPU run.
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
        postMessage(reply.expProgress(id, text));
      }
      if (!c.paused && !c.cancelled && now - c.lastYield < 50) return undefined;
      return (async () => {
        await yieldToEvents();
        while (c.paused && !c.cancelled) await new Promise((resolve) => { c.wake = resolve; });
        c.lastYield = performance.now();
        return !c.cancelled;
      })();
    },
    partial(text) { postMessage(reply.expPartial(id, text)); },
    checkpoint(budget, bytes) { postMessage(reply.expCheckpoint(id, budget, bytes), [bytes.buffer]); },
  };
  try {
    postMessage(reply.expDone(id, await run_experiment(config, backend, host, resume ?? undefined)));
  } finally {
    if (control === c) control = null;
  }
}

// Opening WebGPU (init-gpu) is asynchronous: requests for the GPU wait for it.
let gpuOpened = Promise.resolve();

async function initGpu() {
  if (!('gpu' in navigator)) {
    postMessage(reply.gpuError({ kind: 'gpu', message: 'this browser has no WebGPU (navigator.gpu is missing)', field: null }));
    return;
  }
  try {
    // What the browser tells about the adapter (wgpu cannot see it): "google swiftshader".
    const probe = await navigator.gpu.requestAdapter();
    const info = probe?.info ?? {};
    const description = [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || info.description || '';
    const software = Boolean(info.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe/i.test(description);
    postMessage(reply.gpu(await init_gpu(description, software)));
  } catch (e) {
    if (panicMessage !== null) fail(null, e);
    else postMessage(reply.gpuError(typedError(e)));
  }
}

onmessage = async (event) => {
  const msg = event.data;
  switch (msg.type) {
    case MSG.PAUSE:
      if (control) control.paused = true;
      return;
    case MSG.RESUME:
    case MSG.CANCEL:
      if (!control) return;
      if (msg.type === MSG.CANCEL) control.cancelled = true;
      control.paused = false;
      control.wake?.();
      return;
    default:
  }
  await ready;
  const { id, config, backend } = msg;
  if (msg.type === MSG.INIT_GPU) {
    gpuOpened = initGpu();
    return;
  }
  if (backend === 'gpu') await gpuOpened;
  try {
    switch (msg.type) {
      case MSG.EXPERIMENT:
        await experiment(id, config, backend, msg.resume);
        break;
      case MSG.PROBE:
        postMessage(reply.probeResult(id, await probe_experiment(config, backend)));
        break;
      case MSG.TRAIN: {
        const progress = (step, loss) => postMessage(reply.trainProgress(id, step, loss));
        postMessage(reply.trained(id, await train_transformer(config, backend, progress)));
        break;
      }
      case MSG.LINEAR:
        if (backend === 'gpu') postMessage(reply.linearResult(id, 0, await run_linear_gpu(config)));
        else postMessage(reply.linearResult(id, msg.shard, run_linear_shard(config, msg.shard, msg.shards)));
        break;
      default:
        postMessage(reply.error(id ?? null, { kind: 'io', message: `unknown request ${JSON.stringify(msg.type)}` }));
    }
  } catch (e) {
    fail(id, e);
  }
};
