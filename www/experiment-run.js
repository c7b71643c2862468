// One transformer-lab experiment on the shared worker pool (www/runner.js), with pause,
// resume and cancel:
//
// - On the CPU, as units of work over every worker of the pool: the wasm's
//   ExperimentSchedule lives on this thread and hands each idle worker the unit it runs
//   next (run_experiment_unit in www/worker.js; which unit first is the schedule's choice,
//   src/experiment/plan.rs `choose`); each worker's progress reports feed the schedule's
//   progress, and each unit's
//   output goes back to the schedule, whose events are the finished budgets' partial results
//   and the pre-trained checkpoints. Every unit is a pure function of its input, so the
//   results are the same, bit for bit, on any number of workers. When no unit is ready
//   for an idle worker and the config cuts its steps into micro-batches, the idle worker
//   helps a running unit with them (www/worker.js, help/lend/release): the same bits,
//   sooner; it is called back as soon as a unit is ready for it.
// - On WebGPU, the whole experiment on worker 0 (run_experiment), the worker that holds the
//   page's one device: units on one device would run one after another anyway.
//
// A worker that dies mid-unit (www/runner.js: most likely out of memory) is replaced and
// its unit runs again, from the same input, on the first idle worker — the same result,
// as every unit is a pure function of its input; after MAX_DEATHS deaths of one unit the
// run stops, naming the unit and the likely cause, and keeps the budgets it finished. On
// WebGPU the experiment starts again on the new worker 0 from the budgets it finished.
//
// Either way the caller hears the same things: `handlers` = {onProgress(progress, units),
// onPartial(results), onCheckpoint(variant, budget, bytes), onDone(results), onError(typedError),
// onPanic(message)}, where `progress` is the experiment's progress (phase, label, step,
// steps, loss, work_done, work_total…), `units` the running units' latest reports [{key,
// label, step, steps, loss, helpers}] (one on WebGPU) and `results` the results as the wasm returns
// them (objects). After onDone, onError or onPanic nothing more comes. A cancel ends in
// onError({kind: 'cancelled'}) once every worker has stopped its unit; the budgets finished
// before it were delivered by onPartial.
import { ExperimentSchedule, experiment_results_json } from './pkg/overtrain.js';
import { MSG, request, typedError } from './protocol.js';
import { MAX_DEATHS } from './runner.js';

const CANCELLED = Object.freeze({ kind: 'cancelled', message: 'cancelled', field: null });

/**
 * Starts experiment `config` (an object) on `backend` ('cpu' | 'gpu'), from `resume` (the
 * results of an unfinished run of it, or null). `pool`: the Runner (or anything with its
 * size, alive(i), send(build, onMessage, i, transfer), post(i, message, transfer) and
 * control(message)). Returns the run's controls {pause(), resume(), cancel(), workers}.
 */
export function runExperiment(pool, { config, backend, resume = null, handlers }) {
  return backend === 'gpu' ? new WholeRun(pool, config, resume, handlers) : new UnitRun(pool, config, resume, handlers);
}

/** The whole experiment in worker 0 (WebGPU). If worker 0 dies, the experiment starts
 * again on its replacement from the budgets finished so far (its latest partial results),
 * at most MAX_DEATHS − 1 times. */
class WholeRun {
  constructor(pool, config, resume, handlers) {
    this.pool = pool;
    this.config = config;
    this.handlers = handlers;
    this.workers = 1;
    this.over = false;
    this.paused = false;
    this.deaths = 0;
    this.latest = resume; // the results to go on from
    this.#start();
  }

  #start() {
    this.id = this.pool.send((id) => request.experiment(id, this.config, 'gpu', this.latest), (m) => this.#message(m));
    if (this.paused) this.pool.control(request.pause());
  }

  #message(m) {
    if (this.over) return;
    const h = this.handlers;
    switch (m.type) {
      case MSG.EXP_PROGRESS: {
        const p = m.progress;
        h.onProgress(p, [{ key: 'experiment', label: p.label, step: p.step, steps: p.steps, loss: p.loss }]);
        break;
      }
      case MSG.EXP_PARTIAL:
        // As a saved record holds them (www/persist.js), to resume from.
        this.latest = JSON.parse(experiment_results_json(m.results));
        h.onPartial(m.results);
        break;
      case MSG.EXP_CHECKPOINT: h.onCheckpoint(m.variant, m.budget, m.bytes); break;
      case MSG.EXP_DONE: this.over = true; h.onDone(m.results); break;
      case MSG.ERROR: this.over = true; h.onError(m.error); break;
      case MSG.PANIC: this.over = true; h.onPanic(m.message); break;
      case MSG.DIED:
        if (++this.deaths < MAX_DEATHS) { this.#start(); break; }
        this.over = true;
        h.onError(died('the experiment', this.deaths, m.message));
        break;
      default:
    }
  }

  pause() { this.paused = true; this.pool.control(request.pause()); }
  resume() { this.paused = false; this.pool.control(request.resume()); }
  cancel() { this.pool.control(request.cancel(this.id)); }
}

/** The experiment's units over every worker of the pool (the CPU). */
class UnitRun {
  constructor(pool, config, resume, handlers) {
    this.pool = pool;
    this.config = config;
    this.handlers = handlers;
    this.workers = pool.size;
    this.running = new Map(); // request id → {index (worker), unit, input, report}
    this.helping = new Map(); // help request id → {index (the helper's worker), unit (the request id of the unit it helps)}
    this.again = []; // units whose worker died, to run again first: [{unit, input, report}]
    this.deaths = new Map(); // a unit (JSON) → how many workers died running it
    this.paused = false;
    this.ending = null; // once stopping: {error} or {panic}, delivered when no unit runs
    this.over = false;
    try {
      this.schedule = new ExperimentSchedule(config, 'CPU', resume, pool.size);
    } catch (e) {
      this.schedule = null;
      this.ending = { error: typedError(e) };
    }
    // The caller hears nothing before this returns.
    queueMicrotask(() => this.#pump());
  }

  pause() {
    if (this.over || this.paused) return;
    this.paused = true;
    this.pool.control(request.pause());
  }

  resume() {
    if (this.over || !this.paused) return;
    this.paused = false;
    this.pool.control(request.resume());
    this.#pump();
  }

  cancel() {
    this.#stop({ error: CANCELLED });
  }

  /** Hands each idle worker the unit the schedule gives it, and ends the run when it is
   * over. */
  #pump() {
    if (this.over) return;
    if (this.ending) { this.#settle(); return; }
    if (this.paused) return;
    const busy = new Set([...this.running.values()].map((r) => r.index));
    for (let i = 0; i < this.pool.size; i++) {
      if (busy.has(i) || !this.pool.alive(i)) continue;
      let ready = this.again.shift();
      try {
        ready ??= this.schedule.next();
      } catch (e) {
        this.#stop({ error: typedError(e) });
        return;
      }
      if (ready === undefined) break;
      this.#recall(i);
      const r = { index: i, unit: ready.unit, input: ready.input, report: ready.report ?? null };
      const id = this.pool.send((rid) => request.unit(rid, this.config, 'cpu', r.unit, r.input), (m) => this.#message(id, r, m), i);
      this.running.set(id, r);
    }
    if (this.running.size > 0) {
      this.#lend();
      return;
    }
    if (this.schedule.finished()) {
      const results = this.schedule.results();
      this.#close();
      this.handlers.onDone(results);
    } else {
      const what = this.pool.size > 0 && ![...Array(this.pool.size).keys()].some((i) => this.pool.alive(i)) ? 'no computation worker is left to run it' : 'no unit of it is ready (a bug)';
      this.#stop({ error: { kind: 'io', message: `the experiment cannot go on: ${what}`, field: null } });
    }
  }

  #message(id, r, m) {
    if (this.over || !this.running.has(id)) return;
    switch (m.type) {
      case MSG.UNIT_PROGRESS: {
        if (this.ending) return;
        r.report = m.report;
        let p;
        try {
          p = this.schedule.progress(r.unit, m.report);
        } catch (e) {
          this.#stop({ error: typedError(e) });
          return;
        }
        this.handlers.onProgress(p, this.#units());
        return;
      }
      case MSG.UNIT_DONE:
        this.#ended(id);
        // A unit that finished while the run was stopping is not used.
        if (!this.ending) this.#done(r.unit, m.output);
        this.#pump();
        return;
      case MSG.ERROR:
        this.#ended(id);
        // Cancelled units are expected while stopping; any other error ends the run.
        if (!(this.ending && m.error.kind === 'cancelled')) this.#stop({ error: m.error });
        this.#pump();
        return;
      case MSG.PANIC:
        this.#ended(id);
        this.#stop({ panic: m.message });
        this.#pump();
        return;
      case MSG.DIED:
        this.#ended(id);
        if (!this.ending) this.#died(r, m.message);
        this.#pump();
        return;
      default:
    }
  }

  /** Unit `id` ended (done, failed or its worker died): its helpers are free. */
  #ended(id) {
    this.running.delete(id);
    for (const [hid, h] of this.helping) if (h.unit === id) this.#release(hid);
  }

  /**
   * Idle workers help the running units with their steps' micro-batches, when the config
   * has more than one: the schedule's rule (src/experiment/plan.rs `lend_to`) gives each to
   * the unit with the fewest helpers, up to one per micro-batch beyond the first, so the
   * idle workers are shared evenly, as native threads are.
   */
  #lend() {
    if (this.paused || this.ending || this.over) return;
    const taken = new Set([...this.running.values(), ...this.helping.values()].map((w) => w.index));
    for (let i = 0; i < this.pool.size; i++) {
      if (taken.has(i) || !this.pool.alive(i)) continue;
      const units = [...this.running];
      const k = this.schedule.lend_to(Uint32Array.from(units, ([unit]) => this.#helpers(unit)));
      if (k === undefined) return;
      const chosen = { unit: units[k][0], index: units[k][1].index };
      const { port1, port2 } = new MessageChannel();
      const hid = this.pool.send((id) => request.help(id, port2), (m) => this.#helperMessage(hid, m), i, [port2]);
      this.helping.set(hid, { index: i, unit: chosen.unit });
      this.pool.post(chosen.index, request.lend(chosen.unit, hid, port1), [port1]);
    }
  }

  /** The helper on worker `index`, if any, leaves its unit (a unit is ready for it). */
  #recall(index) {
    for (const [hid, h] of this.helping) if (h.index === index) this.#release(hid);
  }

  /** Helper `hid` leaves its unit, whose worker computes what it has not answered. */
  #release(hid) {
    const h = this.helping.get(hid);
    if (!h) return;
    this.helping.delete(hid);
    const r = this.running.get(h.unit);
    if (r) this.pool.post(r.index, request.release(h.unit, hid));
    this.pool.post(h.index, request.cancel(hid));
  }

  /** An answer to help request `hid`: its worker died or panicked (a cancel is expected). */
  #helperMessage(hid, m) {
    if (this.over || !this.helping.has(hid)) return;
    this.#release(hid);
    if (m.type === MSG.PANIC) this.#stop({ panic: m.message });
    this.#pump();
  }

  /** The worker running `r` died: the unit runs again, unless it has killed MAX_DEATHS
   * workers. */
  #died(r, message) {
    const key = JSON.stringify(r.unit);
    const deaths = (this.deaths.get(key) ?? 0) + 1;
    this.deaths.set(key, deaths);
    if (deaths >= MAX_DEATHS) this.#stop({ error: died(describe(r), deaths, message) });
    else this.again.push(r);
  }

  /** A unit's output: to the schedule, and what it completes to the caller. */
  #done(unit, output) {
    let events;
    try {
      events = this.schedule.done(unit, output);
    } catch (e) {
      this.#stop({ error: typedError(e) });
      return;
    }
    for (const event of events) {
      if (event.type === 'checkpoint') this.handlers.onCheckpoint(event.variant, event.budget, event.bytes);
      else if (event.type === 'partial') this.handlers.onPartial(event.results);
    }
  }

  /** The workers helping unit `id` now. */
  #helpers(id) {
    return [...this.helping.values()].filter((h) => h.unit === id).length;
  }

  /** The running units' latest reports, by worker (`key`: the unit's request id;
   * `helpers`: the workers helping it with its micro-batches). */
  #units() {
    return [...this.running.entries()]
      .filter(([, r]) => r.report)
      .sort(([, a], [, b]) => a.index - b.index)
      .map(([id, { report }]) => ({ key: id, label: report.label, step: report.step, steps: report.steps, loss: report.loss, helpers: this.#helpers(id) }));
  }

  /** Stops the run: no more units are handed out, and every running one is cancelled; the
   * first reason is delivered once none runs. */
  #stop(reason) {
    if (this.over || this.ending) return;
    this.ending = reason;
    for (const hid of [...this.helping.keys()]) this.#release(hid);
    for (const id of this.running.keys()) this.pool.control(request.cancel(id));
    this.#settle();
  }

  #settle() {
    if (this.over || this.running.size > 0) return;
    const { error, panic } = this.ending;
    this.#close();
    if (panic !== undefined) this.handlers.onPanic(panic);
    else this.handlers.onError(error);
  }

  #close() {
    for (const hid of [...this.helping.keys()]) this.#release(hid);
    this.over = true;
    this.schedule?.free();
    this.schedule = null;
    // Workers paused for this run go on (and idle ones stop waiting for a resume).
    if (this.paused) this.pool.control(request.resume());
  }
}

/** The error of a computation (`what`) that took its worker down `times` times. */
function died(what, times, message) {
  const times_ = times === 1 ? 'its worker stopped' : `it stopped its worker ${times} times`;
  return { kind: 'io', message: `${what}: ${times_} (${message}); most likely it needs more memory than this tab has. The budgets that finished are kept`, field: null };
}

/** A unit in words: its last progress label ("budget 2/4: pre-training"), or its kind and
 * budget when it died before reporting. */
function describe(r) {
  if (r.report?.label) return r.report.label;
  const { kind, budget, variant } = r.unit;
  return `${kind} of budget ${budget + 1}${variant ? ` (value ${variant + 1} of the sweep)` : ''}`;
}
