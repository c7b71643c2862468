// The Web Worker that runs every computation, so the page never freezes. The messages it
// takes and sends are described and built in www/protocol.js.
//
// Pause and cancel: the experiment and its units yield to this worker's event loop at
// least every 50 ms (in their progress callback), so these messages, and the linear lab's
// requests, get through even during a CPU run. Pause is the worker's: every experiment or
// unit it runs waits at its next progress report until resumed. Cancel is per request.
import init, { init_gpu, run_linear_gpu, run_linear_shard, train_transformer, probe_experiment, run_experiment, run_experiment_unit } from './pkg/overtrain.js';
import { MSG, reply, typedError } from './protocol.js';

/** Everything this worker remembers. */
const worker = {
  /** The wasm's panic message, once it panicked: the failing request reports it, and the
   * worker closes (the page starts a new one). */
  panicMessage: null,
  /** Whether the experiments and units here wait at their next progress report. */
  paused: false,
  /** Resolvers of the runs waiting for a resume (or a cancel). */
  wakers: [],
  /** id → {cancelled}: each experiment or unit from the moment its message arrives (so a
   * cancel that comes before it starts is not lost) to its answer. */
  runs: new Map(),
  /** Opening WebGPU (init-gpu) is asynchronous: requests for the GPU wait for it. */
  gpuOpened: Promise.resolve(),
};

globalThis.__overtrainPanic = (message) => { worker.panicMessage = message; };

const ready = init().then(
  () => postMessage(reply.ready()),
  (e) => { postMessage(reply.panic(null, `could not load WebAssembly: ${e}`)); close(); },
);

/**
 * Reports a failed request: a panic closes this worker (a bug: it would fail again); so
 * does a WebAssembly trap without a panic (Rust aborts when an allocation fails: out of
 * memory), which the page answers by running the request again on a new worker; anything
 * else is a typed error. After a trap the wasm's memory may be inconsistent, so nothing
 * more runs here.
 */
function fail(id, e) {
  if (worker.panicMessage !== null) {
    postMessage(reply.panic(id, worker.panicMessage));
    close();
  } else if (e instanceof WebAssembly.RuntimeError) {
    postMessage(reply.died(id, `WebAssembly stopped: ${e.message}`));
    close();
  } else {
    postMessage(reply.error(id, e));
  }
}

const yieldToEvents = () => new Promise((resolve) => {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => resolve();
  channel.port2.postMessage(0);
});

function wake() {
  const waiting = worker.wakers;
  worker.wakers = [];
  for (const w of waiting) w();
}

/** Pause, resume and cancel: they change what the running requests do next. */
function control(msg) {
  if (msg.type === MSG.PAUSE) {
    worker.paused = true;
    return;
  }
  if (msg.type === MSG.RESUME) {
    worker.paused = false;
  } else {
    for (const [id, run] of worker.runs) if (msg.id == null || msg.id === id) run.cancelled = true;
    // A cancelled run does not wait for a resume; the others still do. With nothing
    // left running, the pause ends too (it was the cancelled experiment's).
    if ([...worker.runs.values()].every((r) => r.cancelled)) worker.paused = false;
  }
  wake();
}

/** The wasm's host of a run: `progress(value)` posts `post(value)` at most every 50 ms
 * (always when `final(value)`), and returns a promise (false: cancel) when it yields. */
function progressHost(run, post, final = () => false) {
  let lastYield = performance.now();
  let lastPost = 0;
  return {
    progress(value) {
      const now = performance.now();
      if (final(value) || now - lastPost > 50) {
        lastPost = now;
        post(value);
      }
      if (!worker.paused && !run.cancelled && now - lastYield < 50) return undefined;
      return (async () => {
        await yieldToEvents();
        while (worker.paused && !run.cancelled) await new Promise((resolve) => worker.wakers.push(resolve));
        lastYield = performance.now();
        return !run.cancelled;
      })();
    },
  };
}

async function experiment(id, run, { config, backend, resume }) {
  const isFinal = (progress) => progress.phase === 'done';
  const host = progressHost(run, (progress) => postMessage(reply.expProgress(id, progress)), isFinal);
  host.partial = (results) => postMessage(reply.expPartial(id, results));
  host.checkpoint = (variant, budget, bytes) => postMessage(reply.expCheckpoint(id, variant, budget, bytes), [bytes.buffer]);
  postMessage(reply.expDone(id, await run_experiment(config, backend, host, resume ?? null)));
}

async function unit(id, run, { config, backend, unit: which, input }) {
  const host = progressHost(run, (report) => postMessage(reply.unitProgress(id, report)));
  const output = await run_experiment_unit(config, which, input ?? null, backend, host);
  // The weights move to the page without a copy.
  postMessage(reply.unitDone(id, output), output.tensors.map((t) => t.buffer));
}

async function initGpu() {
  if (!('gpu' in navigator)) {
    postMessage(reply.gpuError({ kind: 'gpu', message: 'this browser has no WebGPU (navigator.gpu is missing)', field: null }));
    return;
  }
  try {
    postMessage(reply.gpu(await init_gpu()));
  } catch (e) {
    if (worker.panicMessage !== null) fail(null, e);
    else postMessage(reply.gpuError(typedError(e)));
  }
}

/** Answers one request (every message but init-gpu and the controls). */
async function serve(msg, run) {
  const { id, config, backend } = msg;
  switch (msg.type) {
    case MSG.EXPERIMENT:
      await experiment(id, run, msg);
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
}

onmessage = async (event) => {
  const msg = event.data;
  if ([MSG.PAUSE, MSG.RESUME, MSG.CANCEL].includes(msg.type)) {
    control(msg);
    return;
  }
  const run = msg.type === MSG.EXPERIMENT || msg.type === MSG.UNIT ? { cancelled: false } : null;
  if (run) worker.runs.set(msg.id, run);
  await ready;
  if (msg.type === MSG.INIT_GPU) {
    worker.gpuOpened = initGpu();
    return;
  }
  if (msg.backend === 'gpu') await worker.gpuOpened;
  try {
    if (run?.cancelled) postMessage(reply.cancelled(msg.id));
    else await serve(msg, run);
  } catch (e) {
    fail(msg.id, e);
  } finally {
    if (run) worker.runs.delete(msg.id);
  }
};
