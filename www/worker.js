// The Web Worker that runs every computation, so the page never freezes. The messages it
// takes and sends are described and built in www/protocol.js.
//
// Pause and cancel: the experiment and its units yield to this worker's event loop at
// least every 50 ms (in their progress callback), so these messages, and the linear lab's
// requests, get through even during a CPU run. Pause is the worker's: every experiment or
// unit it runs waits at its next progress report until resumed. Cancel is per request.
//
// Micro-batches across workers (src/web/parts.rs): a worker without a unit may help one
// (help): it computes, on a MessagePort, micro-batches of the unit's steps that the unit's
// worker sends it (lend tells that worker of the port). The unit's worker adds every
// part in order, so the bits are the same whoever computed them; when a helper leaves
// (release) or fails, its unanswered parts are computed by the unit's worker itself.
import init, { init_gpu, run_linear_gpu, run_linear_shard, train_transformer, probe_experiment, run_experiment, run_experiment_unit, PartHelper } from './pkg/overtrain.js';
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
  /** unit id → its helpers here: {ports: Map(helper id → MessagePort)}. */
  lent: new Map(),
  /** seq → a helper's micro-batches not answered yet: {unit, helper, message, resolve, reject}. */
  awaiting: new Map(),
  nextSeq: 1,
  /** The PartHelper of the latest model (its config's JSON text is the key). */
  partHelper: { key: null, helper: null },
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

/** Micro-batches `jobs` ([{x, y, n}]) of `model` at `params`, computed here:
 * [{loss, grads}]. */
function computeParts({ model, params, jobs }) {
  const key = JSON.stringify(model);
  const cache = worker.partHelper;
  if (cache.key !== key) {
    cache.helper?.free();
    cache.helper = new PartHelper(model);
    cache.key = key;
  }
  return jobs.map((j) => cache.helper.gradient(params, j.x, j.y, j.n));
}

/** The helpers lent to unit `id` here (made on first use: a lend may come first). */
function lentTo(id) {
  let lent = worker.lent.get(id);
  if (!lent) worker.lent.set(id, (lent = { ports: new Map() }));
  return lent;
}

/** A helper's answer to the micro-batches sent as `seq`; on an error, they are computed
 * here instead. */
function answered({ seq, answers, error }) {
  const waiting = worker.awaiting.get(seq);
  if (!waiting) return; // released and computed here already
  worker.awaiting.delete(seq);
  if (!error) { waiting.resolve(answers); return; }
  try {
    waiting.resolve(computeParts(waiting.message));
  } catch (e) {
    waiting.reject(e);
  }
}

/** The helper leaves unit `id`: its port closes and what it has not answered is computed
 * here. */
function release({ id, helper }) {
  const port = worker.lent.get(id)?.ports.get(helper);
  if (!port) return;
  worker.lent.get(id).ports.delete(helper);
  port.close();
  for (const [seq, waiting] of worker.awaiting) {
    if (waiting.unit === id && waiting.helper === helper) {
      worker.awaiting.delete(seq);
      try {
        waiting.resolve(computeParts(waiting.message));
      } catch (e) {
        waiting.reject(e);
      }
    }
  }
}

/** The host's side of src/web/parts.rs for unit `id`: how many helpers it has, and a
 * step's jobs sent to them (`job.helper`: which), answered in the jobs' order. */
function partsHost(id) {
  return {
    helpers: () => lentTo(id).ports.size,
    parts(model, params, jobs) {
      const ports = [...lentTo(id).ports];
      const groups = new Map();
      jobs.forEach((job, i) => {
        if (!groups.has(job.helper)) groups.set(job.helper, []);
        groups.get(job.helper).push(i);
      });
      const out = new Array(jobs.length);
      return Promise.all([...groups].map(([h, indices]) => new Promise((resolve, reject) => {
        const message = { seq: worker.nextSeq++, model, params, jobs: indices.map((i) => jobs[i]) };
        const [helper, port] = ports[h];
        worker.awaiting.set(message.seq, { unit: id, helper, message, reject, resolve: (answers) => {
          answers.forEach((a, k) => { out[indices[k]] = a; });
          resolve();
        } });
        port.postMessage(message);
      }))).then(() => out);
    },
  };
}

/** Helps units with their micro-batches on `port` until cancelled. */
async function help(id, run, { port }) {
  port.onmessage = ({ data }) => {
    let answer;
    try {
      answer = { seq: data.seq, answers: computeParts(data) };
    } catch (e) {
      if (worker.panicMessage !== null) { fail(id, e); return; }
      answer = { seq: data.seq, error: typedError(e) };
    }
    port.postMessage(answer, answer.answers?.map((a) => a.grads.buffer) ?? []);
  };
  while (!run.cancelled) await new Promise((resolve) => worker.wakers.push(resolve));
  port.close();
  postMessage(reply.cancelled(id));
}

async function unit(id, run, { config, backend, unit: which, input }) {
  const host = { ...progressHost(run, (report) => postMessage(reply.unitProgress(id, report))), ...partsHost(id) };
  let output;
  try {
    output = await run_experiment_unit(config, which, input ?? null, backend, host);
  } finally {
    for (const helper of [...lentTo(id).ports.keys()]) release({ id, helper });
    worker.lent.delete(id);
  }
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
    case MSG.HELP:
      await help(id, run, msg);
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
  if (msg.type === MSG.LEND) {
    // A unit that has ended here has no more steps to share.
    if (!worker.runs.has(msg.id)) { msg.port.close(); return; }
    lentTo(msg.id).ports.set(msg.helper, msg.port);
    msg.port.onmessage = ({ data }) => answered(data);
    return;
  }
  if (msg.type === MSG.RELEASE) {
    release(msg);
    return;
  }
  const run = [MSG.EXPERIMENT, MSG.UNIT, MSG.HELP].includes(msg.type) ? { cancelled: false } : null;
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
