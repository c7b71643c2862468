// One pool of Web Workers (www/worker.js) for both labs, and one WebGPU device: worker 0
// opens it (init-gpu) and runs everything that needs it — the linear lab on WebGPU, the
// transformer lab's probes and its experiment on WebGPU. The linear lab's CPU runs are
// split into one shard per free worker and merged here; the transformer lab's CPU
// experiments run as units of work on every worker (www/experiment-run.js).
//
// The pool has one worker per core (at most 4): navigator.hardwareConcurrency, or the
// page's `?workers=N` query parameter (1 to 16; tests and benchmarks force the size with
// it), or globalThis.__overtrainWorkers set before the page's scripts run.
//
// The linear lab asks for one run at a time: a newer request replaces a queued one, and a
// run that has taken more than 1.5 s is abandoned for it: the workers computing it are
// restarted, except one that also runs something else (an experiment, a unit of one, a
// probe), which finishes its part while its answer is ignored by id — so abandoning never
// kills an experiment. While worker 0 runs an experiment, the linear lab's shards go to
// the other workers (when there are any); a worker running a unit runs a shard given to it
// between two of the unit's progress reports.
//
// A worker that dies (an uncaught error in it, or the wasm trapping without a panic: most
// likely out of memory) is replaced by a new one, and what it ran is run again: a linear
// run starts over, and every request it held is answered `died`, on which an experiment
// runs its unit again (www/experiment-run.js). After MAX_DEATHS deaths of the same
// linear run it fails instead, naming the likely cause. A panic is a bug, which would
// happen again: it is shown as an internal error and ends what ran on the worker.
import { merge_linear_shards, resolve_backend } from './pkg/overtrain.js';
import { MSG, request, typedError } from './protocol.js';

/**
 * Where a run goes: the wasm's rule (`resolve_backend`) for a choice ('auto' | 'gpu' |
 * 'cpu'), the adapter (null: no WebGPU) and whether the run fits its limits. Returns
 * {backend: 'cpu' | 'gpu', reason: why it ended up on the CPU, or null}.
 */
export function chooseBackend(choice, adapter, fits) {
  const { backend, reason } = resolve_backend(choice, adapter ?? null, fits);
  return { backend, reason: reason ?? null };
}

/** The pool's size: `?workers=N` in the page's address, or globalThis.__overtrainWorkers
 * (1 to 16), else one worker per core, at most 4. */
export function poolSize() {
  const forced = Number(new URLSearchParams(globalThis.location?.search ?? '').get('workers') ?? globalThis.__overtrainWorkers);
  if (Number.isInteger(forced) && forced >= 1 && forced <= 16) return forced;
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

const ABANDON_AFTER_MS = 1500;
/** How many times one computation may take its worker down before the page gives up on it. */
export const MAX_DEATHS = 3;
/** Answers that end a request (its handler is then dropped). */
const FINAL = new Set([MSG.EXP_DONE, MSG.UNIT_DONE, MSG.TRAINED, MSG.PROBE_RESULT, MSG.ERROR, MSG.PANIC, MSG.DIED]);

export class Runner {
  /** `fatal(message)`: shows an internal error (a panic, a worker that failed to load). */
  constructor({ fatal, size = poolSize() }) {
    this.fatal = fatal;
    this.size = size;
    this.nextId = 1;
    this.gpu = undefined; // undefined: not known yet; null: none; else the adapter
    this.gpuError = null; // a typed error when there is no WebGPU
    this.gpuListeners = [];
    this.gpuReady = new Promise((resolve) => { this.resolveGpu = resolve; });
    this.handlers = new Map(); // id → onMessage, for requests sent with send()
    this.job = null; // the linear run: {id, config, backend, started, slots, parts, pending, handlers}
    this.queued = null;
    this.slots = Array.from({ length: size }, (_, i) => this.#spawn(i));
  }

  #spawn(i) {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const slot = { worker, linear: null, tasks: new Set(), ready: false, dead: false };
    worker.onmessage = (e) => this.#message(slot, e.data);
    worker.onerror = (e) => {
      e.preventDefault(); // handled here: not also an uncaught error of the page
      if (!this.slots.includes(slot)) return; // a worker already replaced
      const what = e.message || 'unknown error';
      if (slot.ready) this.#died(slot, what);
      else this.#crashed(slot, `a computation worker failed to load (${what})`);
    };
    if (i === 0) worker.postMessage(request.initGpu());
    return slot;
  }

  /** Replaces the worker of `slot` with a fresh one (worker 0 opens WebGPU again). */
  #respawn(slot) {
    const i = this.slots.indexOf(slot);
    slot.worker.terminate();
    this.slots[i] = this.#spawn(i);
  }

  /** Calls `fn(adapter, error)` now if WebGPU is known, and whenever worker 0 reports it. */
  onGpu(fn) {
    this.gpuListeners.push(fn);
    if (this.gpu !== undefined) fn(this.gpu, this.gpuError);
  }

  /**
   * Runs the linear lab's config (an object) on `backend` ('cpu' or 'gpu', as resolved by
   * the page). `handlers`: {onResult(results, job), onError(typedError, job),
   * onPanic(message)}.
   */
  runLinear(config, backend, handlers) {
    this.queued = { config, backend, handlers, deaths: 0 };
    if (this.job && performance.now() - this.job.started > ABANDON_AFTER_MS) this.#abandon();
    this.#next();
  }

  #abandon() {
    const { id } = this.job;
    this.job = null;
    for (const slot of this.slots) if (slot.linear === id && slot.tasks.size === 0) this.#respawn(slot);
  }

  /** The workers a CPU run is split over: free ones, sparing worker 0 while it runs an
   * experiment when another is free. */
  #freeSlots() {
    const free = this.slots.filter((s) => s.linear === null);
    const spared = free.filter((s) => s !== this.slots[0] || s.tasks.size === 0);
    return spared.length ? spared : free;
  }

  #next() {
    if (this.job || !this.queued) return;
    const { config, backend, handlers, deaths } = this.queued;
    const slots = backend === 'gpu' ? (this.slots[0].linear === null ? [this.slots[0]] : []) : this.#freeSlots();
    if (!slots.length) return; // an abandoned part still runs on them; its answer frees one
    this.queued = null;
    const id = this.nextId++;
    this.job = { id, config, backend, started: performance.now(), slots, parts: new Array(slots.length), pending: slots.length, handlers, deaths };
    slots.forEach((slot, shard) => {
      slot.linear = id;
      slot.worker.postMessage(request.linear(id, config, backend, shard, slots.length));
    });
  }

  /** A linear-lab answer from `slot`. */
  #linear(slot, msg) {
    if (slot.linear === msg.id) slot.linear = null;
    const job = this.job;
    if (!job || job.id !== msg.id) { this.#next(); return; } // a part of an abandoned run
    if (msg.type === MSG.ERROR) {
      this.job = null; // the other parts' answers are ignored when they come
      job.handlers.onError(msg.error, job);
    } else {
      job.parts[msg.shard] = msg.results;
      if (--job.pending > 0) return;
      this.job = null;
      let merged = job.parts[0];
      let failed = null;
      if (job.parts.length > 1) {
        try {
          merged = merge_linear_shards(job.parts);
        } catch (e) {
          failed = typedError(e);
        }
      }
      if (failed) job.handlers.onError(failed, job); else job.handlers.onResult(merged, job);
    }
    this.#next();
  }

  /**
   * Sends a request to worker `index` (0, the default, holds WebGPU): `build(id)` makes the
   * message (request.* of www/protocol.js); `onMessage(msg)` gets every answer to it, up to
   * its final one (done, result, error or panic); `transfer`: what the message moves (a
   * MessagePort). Returns the id.
   */
  send(build, onMessage, index = 0, transfer = []) {
    const id = this.nextId++;
    const slot = this.slots[index];
    this.handlers.set(id, onMessage);
    slot.tasks.add(id);
    slot.worker.postMessage(build(id), transfer);
    return id;
  }

  /** A message to worker `index` that is not a request (lend, release: nothing answers
   * it); `transfer` as for send. */
  post(index, message, transfer = []) {
    const slot = this.slots[index];
    if (!slot.dead) slot.worker.postMessage(message, transfer);
  }

  /** Resolves once no linear run is running or queued (checked every 50 ms): a probe
   * timed beside the linear lab's shards would measure a shared core. */
  async linearIdle() {
    while (this.job || this.queued) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  /** Whether worker `index` can take requests (one that never loaded the wasm cannot). */
  alive(index) {
    return !this.slots[index].dead;
  }

  /** Pause, resume or cancel what the workers run (request.pause() etc.), in every worker. */
  control(message) {
    for (const slot of this.slots) if (!slot.dead) slot.worker.postMessage(message);
  }

  #message(slot, msg) {
    if (!this.slots.includes(slot)) return; // a worker already replaced
    switch (msg.type) {
      case MSG.READY:
        slot.ready = true;
        return;
      case MSG.GPU: {
        // A restarted worker 0 opens the device again: listeners hear only of a change.
        const known = this.gpu !== undefined;
        const same = known && JSON.stringify(msg.adapter ?? null) === JSON.stringify(this.gpu);
        this.gpu = msg.adapter ?? null;
        this.gpuError = msg.error ?? null;
        this.resolveGpu(this.gpu);
        if (!same) for (const fn of this.gpuListeners) fn(this.gpu, this.gpuError);
        return;
      }
      case MSG.PANIC:
        this.#crashed(slot, msg.message);
        return;
      case MSG.DIED:
        this.#died(slot, msg.message);
        return;
      case MSG.LINEAR_RESULT:
        this.#linear(slot, msg);
        return;
      default:
    }
    if (msg.type === MSG.ERROR && slot.linear === msg.id) { this.#linear(slot, msg); return; }
    const handler = this.handlers.get(msg.id);
    if (!handler) return;
    if (FINAL.has(msg.type)) {
      this.handlers.delete(msg.id);
      slot.tasks.delete(msg.id);
    }
    handler(msg);
  }

  /**
   * The worker of `slot` died (`message`: what it said, if anything): a new one takes its
   * place; a linear run it took part in starts over (or fails, after MAX_DEATHS deaths);
   * every request it held is answered `died`.
   */
  #died(slot, message) {
    const job = this.job;
    if (job?.slots.includes(slot)) {
      this.job = null; // the other parts' answers are ignored when they come
      const deaths = job.deaths + 1;
      if (deaths >= MAX_DEATHS) {
        job.handlers.onError({ kind: 'io', message: `the computation stopped its worker ${deaths} times (${message}); most likely it needs more memory than this tab has`, field: null }, job);
      } else {
        this.queued ??= { config: job.config, backend: job.backend, handlers: job.handlers, deaths };
      }
    }
    const lost = [...slot.tasks];
    this.#respawn(slot);
    for (const id of lost) {
      const handler = this.handlers.get(id);
      this.handlers.delete(id);
      handler?.({ type: MSG.DIED, id, message });
    }
    this.#next();
  }

  /** A worker panicked or failed to load: say so, end what ran on it, start a new one. */
  #crashed(slot, message) {
    this.fatal(message);
    const job = this.job;
    if (job?.slots.includes(slot)) {
      this.job = null;
      job.handlers.onPanic?.(message);
    }
    const lost = [...slot.tasks];
    // A worker that never loaded the wasm would fail again: it is not replaced.
    if (slot.ready) this.#respawn(slot);
    else { slot.worker.terminate(); slot.linear = -1; slot.dead = true; }
    for (const id of lost) {
      const handler = this.handlers.get(id);
      this.handlers.delete(id);
      handler?.({ type: MSG.PANIC, id, message });
    }
    this.#next();
  }
}
