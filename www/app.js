// The page: controls → (Web Worker) linear lab → plots drawn by the wasm on this thread.
import init, { default_linear_config, validate_linear_config, render_linear_plots, merge_linear_shards } from './pkg/overtrain.js';
import { Controls } from './controls.js';
import { TransformerLab } from './transformer.js';
import { encodeState, decodeState } from './state.js';
import { linearTable, plotFigure, tableView } from './tables.js';
import { shareDialog } from './share.js';
import { EXERCISES, exerciseById } from './exercises.js';

const PLOTS = {
  sensitivity: {
    title: 'Base loss and sensitivity',
    text: 'Black: the pre-training loss, falling as the network learns more directions. Colours: the sensitivity — how much a random nudge of the weights (noise of scale γ) raises that loss. It grows the longer we pre-train: the learned weights are larger, so the same nudge does more damage.',
  },
  perturbed: {
    title: 'Loss after a Gaussian perturbation',
    text: 'Pre-training helps the perturbed model at first, then the growing sensitivity wins: the loss bottoms out (dot: the inflection point) and rises again. Larger noise γ brings the bottom earlier. Solid: average over M random draws; dashed: the exact expectation.',
  },
  finetuned: {
    title: 'After fine-tuning each checkpoint',
    text: 'Every checkpoint is fine-tuned on the second task with learning rate η (colour), optionally pulled toward its pre-trained weights with strength λ (dashed). Left: how well the fine-tuned model still does the pre-training task. It is U-shaped: past the dot, more pre-training makes the fine-tuned model worse — catastrophic overtraining. A larger η moves the dot earlier; λ > 0 delays it but costs fine-tuning loss (right). Grey dotted: the idealized theory.',
  },
  singular_values: {
    title: 'Directions learned one at a time',
    text: 'The strength of the network along each task direction (blue: the largest target, red: the smallest). A small initialization makes it learn the directions one at a time, largest first — so pre-training time counts how many directions have been learned.',
  },
};

const $ = (id) => document.getElementById(id);
const status = (text, busy = false) => { $('status').textContent = text; $('status').classList.toggle('busy', busy); };

function fatal(message) {
  $('fatal').hidden = false;
  $('fatal').textContent = `Internal error: ${message}. Your settings are kept; reload the page to continue.`;
}
globalThis.__overtrainPanic = (message) => fatal(message);

/**
 * Runs configs on a pool of Web Workers. On the CPU each worker computes one shard of the
 * checkpoints (one worker per core, up to 4) and the shards are merged; on WebGPU worker 0,
 * which holds the device, runs the whole experiment. One run at a time; a newer request
 * replaces a queued one, and a long run is abandoned for it.
 */
class Runner {
  constructor({ onResult, onInvalid, onGpu, onGpuFailed }) {
    Object.assign(this, { onResult, onInvalid, onGpu, onGpuFailed });
    this.size = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
    this.nextId = 1;
    this.gpu = undefined; // undefined: not known yet; null: none; else the adapter
    this.#spawn();
  }
  #spawn() {
    this.workers = Array.from({ length: this.size }, () => {
      const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
      w.onmessage = (e) => this.#message(e.data);
      w.onerror = (e) => { fatal(`a computation worker failed (${e.message || 'unknown error'})`); this.#restart(); };
      return w;
    });
    this.busy = null; // {id, config, backend, started, parts, pending}
    this.queued = null;
    this.workers[0].postMessage({ type: 'init-gpu' });
  }
  #restart() {
    for (const w of this.workers) w.terminate();
    const queued = this.queued ?? (this.busy && { config: this.busy.config, backend: this.busy.backend });
    this.#spawn();
    if (queued) this.run(queued.config, queued.backend);
  }
  /** backend: 'cpu' or 'gpu' (the caller resolves 'auto'). */
  run(config, backend) {
    if (this.busy) {
      this.queued = { config, backend };
      if (performance.now() - this.busy.started > 1500) this.#restart();
      return;
    }
    const id = this.nextId++;
    if (backend === 'gpu') {
      this.busy = { id, config, backend, started: performance.now(), parts: [null], pending: 1 };
      this.workers[0].postMessage({ id, config, backend });
    } else {
      this.busy = { id, config, backend, started: performance.now(), parts: new Array(this.size), pending: this.size };
      this.workers.forEach((w, shard) => w.postMessage({ id, config, backend, shard, shards: this.size }));
    }
  }
  #message(msg) {
    if (msg.type === 'ready') return;
    if (msg.type === 'gpu') {
      this.gpu = msg.adapter ?? null;
      this.onGpu(this.gpu, msg.error);
      return;
    }
    if (msg.type === 'panic') {
      fatal(msg.message);
      this.queued = null;
      this.busy = null;
      this.#restart();
      return;
    }
    const job = this.busy;
    if (!job || msg.id !== job.id) return; // a shard of an abandoned run
    if (msg.type === 'invalid') {
      this.busy = null;
      this.onInvalid(msg.error);
    } else if (msg.type === 'gpu-failed') {
      this.busy = null;
      this.onGpuFailed(msg.message, job);
    } else {
      job.parts[msg.shard] = msg.results;
      if (--job.pending > 0) return;
      this.busy = null;
      let merged = job.parts[0];
      if (job.parts.length > 1) {
        try {
          merged = merge_linear_shards(`[${job.parts.join(',')}]`);
        } catch (e) {
          fatal(`could not merge the workers' results: ${e}`);
          return;
        }
      }
      this.onResult(merged, job);
    }
    if (this.queued) { const next = this.queued; this.queued = null; this.run(next.config, next.backend); }
  }
}

async function main() {
  await init();
  const defaults = JSON.parse(default_linear_config());
  let lastResults = null; // JSON text of the last good run
  let lastConfigText = null;

  const plotsEl = $('plots');
  const figures = Object.fromEntries(Object.keys(PLOTS).map((n) => [n, plotFigure(n, PLOTS[n])]));
  plotsEl.append(...Object.values(figures));

  const draw = () => {
    if (!lastResults) return;
    const plots = render_linear_plots(lastResults, JSON.stringify({ width: 640, height: 400, show_theory: controls.showTheory }));
    for (const [name, svgText] of plots) {
      const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
      const holder = figures[name].querySelector('.svg');
      holder.replaceChildren(document.importNode(doc.documentElement, true));
      figures[name].querySelector('details.table-view')?.remove();
      figures[name].append(tableView(linearTable(name, JSON.parse(lastResults)), PLOTS[name].title));
    }
    plotsEl.dataset.rendered = String(Number(plotsEl.dataset.rendered || 0) + 1);
  };

  const notices = (results) => {
    const out = [];
    if (results.pretrain_diverged_at != null) out.push(`Pre-training diverged at step ${results.pretrain_diverged_at}: the curves stop at the last finite checkpoint. Lower the pre-training learning rate.`);
    for (const c of results.finetune) {
      if (c.diverged_at != null) out.push(`Fine-tuning with η = ${c.lr}, λ = ${c.l2} diverged at step ${c.diverged_at} (from the checkpoints at steps ${c.diverged_checkpoints.join(', ')}); those points are not plotted.`);
    }
    const box = $('notices');
    box.replaceChildren(...out.map((t) => { const d = document.createElement('div'); d.className = 'notice'; d.textContent = t; return d; }));
  };

  // The compute backend: 'auto' is WebGPU on a hardware adapter, and the CPU on a software
  // one (SwiftShader, llvmpipe), where the CPU path is faster for this lab.
  let gpuFailure = null; // message of a WebGPU failure; the page then stays on the CPU
  const backendChoice = () => $('f-backend').value;
  const resolveBackend = () => {
    const choice = backendChoice();
    if (choice === 'cpu' || !runner.gpu || gpuFailure) return 'cpu';
    if (choice === 'gpu') return 'gpu';
    return runner.gpu.software ? 'cpu' : 'gpu';
  };
  const describeBackend = () => {
    const box = $('backend-info');
    if (runner.gpu === undefined) { box.textContent = 'Looking for WebGPU…'; return; }
    if (runner.gpu === null) { box.textContent = `WebGPU is not available here (${runner.gpuError}); the lab runs on the CPU (WebAssembly).`; return; }
    const a = runner.gpu;
    const kind = a.software ? ' — a software GPU: expect slow training' : '';
    let text = `WebGPU adapter: ${a.name} (${a.device_type})${kind}.`;
    if (a.software && backendChoice() === 'auto') text += ' Auto uses the CPU here, which is faster for this lab; choose WebGPU to run on it.';
    box.textContent = text;
  };

  const runner = new Runner({
    onResult: (resultsText, job) => {
      const wall = performance.now() - job.started; // workers + merge, before drawing
      plotsEl.classList.remove('stale');
      lastResults = resultsText;
      const results = JSON.parse(resultsText);
      notices(results);
      draw();
      const runs = results.steps.length * results.finetune.length;
      let where = `the CPU (WebAssembly, ${runner.size} worker${runner.size > 1 ? 's' : ''})`;
      if (results.backend?.kind === 'gpu') {
        const a = results.backend.adapter;
        where = `WebGPU (${a.name}${a.software ? ', a software GPU' : ''}; ${results.backend.dispatches} dispatches)`;
      }
      status(`Computed in ${wall.toFixed(0)} ms on ${where} · ${results.steps.length} checkpoints · ${runs} fine-tuning runs`);
      document.body.dataset.backend = results.backend?.kind === 'gpu' ? 'webgpu' : 'cpu';
      document.body.dataset.lastRunMs = String(results.elapsed_ms);
      document.body.dataset.lastRoundTripMs = String(wall);
    },
    onInvalid: (error) => { controls.showErrors([error]); status('Fix the highlighted field; the plots show the last valid settings.'); },
    onGpu: (adapter, error) => {
      runner.gpuError = error;
      document.body.dataset.webgpu = adapter ? (adapter.software ? 'software' : 'hardware') : 'none';
      describeBackend();
      lastConfigText = null; // the backend may change: recompute
      update({});
    },
    onGpuFailed: (message, job) => {
      gpuFailure = message;
      const box = $('gpu-failure');
      box.hidden = false;
      box.querySelector('.message').textContent = `WebGPU failed: ${message}`;
      status('WebGPU failed; the plots show the last results.');
      plotsEl.classList.remove('stale');
      if (backendChoice() !== 'gpu') { lastConfigText = null; update({}); }
    },
  });
  $('gpu-continue').addEventListener('click', () => {
    $('gpu-failure').hidden = true;
    $('f-backend').value = 'cpu';
    lastConfigText = null;
    update({});
  });
  $('f-backend').addEventListener('change', () => {
    gpuFailure = null;
    $('gpu-failure').hidden = true;
    describeBackend();
    lastConfigText = null;
    update({});
  });

  const update = ({ displayOnly }) => {
    if (displayOnly) { draw(); return; }
    const read = controls.read();
    let errors = read.errors ?? [];
    let configText = null;
    if (!errors.length) {
      configText = JSON.stringify(read.config);
      const err = validate_linear_config(configText);
      if (err) errors = [err];
    }
    const orphans = controls.showErrors(errors);
    $('notices').querySelectorAll('.notice.error').forEach((n) => n.remove());
    for (const o of orphans) {
      const d = document.createElement('div');
      d.className = 'notice error';
      d.textContent = `${o.field || 'config'}: ${o.message}`;
      $('notices').prepend(d);
    }
    if (errors.length) { status('Fix the highlighted field; the plots show the last valid settings.'); return; }
    syncHash();
    if (runner.gpu === undefined) { status('Looking for WebGPU…', true); return; }
    const backend = resolveBackend();
    if (configText + backend === lastConfigText) return;
    lastConfigText = configText + backend;
    plotsEl.classList.add('stale');
    status(backend === 'gpu' ? 'Computing on WebGPU…' : 'Computing…', true);
    runner.run(configText, backend);
  };

  const controls = new Controls($('controls'), update);
  controls.set(defaults);
  $('reset').addEventListener('click', () => { controls.set(defaults); update({}); });
  $('download').addEventListener('click', () => {
    if (!lastResults) return;
    const url = URL.createObjectURL(new Blob([lastResults], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'overtrain-linear-results.json';
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });

  // The two labs, as tabs.
  let currentLab = 'linear';
  const lab = new TransformerLab({ fatal, gpuInfo: () => runner.gpu, onChange: () => syncHash() });
  const show = (which) => {
    currentLab = which;
    for (const [tab, panel, name] of [['tab-linear', 'linear-lab', 'linear'], ['tab-transformer', 'transformer-lab', 'transformer']]) {
      const on = name === which;
      $(tab).setAttribute('aria-selected', String(on));
      $(panel).hidden = !on;
    }
    syncHash();
  };
  $('tab-linear').addEventListener('click', () => show('linear'));
  $('tab-transformer').addEventListener('click', () => show('transformer'));
  globalThis.__overtrainLab = lab;

  // The whole state in the URL hash (www/state.js): read on load and on hashchange,
  // rewritten (replaceState, no history spam) after every valid change.
  const txDefaults = lab.presets.quick;
  let applying = false;
  let embed = null; // {plots, controls} in embed mode
  function syncHash() {
    if (applying) return;
    const linear = controls.read().config;
    const transformer = lab.config();
    if (!linear || !transformer) return;
    const page = { backend: currentLab === 'linear' ? $('f-backend').value : $('tx-backend').value, preset: $('tx-preset').value };
    if (embed) Object.assign(page, { embed: '1', plots: embed.plots.join(','), controls: embed.controls.join(',') });
    const hash = encodeState({ lab: currentLab, linear, transformer, page });
    if (location.hash.slice(1) !== hash) history.replaceState(null, '', `#${hash}`);
    shareDialog.update(location.href, currentLab, embed ? null : undefined);
  }
  const apply = (hash) => {
    applying = true;
    const state = decodeState(hash, { linear: defaults, transformer: txDefaults });
    controls.set(state.linear);
    if (state.page.backend) $('f-backend').value = state.page.backend;
    lab.setState({ config: state.transformer, preset: state.page.preset, backend: state.page.backend });
    applying = false;
    show(state.lab);
    const box = $('url-notice');
    box.hidden = state.ignored.length === 0;
    box.textContent = state.ignored.length ? `Ignored from the link (unknown or malformed): ${state.ignored.join(', ')}.` : '';
    if (state.page.embed === '1') enterEmbed(state);
  };
  const enterEmbed = (state) => {
    const names = state.lab === 'transformer' ? Object.keys(lab.figures) : Object.keys(figures);
    const plots = (state.page.plots ?? '').split(',').filter((n) => names.includes(n));
    const paths = (state.page.controls ?? '').split(',').filter((p) => controls.rows.has(p) && controls.rows.get(p).spec);
    embed = { plots: plots.length ? plots : ['finetuned'], controls: state.lab === 'linear' ? (paths.length ? paths : ['pretrain.steps']) : [] };
    document.body.classList.add('embed');
    const all = state.lab === 'transformer' ? lab.figures : figures;
    for (const [name, fig] of Object.entries(all)) fig.classList.toggle('embed-hidden', !embed.plots.includes(name));
    const strip = $('embed-strip');
    strip.hidden = false;
    for (const p of embed.controls) strip.querySelector('.strip-controls').append(controls.rows.get(p).row);
    const full = new URL(location.href);
    full.hash = full.hash.replace(/&?embed=1/, '');
    strip.querySelector('a').href = full.href;
    syncHash();
  };
  window.addEventListener('hashchange', () => {
    if (!embed) { apply(location.hash); update({}); }
  });
  $('share-open').addEventListener('click', () => shareDialog.open(location.href, currentLab));

  // Guided exercises: set a lab up, then check an answer against the student's own run.
  const openExercises = (open) => {
    $('exercises').hidden = !open;
    $('exercises-open').setAttribute('aria-expanded', String(open));
  };
  $('exercises-open').addEventListener('click', () => openExercises($('exercises').hidden));
  for (const ex of EXERCISES) {
    const art = document.createElement('article');
    art.id = `exercise-${ex.id}`;
    const h = document.createElement('h3');
    h.textContent = ex.title;
    const q = document.createElement('p');
    q.textContent = ex.question;
    const setupBtn = document.createElement('button');
    setupBtn.type = 'button';
    setupBtn.textContent = 'Set up the lab';
    setupBtn.dataset.setup = ex.id;
    setupBtn.addEventListener('click', () => {
      if (ex.lab === 'linear') {
        show('linear');
        controls.set(ex.setup(structuredClone(defaults)));
        update({});
      } else {
        show('transformer');
        lab.setState({ config: ex.setup(structuredClone(lab.presets[ex.preset])), preset: ex.preset });
      }
    });
    const answer = document.createElement('fieldset');
    const legend = document.createElement('legend');
    legend.textContent = 'Your answer';
    answer.append(legend);
    let read;
    if (ex.answer.kind === 'number') {
      const input = document.createElement('input');
      input.type = 'number';
      input.id = `answer-${ex.id}`;
      const label = document.createElement('label');
      label.htmlFor = input.id;
      label.textContent = ex.answer.label;
      answer.append(label, input);
      read = () => input.value;
    } else {
      ex.answer.options.forEach((opt, i) => {
        const input = document.createElement('input');
        input.type = 'radio';
        input.name = `answer-${ex.id}`;
        input.id = `answer-${ex.id}-${i}`;
        input.value = opt;
        const label = document.createElement('label');
        label.htmlFor = input.id;
        label.textContent = opt;
        label.prepend(input);
        answer.append(label);
      });
      read = () => answer.querySelector('input:checked')?.value ?? '';
    }
    const checkBtn = document.createElement('button');
    checkBtn.type = 'button';
    checkBtn.textContent = 'Check my answer';
    checkBtn.dataset.check = ex.id;
    const feedback = document.createElement('p');
    feedback.className = 'feedback';
    feedback.setAttribute('aria-live', 'polite');
    checkBtn.addEventListener('click', () => {
      const text = ex.lab === 'linear' ? lastResults : lab.results;
      let out;
      if (!text) out = { correct: false, text: 'Run the lab first: there are no results to check against yet.' };
      else if (read() === '') out = { correct: false, text: 'Give an answer first.' };
      else out = ex.check(JSON.parse(text), read());
      feedback.textContent = out.text;
      feedback.className = `feedback ${out.correct ? 'correct' : 'wrong'}`;
      art.dataset.result = out.correct ? 'correct' : 'wrong';
    });
    art.append(h, q, setupBtn, answer, checkBtn, feedback);
    $('exercise-list').append(art);
  }
  globalThis.__overtrainLinearResults = () => lastResults;

  // (Read before applying: the page rewrites the hash, and `exercise` is not kept in it.)
  const wanted = exerciseById(decodeState(location.hash, { linear: defaults, transformer: txDefaults }).page.exercise ?? '');
  apply(location.hash);
  if (wanted) { openExercises(true); $(`exercise-${wanted.id}`).scrollIntoView(); }
  update({});
}

main().catch((e) => fatal(e?.message ?? String(e)));
