// The Web Worker that runs every computation, so the page never freezes.
// Protocol: in {id, config: JSON text, shard, shards}; out {type: 'ready'} once, then per
// request {type: 'result', id, results: JSON text of that shard} | {type: 'invalid', id, error: {field, message}}
// | {type: 'panic', id, message} (the worker then closes; the page starts a new one).
import init, { run_linear_shard } from './pkg/overtrain.js';

let panicMessage = null;
globalThis.__overtrainPanic = (message) => { panicMessage = message; };

const ready = init().then(
  () => postMessage({ type: 'ready' }),
  (e) => postMessage({ type: 'panic', id: null, message: `could not load WebAssembly: ${e}` }),
);

onmessage = async (event) => {
  await ready;
  const { id, config, shard, shards } = event.data;
  try {
    const results = run_linear_shard(config, shard, shards);
    postMessage({ type: 'result', id, shard, results });
  } catch (e) {
    if (panicMessage !== null) {
      postMessage({ type: 'panic', id, message: panicMessage });
      close();
    } else if (e && typeof e === 'object' && 'field' in e) {
      postMessage({ type: 'invalid', id, error: { field: e.field, message: e.message } });
    } else {
      postMessage({ type: 'panic', id, message: String(e) });
      close();
    }
  }
};
