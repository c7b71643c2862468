// The page's side of the experiment's units (no browser; the wasm module loaded in Node, as
// in state.test.mjs): the wasm's estimate for the worker pool, and www/experiment-run.js
// running the wasm's ExperimentSchedule over a pool of workers — here a fake pool whose
// "workers" run run_experiment_unit in this process, interleaved at every progress report —
// with the same results on 1 and 3 workers, pause, cancel and resume. (Which unit goes
// first is src/experiment/plan.rs `choose`, tested there.) Reads dist/ (scripts/serve.sh or
// build_site makes it).
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';

const www = new URL('../../dist/www/', import.meta.url);
const wasm = await import(new URL('pkg/overtrain.js', www));
wasm.initSync({ module: fs.readFileSync(new URL('pkg/overtrain_bg.wasm', www)) });
const { runExperiment } = await import(new URL('experiment-run.js', www));
const { MSG } = await import(new URL('protocol.js', www));

const presets = wasm.experiment_presets();
const wsd = (c) => ({ ...c, pretrain: { ...c.pretrain, protocol: 'wsd' } });
const configs = { ...presets, micro_wsd: wsd(presets.micro), quick_wsd: wsd(presets.quick), paper_wsd: wsd(presets.paper) };
/** A unit as text with its keys sorted (comparable whatever the order they came in). */
const key = (u) => JSON.stringify(Object.fromEntries(Object.entries(u).sort()));

test('the estimate on N workers, and the units the schedule hands out first', () => {
  for (const [name, c] of Object.entries(configs)) {
    const one = wasm.estimate_experiment(c, 1, null);
    assert.equal(one.steps_on_workers, one.work_steps, name);
    for (const n of [2, 3, 4]) {
      const est = wasm.estimate_experiment(c, n, null);
      const t = est.steps_on_workers;
      assert.ok(t >= est.work_steps / n - 1e-6 && t <= est.work_steps, `${name}: ${t} steps on ${n} workers of ${est.work_steps}`);
    }
    // At the start, exactly the units that need nothing; on one worker in plan order.
    const budgets = c.pretrain.budgets.map((_, budget) => budget);
    // A sweep's variants one after another, each by its own protocol (one run: its first
    // stable phase; independent: every budget's run).
    const protocols = c.sweep ? c.sweep.values.map((v) => (c.sweep.field === 'pretrain.protocol' ? v : c.pretrain.protocol)) : [c.pretrain.protocol];
    const expected = protocols.flatMap((protocol, variant) => (protocol === 'independent'
      ? budgets.map((budget) => ({ budget, kind: 'pretrain', variant }))
      : [{ budget: 0, kind: 'stable', variant }]));
    for (const n of [1, 2]) {
      const s = new wasm.ExperimentSchedule(c, 'CPU', null, n);
      const first = [];
      for (let ready; (ready = s.next()) !== undefined;) {
        assert.equal(ready.input, null, `${name}: the first units start from nothing`);
        first.push(ready.unit);
      }
      s.free();
      if (n === 1) assert.deepEqual(first.map(key), expected.map(key), name);
      else assert.deepEqual(first.map(key).sort(), expected.map(key).sort(), name);
    }
  }
  // Quick on 2 workers: the largest pre-training run starts early enough to end with the
  // rest.
  const q = wasm.estimate_experiment(presets.quick, 2, null);
  assert.ok(q.steps_on_workers < 0.52 * q.work_steps, `quick on 2 workers: ${q.steps_on_workers / q.work_steps}`);
});

test('a unit goes to its worker with the output it starts from: objects, the weights in a Float32Array', () => {
  const c = presets.micro;
  const s = new wasm.ExperimentSchedule(c, 'CPU', null, 1);
  const first = s.next();
  assert.deepEqual(first, { unit: { budget: 0, kind: 'pretrain', variant: 0 }, input: null });
  // What a worker posts back for it: budget 0's weights (f32 values, -0 among them) and
  // its losses.
  const n = wasm.estimate_experiment(c, 1, null).parameters;
  const params = Float32Array.from({ length: n }, (_, i) => (i % 2 ? -1e-7 * i : 0.1 * i));
  params[1] = -0;
  const output = { value: { kind: 'pretrained', params: [], base: 3.5, losses: [4.2, 3.9], diverged: null }, tensors: [params] };
  const events = s.done(first.unit, output);
  assert.deepEqual(events.map((e) => e.type), ['checkpoint']);
  assert.ok(events[0].bytes instanceof Uint8Array);
  let ready;
  while ((ready = s.next()) !== undefined && ready.input === null);
  assert.ok(ready, 'a unit that starts from budget 0');
  assert.equal(ready.unit.budget, 0);
  assert.deepEqual(ready.input, output, 'the same numbers, bit for bit (-0 too)');
  assert.ok(Object.is(ready.input.tensors[0][1], -0));
  s.free();
});

/** A pool of `size` fake workers in this process: each request runs run_experiment_unit,
 * yielding to the event loop at every progress report, so the workers interleave. */
function fakePool(size) {
  let nextId = 1;
  const runs = new Map();
  const pool = {
    size,
    paused: false,
    wakers: [],
    log: [], // {unit, worker} as sent
    busy: new Set(),
    maxBusy: 0,
    alive: () => true,
    send(build, onMessage, index = 0) {
      const id = nextId++;
      const msg = build(id);
      assert.equal(msg.type, MSG.UNIT);
      assert.ok(!pool.busy.has(index), `worker ${index} gets one unit at a time`);
      pool.busy.add(index);
      pool.maxBusy = Math.max(pool.maxBusy, pool.busy.size);
      pool.log.push({ unit: msg.unit, worker: index });
      const run = { cancelled: false };
      runs.set(id, run);
      const host = {
        progress(report) {
          setImmediate(() => onMessage({ type: MSG.UNIT_PROGRESS, id, report }));
          return (async () => {
            await new Promise((r) => setImmediate(r));
            while (pool.paused && !run.cancelled) await new Promise((r) => pool.wakers.push(r));
            return !run.cancelled;
          })();
        },
      };
      setImmediate(async () => {
        let answer;
        try {
          answer = { type: MSG.UNIT_DONE, id, output: await wasm.run_experiment_unit(msg.config, msg.unit, msg.input, msg.backend, host) };
        } catch (e) {
          answer = { type: MSG.ERROR, id, error: { kind: e.kind, message: e.message, field: e.field ?? null } };
        }
        runs.delete(id);
        pool.busy.delete(index);
        setImmediate(() => onMessage(answer));
      });
      return id;
    },
    control(m) {
      if (m.type === MSG.PAUSE) pool.paused = true;
      if (m.type === MSG.RESUME || m.type === MSG.CANCEL) {
        if (m.type === MSG.RESUME) pool.paused = false;
        if (m.type === MSG.CANCEL) for (const [id, r] of runs) if (m.id == null || m.id === id) r.cancelled = true;
        const w = pool.wakers;
        pool.wakers = [];
        w.forEach((f) => f());
      }
    },
  };
  return pool;
}

/** Runs `config` on `pool`; resolves to {results | error, partials, checkpoints, progress}. */
function run(pool, config, { resume = null, onProgress } = {}) {
  return new Promise((resolve) => {
    const seen = { partials: [], checkpoints: [], progress: [] };
    const exec = runExperiment(pool, {
      config,
      backend: 'cpu',
      resume,
      handlers: {
        onProgress: (p, units) => { seen.progress.push(p); onProgress?.(exec, p, units, seen); },
        onPartial: (r) => seen.partials.push(r),
        onCheckpoint: (variant, b, bytes) => seen.checkpoints.push([b, bytes.length, variant]),
        onDone: (results) => resolve({ ...seen, results }),
        onError: (error) => resolve({ ...seen, error }),
        onPanic: (message) => resolve({ ...seen, error: { kind: 'panic', message } }),
      },
    });
  });
}

const withoutTime = (results) => { const r = structuredClone(results); delete r.elapsed_s; return r; };

test('the units over 1 and 3 workers give the same results; pause, cancel and resume', async () => {
  const micro = presets.micro;
  const one = fakePool(1);
  const a = await run(one, micro);
  assert.equal(a.error, undefined, JSON.stringify(a.error));
  const three = fakePool(3);
  const b = await run(three, micro);
  assert.equal(b.error, undefined, JSON.stringify(b.error));
  assert.deepEqual(withoutTime(b.results), withoutTime(a.results), 'every field but elapsed_s');
  assert.equal(three.maxBusy, 3, 'three units ran at once');
  // wsd (a chain of stable phases, each branch from it) too.
  const w1 = await run(fakePool(1), configs.micro_wsd);
  const w3 = await run(fakePool(3), configs.micro_wsd);
  assert.equal(w3.error, undefined, JSON.stringify(w3.error));
  assert.deepEqual(withoutTime(w3.results), withoutTime(w1.results), 'wsd: every field but elapsed_s');
  // One worker: budget by budget, pre-training, perturbation, fine-tuning by λ, lr, seed.
  const f = micro.finetune;
  const order = micro.pretrain.budgets.flatMap((_, budget) => [{ budget, kind: 'pretrain', variant: 0 }, { budget, kind: 'perturb', variant: 0 },
    ...f.l2.flatMap((_, l2) => f.lrs.flatMap((_, lr) => [...Array(f.seeds).keys()].map((seed) => ({ budget, kind: 'finetune', l2, lr, seed, variant: 0 }))))]);
  assert.deepEqual(one.log.map((l) => key(l.unit)), order.map(key), 'one worker: the plan order');
  assert.deepEqual(b.partials.map((p) => p.budgets.length), [1, 2, 3, 4], 'budgets finish in order');
  assert.deepEqual(b.checkpoints.map(([budget]) => budget).sort(), [0, 1, 2, 3]);
  const last = b.progress.at(-1);
  assert.ok(last.work_done <= last.work_total && last.work_total > 0);

  // Pause: no unit progresses; resume: it goes on; cancel: every unit stops, the finished
  // budgets were delivered.
  const pool = fakePool(2);
  let pausedAt = null;
  let resumed = false;
  const c = await run(pool, micro, {
    onProgress: (exec, p, units, seen) => {
      if (pausedAt === null && seen.partials.length >= 1) {
        pausedAt = seen.progress.length;
        exec.pause();
        setTimeout(() => {
          const during = seen.progress.length;
          setTimeout(() => {
            assert.ok(seen.progress.length - during <= 2, 'no progress while paused');
            resumed = true;
            exec.resume();
          }, 100);
        }, 50);
      } else if (resumed && seen.partials.length >= 2) {
        exec.cancel();
      }
    },
  });
  assert.equal(c.error?.kind, 'cancelled', JSON.stringify(c.error));
  assert.ok(c.partials.length >= 2 && c.partials.length < 4, `finished budgets kept: ${c.partials.length}`);
  assert.equal(pool.busy.size, 0, 'every worker stopped');

  // Cancel while paused: every unit stops, and the workers are not left paused.
  const pausedPool = fakePool(2);
  let asked = false;
  const p = await run(pausedPool, micro, {
    onProgress: (exec) => {
      if (asked) return;
      asked = true;
      exec.pause();
      setTimeout(() => exec.cancel(), 50);
    },
  });
  assert.equal(p.error?.kind, 'cancelled');
  assert.equal(pausedPool.busy.size, 0, 'every worker stopped');
  assert.equal(pausedPool.paused, false, 'no worker is left paused');

  // Resume from the cancelled run's partial results: the same final results.
  const resumedRun = fakePool(2);
  const d = await run(resumedRun, micro, { resume: c.partials.at(-1) });
  assert.equal(d.error, undefined, JSON.stringify(d.error));
  assert.deepEqual(withoutTime(d.results), withoutTime(a.results));
  const skipped = c.partials.at(-1).budgets.length;
  assert.ok(resumedRun.log.every((l) => l.unit.budget >= skipped), 'finished budgets are not run again');

  // Results of another config: a data error, before any unit runs.
  const e = await run(fakePool(2), micro, { resume: JSON.parse(fs.readFileSync(new URL('../../docs/results/quick/results.json', import.meta.url), 'utf8')) });
  assert.equal(e.error?.kind, 'data');
});
