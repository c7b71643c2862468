// Benchmark (not a test): training tokens/s of the same GPT with TensorFlow.js's WebGPU
// backend and with ours (the wasm's bench_transformer), in one headless Chromium on one
// adapter (SwiftShader without a GPU), alternating, medians and the ratio ours / TF.js.
//
// The model, both sides: 2 layers, d_model 64, 4 heads, d_ff 256, context 64, vocabulary
// 256 (bytes), LayerNorm, GELU (tanh), learned positions, tied embeddings, no linear
// biases; batch 8 × 64 tokens; Adam at lr 1e-3 (ours: AdamW with weight decay and gradient
// clipping, a little more work per step). Each side takes one warm-up step (pipelines
// compiled), then STEPS timed steps, the clock stopped once the last step's loss is back on
// the CPU (TF.js: loss.data() after the last step; ours: the engine's loss read-back).
// Data: random bytes for TF.js, the synthetic corpus for ours (the time of a step does not
// depend on the bytes).
//
// usage: node bench/tfjs_train.mjs [ROUNDS (default 3)] [STEPS (default 5)]
//   needs dist/ (scripts/serve.sh's build) and bench/tfjs/node_modules
//   (cd bench/tfjs && npm ci): TensorFlow.js is served to the page from there.
import fs from 'node:fs';
import os from 'node:os';
import { startServer, launch } from '../tests/e2e/harness.mjs';

const rounds = Number(process.argv[2] ?? 3);
const steps = Number(process.argv[3] ?? 5);
const modules = new URL('tfjs/node_modules/@tensorflow/', import.meta.url);
const scripts = {
  'tf.min.js': new URL('tfjs/dist/tf.min.js', modules),
  'tf-backend-webgpu.min.js': new URL('tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js', modules),
};
for (const file of Object.values(scripts)) {
  if (!fs.existsSync(file)) throw new Error(`${file.pathname} is missing: run (cd bench/tfjs && npm ci)`);
}

/** Runs in the page: trains the GPT with TF.js on WebGPU; resolves to {tokens_per_second}. */
async function tfjsTrain({ steps }) {
  const tf = globalThis.tf;
  await tf.setBackend('webgpu');
  await tf.ready();
  const [V, T, D, H, L, B, F] = [256, 64, 64, 4, 2, 8, 256];
  const hs = D / H;
  const normal = (shape, std) => tf.variable(tf.randomNormal(shape, 0, std));
  const ones = (n) => tf.variable(tf.ones([n]));
  const zeros = (n) => tf.variable(tf.zeros([n]));
  const wte = normal([V, D], 0.02);
  const wpe = normal([T, D], 0.01);
  const layers = Array.from({ length: L }, () => ({
    g1: ones(D), b1: zeros(D), qkv: normal([D, 3 * D], 0.02), proj: normal([D, D], 0.02 / Math.sqrt(2 * L)),
    g2: ones(D), b2: zeros(D), fc: normal([D, F], 0.02), fcProj: normal([F, D], 0.02 / Math.sqrt(2 * L)),
  }));
  const gf = ones(D);
  const bf = zeros(D);
  const mask = tf.linalg.bandPart(tf.ones([T, T]), -1, 0).sub(1).mul(1e9); // 0 on and below the diagonal
  const layerNorm = (x, g, b) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(g).add(b);
  };
  const gelu = (x) => x.mul(0.5).mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1));
  const heads = (x) => x.reshape([B, T, H, hs]).transpose([0, 2, 1, 3]);
  const loss = (x, y) => {
    let h = tf.gather(wte, x).add(wpe); // B × T × D
    for (const l of layers) {
      const a = layerNorm(h, l.g1, l.b1).reshape([B * T, D]);
      const qkv = tf.matMul(a, l.qkv).reshape([B, T, 3 * D]);
      const [q, k, v] = tf.split(qkv, 3, 2).map(heads);
      const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(hs)).add(mask));
      const y2 = tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([B * T, D]);
      h = h.add(tf.matMul(y2, l.proj).reshape([B, T, D]));
      const m = gelu(tf.matMul(layerNorm(h, l.g2, l.b2).reshape([B * T, D]), l.fc));
      h = h.add(tf.matMul(m, l.fcProj).reshape([B, T, D]));
    }
    const logits = tf.matMul(layerNorm(h, gf, bf).reshape([B * T, D]), wte, false, true);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(y.reshape([B * T]), V), logits);
  };
  const optimizer = tf.train.adam(1e-3);
  const batch = () => {
    const bytes = tf.randomUniform([B, T + 1], 0, V, 'int32');
    const x = bytes.slice([0, 0], [B, T]);
    const y = bytes.slice([0, 1], [B, T]);
    bytes.dispose();
    return { x, y };
  };
  const step = async (last) => {
    const { x, y } = batch();
    const l = optimizer.minimize(() => loss(x, y), true);
    tf.dispose([x, y]);
    if (last) await l.data();
    l.dispose();
  };
  await step(true); // warm-up: shaders compiled
  const start = performance.now();
  for (let s = 0; s < steps; s++) await step(s === steps - 1);
  const ms = performance.now() - start;
  return { tokens_per_second: (steps * B * T) / (ms / 1e3), backend: tf.getBackend() };
}

/** Runs in the page: ours (bench_transformer, the 0.1M model, batch 8). */
async function oursTrain({ steps }) {
  const wasm = await import('./pkg/overtrain.js');
  await wasm.default();
  const [row] = await wasm.bench_transformer(8, steps, '0.1M');
  return { tokens_per_second: row.webgpu.tokens_per_second, parameters: row.webgpu.parameters, dispatches_per_step: row.webgpu.dispatches_per_step };
}

const server = await startServer();
const browser = await launch({ webgpu: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const context = await browser.newContext();
  // TF.js from bench/tfjs/node_modules on a page of its own at a path of the same origin
  // (not served by the site: TF.js needs 'unsafe-eval', which the site's CSP forbids).
  await context.route(/\/bench-tfjs\/.*$/, (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop();
    if (name === '' || name === 'index.html') {
      return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>TF.js</title><script src="tf.min.js"></script><script src="tf-backend-webgpu.min.js"></script>' });
    }
    const file = scripts[name];
    if (!file) return route.fulfill({ status: 404 });
    return route.fulfill({ status: 200, contentType: 'text/javascript', body: fs.readFileSync(file) });
  });
  const errors = [];
  const tfPage = await context.newPage();
  tfPage.on('pageerror', (e) => errors.push(`TF.js page: ${e}`));
  await tfPage.goto(`${server.url}bench-tfjs/index.html`);
  await tfPage.waitForFunction(() => typeof globalThis.tf?.setBackend === 'function');
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}www/`);
  const adapter = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    const info = a?.info ?? {};
    return a ? `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.trim() : null;
  });
  if (!adapter) throw new Error('no WebGPU adapter in this Chromium');
  console.log(JSON.stringify({ browser: browser.version(), adapter, cpu: os.cpus()[0].model, cores: os.cpus().length, steps, rounds }));
  const rows = { tfjs: [], ours: [], ratio: [] };
  for (let r = 0; r < rounds; r++) {
    const tfjs = await tfPage.evaluate(tfjsTrain, { steps });
    const ours = await page.evaluate(oursTrain, { steps });
    rows.tfjs.push(tfjs.tokens_per_second);
    rows.ours.push(ours.tokens_per_second);
    rows.ratio.push(ours.tokens_per_second / tfjs.tokens_per_second);
    console.log(JSON.stringify({ round: r + 1, tfjs_tokens_per_second: +tfjs.tokens_per_second.toFixed(1), tfjs_backend: tfjs.backend, ours_tokens_per_second: +ours.tokens_per_second.toFixed(1), parameters: ours.parameters, dispatches_per_step: ours.dispatches_per_step, load: +os.loadavg()[0].toFixed(2) }));
  }
  if (errors.length) throw new Error(errors.join('\n'));
  console.log(`median: TF.js WebGPU ${median(rows.tfjs).toFixed(1)} tokens/s, ours ${median(rows.ours).toFixed(1)} tokens/s; ratio ours / TF.js ${median(rows.ratio).toFixed(2)}× (median of the rounds' ratios) on ${adapter}`);
} finally {
  await browser.close();
  await server.close();
}
