// The Web Worker that runs every computation, so the page never freezes. The messages it
// takes and sends are described and built in www/protocol.js.
import init, { init_gpu, run_linear_gpu, run_linear_shard, train_transformer, probe_experiment, run_experiment, run_experiment_unit } from './pkg/overtrain.js';
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

// Pause and cancel. The experiment and its units yield to this worker's event loop at
// least every 50 ms (in their progress callback), so these messages, and the linear lab's
// requests, get through even during a CPU run. Pause is the worker's: every experiment or
// unit it runs waits at its next progress report until resumed. Cancel is per request:
// `runs` holds each experiment or unit from the moment its message arrives (so a cancel
// that comes before it starts is not lost) to its answer.
let paused = false;
let wakers = [];
const runs = new Map(); // id → {cancelled}

const yieldToEvents = () => new Promise((resolve) => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => resolve();
  channel.port2.postMessage(0);
});

function wake() {
  const waiting = wakers;
  wakers = [];
  for (const w of waiting) w();
}

/** The wasm's host of a run: `progress(json)` posts `post(json)` at most every 50 ms
 * (always when `final(json)`), and returns a promise (false: cancel) when it yields. */
function progressHost(run, post, final = () => false) {
  let lastYield = performance.now();
  let lastPost = 0;
  return {
    progress(text) {
      const now = performance.now();
      if (final(text) || now - lastPost > 50) {
        lastPost = now;
        post(text);
      }
      if (!paused && !run.cancelled && now - lastYield < 50) return undefined;
      return (async () => {
        await yieldToEvents();
        while (paused && !run.cancelled) await new Promise((resolve) => wakers.push(resolve));
        lastYield = performance.now();
        return !run.cancelled;
      })();
    },
  };
}

async function experiment(id, run, config, backend, resume) {
  const host = progressHost(run, (text) => postMessage(reply.expProgress(id, text)), (text) => text.includes('"phase":"done"'));
  host.partial = (text) => postMessage(reply.expPartial(id, text));
  host.checkpoint = (budget, bytes) => postMessage(reply.expCheckpoint(id, budget, bytes), [bytes.buffer]);
  postMessage(reply.expDone(id, await run_experiment(config, backend, host, resume ?? undefined)));
}

async function unit(id, run, msg) {
  const host = progressHost(run, (text) => postMessage(reply.unitProgress(id, text)));
  const output = await run_experiment_unit(msg.config, msg.unit, msg.input ?? undefined, msg.backend, host);
  postMessage(reply.unitDone(id, output));
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
      paused = true;
      return;
    case MSG.RESUME:
      paused = false;
      wake();
      return;
    case MSG.CANCEL:
      for (const [id, run] of runs) if (msg.id == null || msg.id === id) run.cancelled = true;
      // A cancelled run does not wait for a resume; the others still do. With nothing
      // left running, the pause ends too (it was the cancelled experiment's).
      if ([...runs.values()].every((r) => r.cancelled)) paused = false;
      wake();
      return;
    default:
  }
  const run = msg.type === MSG.EXPERIMENT || msg.type === MSG.UNIT ? { cancelled: false } : null;
  if (run) runs.set(msg.id, run);
  await ready;
  const { id, config, backend } = msg;
  if (msg.type === MSG.INIT_GPU) {
    gpuOpened = initGpu();
    return;
  }
  if (backend === 'gpu') await gpuOpened;
  try {
    if (run?.cancelled) {
      postMessage(reply.cancelled(id));
      return;
    }
    switch (msg.type) {
      case MSG.EXPERIMENT:
        await experiment(id, run, config, backend, msg.resume);
        break;
      case MSG.UNIT:
        await unit(id, run, msg);
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
  } finally {
    if (run) runs.delete(id);
  }
};
