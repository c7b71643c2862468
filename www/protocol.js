// The messages between the page and its Web Workers (www/worker.js), in one place: their
// type names, one constructor per message, and the typed error every failure becomes.
// Both sides import this module; nothing else spells a message type.
//
// Every payload is a structured value, as the wasm takes and returns it (src/web/values.rs):
// configs, results, progress and units are plain objects and arrays of numbers
// (postMessage clones them; numbers keep their exact value); a unit's output is
// {value, tensors} with its weights in Float32Arrays (src/web/unit_output.rs), and
// checkpoints are Uint8Arrays (both transferred from the worker). Nothing is JSON text.
//
// Page → worker (every request but init-gpu and the experiment controls carries an `id`,
// which each answer repeats; the page ignores answers to ids it no longer waits for):
//   init-gpu                                open WebGPU in this worker (worker 0 only)
//   linear {id, config, backend, shard?, shards?}
//                                           the linear lab: one CPU shard of a run
//                                           (backend 'cpu'), or the whole run on WebGPU
//   train {id, config, backend}             train one transformer (tests, benchmarks)
//   probe {id, config, backend}             time an experiment's model's training steps
//   experiment {id, config, backend, resume}
//                                           run a whole transformer-lab experiment (the
//                                           page does so on WebGPU); `resume`: the results
//                                           of an unfinished run of it, or null
//   unit {id, config, backend, unit, input} run one unit of an experiment, as the wasm's
//                                           ExperimentSchedule.next() gave it (`input`: the
//                                           output it starts from, or null)
//   help {id, port}                         be a helper: compute the micro-batches that come
//                                           on `port` (a MessagePort) from a unit's worker,
//                                           until cancelled (its only answer: cancelled)
//   lend {id, helper, port}                 to the worker running unit `id`: the helper
//                                           (its help request's id) takes micro-batches of
//                                           the unit's steps on `port` (src/web/parts.rs)
//   release {id, helper}                    the helper leaves unit `id`: its micro-batches
//                                           not yet answered are computed here
//   pause | resume                          every experiment and unit this worker runs
//                                           waits at its next progress report until resumed
//   cancel {id?}                            stop request `id` (an experiment or unit, running
//                                           or not started yet), or, without an id, all of
//                                           them; it answers with a cancelled error
// Worker → page:
//   ready                                   once, when the wasm module is loaded
//   gpu {adapter} | gpu {error}             the answer to init-gpu (error: a typed error)
//   linear-result {id, shard, results}      a shard's (or the GPU run's) results
//   train-progress {id, step, loss}         every training step, then
//   trained {id, result}                    {log, backend, memory, elapsed_ms}
//   probe-result {id, tokens_per_second}
//   exp-progress {id, progress}             at most every 50 ms, and the final one
//                                           (phase 'done')
//   exp-partial {id, results}               the results so far, after each budget
//   exp-checkpoint {id, variant, budget, bytes}  a budget's pre-trained weights (safetensors;
//                                           variant: a sweep's value, 0 without one)
//   exp-done {id, results}
//   unit-progress {id, report}              a unit's progress, at most every 50 ms
//   unit-done {id, output}                  the unit's output ({value, tensors}), for the
//                                           schedule's done()
//   error {id, error: {kind, message, field}}
//                                           any request failed; `kind` (below) says how,
//                                           and the page decides by it alone
//   panic {id, message}                     a bug in the wasm; the worker then closes and
//                                           the page starts a new one
//   died {id, message}                      the worker cannot go on: the wasm trapped
//                                           without a panic (most likely out of memory); it
//                                           closes, and the page starts a new one and runs
//                                           the request again there (www/runner.js also
//                                           gives this answer to the requests of a worker
//                                           that failed with an uncaught error)
//
// Unit's worker ↔ helper, on the port: {seq, model, params, jobs: [{x, y, n}]} (a
// step's micro-batches for this helper, src/web/parts.rs) and its answer {seq, answers:
// [{loss, grads}]} (or {seq, error}: the unit's worker then computes them itself).

export const MSG = Object.freeze({
  INIT_GPU: 'init-gpu',
  LINEAR: 'linear',
  TRAIN: 'train',
  PROBE: 'probe',
  EXPERIMENT: 'experiment',
  UNIT: 'unit',
  HELP: 'help',
  LEND: 'lend',
  RELEASE: 'release',
  PAUSE: 'pause',
  RESUME: 'resume',
  CANCEL: 'cancel',
  READY: 'ready',
  GPU: 'gpu',
  LINEAR_RESULT: 'linear-result',
  TRAIN_PROGRESS: 'train-progress',
  TRAINED: 'trained',
  PROBE_RESULT: 'probe-result',
  EXP_PROGRESS: 'exp-progress',
  EXP_PARTIAL: 'exp-partial',
  EXP_CHECKPOINT: 'exp-checkpoint',
  EXP_DONE: 'exp-done',
  UNIT_PROGRESS: 'unit-progress',
  UNIT_DONE: 'unit-done',
  ERROR: 'error',
  PANIC: 'panic',
  DIED: 'died',
});

/**
 * The kinds of error (the wasm throws them as {kind, message, field?}):
 * - config: bad input in a config; `field` is its dotted path (shown next to its control)
 * - gpu: WebGPU failed (device lost, validation, a limit): the page offers the CPU
 * - data: input that is not a config is inconsistent, e.g. saved results that do not
 *   belong to the config being resumed (`field`: the part, e.g. "resume")
 * - cancelled: the user cancelled
 * - io: anything else outside the page's control
 */
export const ERROR_KINDS = Object.freeze(['config', 'gpu', 'data', 'cancelled', 'io']);

/** A typed error {kind, message, field} from whatever a wasm call threw. */
export function typedError(e) {
  if (e && typeof e === 'object' && ERROR_KINDS.includes(e.kind)) {
    return { kind: e.kind, message: String(e.message ?? ''), field: e.field ? String(e.field) : null };
  }
  // Not one of the wasm's typed errors (a JS exception in the worker itself).
  return { kind: 'io', message: e instanceof Error ? e.message : String(e), field: null };
}

/** Requests, page → worker. */
export const request = {
  initGpu: () => ({ type: MSG.INIT_GPU }),
  linear: (id, config, backend, shard = 0, shards = 1) => ({ type: MSG.LINEAR, id, config, backend, shard, shards }),
  train: (id, config, backend) => ({ type: MSG.TRAIN, id, config, backend }),
  probe: (id, config, backend) => ({ type: MSG.PROBE, id, config, backend }),
  experiment: (id, config, backend, resume = null) => ({ type: MSG.EXPERIMENT, id, config, backend, resume }),
  unit: (id, config, backend, unit, input = null) => ({ type: MSG.UNIT, id, config, backend, unit, input }),
  help: (id, port) => ({ type: MSG.HELP, id, port }),
  lend: (id, helper, port) => ({ type: MSG.LEND, id, helper, port }),
  release: (id, helper) => ({ type: MSG.RELEASE, id, helper }),
  pause: () => ({ type: MSG.PAUSE }),
  resume: () => ({ type: MSG.RESUME }),
  cancel: (id = null) => ({ type: MSG.CANCEL, id }),
};

/** Answers, worker → page. */
export const reply = {
  ready: () => ({ type: MSG.READY }),
  gpu: (adapter) => ({ type: MSG.GPU, adapter }),
  gpuError: (error) => ({ type: MSG.GPU, error }),
  linearResult: (id, shard, results) => ({ type: MSG.LINEAR_RESULT, id, shard, results }),
  trainProgress: (id, step, loss) => ({ type: MSG.TRAIN_PROGRESS, id, step, loss }),
  trained: (id, result) => ({ type: MSG.TRAINED, id, result }),
  probeResult: (id, tokensPerSecond) => ({ type: MSG.PROBE_RESULT, id, tokens_per_second: tokensPerSecond }),
  expProgress: (id, progress) => ({ type: MSG.EXP_PROGRESS, id, progress }),
  expPartial: (id, results) => ({ type: MSG.EXP_PARTIAL, id, results }),
  expCheckpoint: (id, variant, budget, bytes) => ({ type: MSG.EXP_CHECKPOINT, id, variant, budget, bytes }),
  expDone: (id, results) => ({ type: MSG.EXP_DONE, id, results }),
  unitProgress: (id, report) => ({ type: MSG.UNIT_PROGRESS, id, report }),
  unitDone: (id, output) => ({ type: MSG.UNIT_DONE, id, output }),
  error: (id, e) => ({ type: MSG.ERROR, id, error: typedError(e) }),
  cancelled: (id) => ({ type: MSG.ERROR, id, error: { kind: 'cancelled', message: 'cancelled', field: null } }),
  panic: (id, message) => ({ type: MSG.PANIC, id, message }),
  died: (id, message) => ({ type: MSG.DIED, id, message }),
};
