// What a helped step's exchange costs between two Web Workers, by message and by shared
// memory (issue 22: "gradients and weights exchanged by message or, where the page is
// cross-origin isolated, shared memory — measure which pays"). Not a test.
//
// One worker (the unit's) sends the other (the helper) the weights of Quick's model and
// gets back one gradient per part it asked for, as a helped step does (src/web/parts.rs,
// www/worker.js), with no computing in between, so the time is the exchange alone:
//   message: a MessageChannel port each, the weights copied (structured clone), the
//            gradients transferred back; the unit awaits the answer on its event loop, as
//            the page's step does;
//   shared:  one SharedArrayBuffer for the weights and the gradients, a flag word, and
//            Atomics.wait / Atomics.notify (needs a cross-origin isolated page: this script
//            serves its own page with COOP/COEP headers, which the site does not need).
// Prints the median, 10th and 90th percentile of each, in microseconds.
// usage: node bench/worker_roundtrip.mjs [ROUNDS] [PARAMETERS] [PARTS]
import { createServer } from 'node:http';
import { launch } from '../tests/e2e/harness.mjs';

const rounds = Number(process.argv[2] ?? 2000);
const parameters = Number(process.argv[3] ?? 7776); // Quick's model
const parts = Number(process.argv[4] ?? 2); // a helper's share of 4 micro-batches on 2 workers

const WORKER = `
let port = null, shared = null;
onmessage = (e) => {
  const m = e.data;
  if (m.kind === 'helper-port') {
    port = m.port;
    port.onmessage = (e) => {
      const { weights, parts } = e.data;
      const grads = [];
      for (let i = 0; i < parts; i++) {
        const g = new Float32Array(weights.length);
        g[0] = weights[0] + i;
        grads.push(g);
      }
      port.postMessage({ grads }, grads.map((g) => g.buffer));
    };
  } else if (m.kind === 'helper-shared') {
    const { sab, n, parts } = m;
    const flag = new Int32Array(sab, 0, 1);
    const weights = new Float32Array(sab, 4, n);
    const grads = new Float32Array(sab, 4 + 4 * n, n * parts);
    for (;;) {
      Atomics.wait(flag, 0, 0);
      if (Atomics.load(flag, 0) === 3) return;
      const w = weights.slice(); // the helper's copy of the weights, as its model reads them
      for (let i = 0; i < parts; i++) grads[i * n] = w[0] + i;
      Atomics.store(flag, 0, 2);
      Atomics.notify(flag, 0);
      Atomics.wait(flag, 0, 2);
    }
  } else if (m.kind === 'unit-port') {
    port = m.port;
    const { rounds, n, parts } = m;
    const weights = new Float32Array(n);
    const times = [];
    let i = 0;
    const next = () => {
      weights[0] = i;
      const start = performance.now();
      port.onmessage = (e) => {
        const sum = e.data.grads.reduce((s, g) => s + g[0], 0);
        if (sum !== parts * i + (parts * (parts - 1)) / 2) throw new Error('wrong answer');
        times.push(performance.now() - start);
        if (++i < rounds) next(); else postMessage({ times });
      };
      port.postMessage({ weights, parts }); // copied, as the page's step sends them
    };
    next();
  } else if (m.kind === 'unit-shared') {
    const { sab, rounds, n, parts } = m;
    const flag = new Int32Array(sab, 0, 1);
    const weights = new Float32Array(sab, 4, n);
    const grads = new Float32Array(sab, 4 + 4 * n, n * parts);
    const mine = new Float32Array(n);
    const times = [];
    for (let i = 0; i < rounds; i++) {
      mine[0] = i;
      const start = performance.now();
      weights.set(mine);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      Atomics.wait(flag, 0, 1);
      const got = grads.slice(); // the unit's copy of the gradients, to add in part order
      let sum = 0;
      for (let p = 0; p < parts; p++) sum += got[p * n];
      if (sum !== parts * i + (parts * (parts - 1)) / 2) throw new Error('wrong answer');
      times.push(performance.now() - start);
      Atomics.store(flag, 0, i + 1 < rounds ? 0 : 3);
      Atomics.notify(flag, 0);
    }
    postMessage({ times });
  }
};`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>round trip</title><script type="module">
const url = '/w.js';
async function run(kind, rounds, n, parts) {
  const unit = new Worker(url), helper = new Worker(url);
  const done = new Promise((resolve, reject) => {
    unit.onmessage = (e) => resolve(e.data.times);
    unit.onerror = helper.onerror = (e) => reject(new Error(e.message));
  });
  if (kind === 'message') {
    const channel = new MessageChannel();
    helper.postMessage({ kind: 'helper-port', port: channel.port2 }, [channel.port2]);
    unit.postMessage({ kind: 'unit-port', port: channel.port1, rounds, n, parts }, [channel.port1]);
  } else {
    const sab = new SharedArrayBuffer(4 + 4 * n * (1 + parts));
    helper.postMessage({ kind: 'helper-shared', sab, n, parts });
    unit.postMessage({ kind: 'unit-shared', sab, rounds, n, parts });
  }
  const times = await done;
  unit.terminate();
  helper.terminate();
  return times;
}
globalThis.run = run;
globalThis.ready = crossOriginIsolated;
</script>`;

const server = createServer((req, res) => {
  const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  if (req.url === '/w.js') res.writeHead(200, { 'Content-Type': 'text/javascript', ...isolation }).end(WORKER);
  else res.writeHead(200, { 'Content-Type': 'text/html', ...isolation }).end(PAGE);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const browser = await launch({ webgpu: false });
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => globalThis.run);
  if (!(await page.evaluate(() => globalThis.ready))) throw new Error('the page is not cross-origin isolated');
  const rows = [];
  // Each way three times, in turn; the first rounds of each (a warm-up) are dropped.
  for (let r = 0; r < 3; r++) {
    for (const kind of ['message', 'shared']) {
      const times = (await page.evaluate(([k, n, p, q]) => globalThis.run(k, n, p, q), [kind, rounds, parameters, parts])).slice(Math.floor(rounds / 10));
      times.sort((a, b) => a - b);
      const us = (x) => Math.round(x * 1000);
      rows.push({ kind, round: r + 1, median_us: us(pct(times, 0.5)), p10_us: us(pct(times, 0.1)), p90_us: us(pct(times, 0.9)) });
    }
  }
  console.log(JSON.stringify({ browser: browser.version(), parameters, parts, rounds }));
  for (const row of rows) console.log(JSON.stringify(row));
} finally {
  await browser.close();
  server.close();
}
