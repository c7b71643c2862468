// The transformer lab: an experiment builder (presets, every config field), the cost
// estimate, start / pause / resume / cancel of one experiment in its own Web Worker,
// progress with ETA and live loss, the five plots (drawn by the wasm on this thread) and
// exports (results JSON, per-plot CSV, SVG and PNG, checkpoints as safetensors).
import { experimentTable, plotFigure, tableView, toCsv } from './tables.js';
import { store } from './store.js';
import { experiment_presets, validate_experiment_config, estimate_experiment, render_experiment_plots } from './pkg/overtrain.js';

const PLOTS = {
  base: {
    title: 'Base model',
    text: 'Held-out perplexity of the pre-trained model: more pre-training tokens, a better model. Nothing here hints at trouble.',
  },
  perturbed: {
    title: 'Sensitivity to a Gaussian perturbation (paper, Fig. 3)',
    text: 'Left: perplexity after adding noise of scale γ (relative to each weight\'s initial spread) to the pre-trained weights; bars: spread over the draws; ring: the inflection. Right: how much the noise costs. The cost grows with the budget: longer-trained weights are more fragile, so for large γ the curve turns upward.',
  },
  finetuned_change: {
    title: 'Forgetting after fine-tuning (paper, Fig. 4)',
    text: 'How much worse each model gets at the pre-training text after fine-tuning on the task, per fine-tuning learning rate. It grows with the budget: the same fine-tuning costs a longer-trained model more.',
  },
  finetuned: {
    title: 'After fine-tuning (paper, Fig. 5)',
    text: 'Left: pre-training perplexity after fine-tuning. U-shaped: past the ring, pre-training longer makes the fine-tuned model worse — catastrophic overtraining. A larger learning rate moves the ring earlier. Right: the task\'s own held-out perplexity.',
  },
  tuned: {
    title: 'With the best learning rate per budget',
    text: 'For each budget, the learning rate with the best task perplexity, as a practitioner would pick it. Left: its pre-training perplexity; right: its task perplexity.',
  },
};

/** Enumerations the form offers as choices (path → options). */
const CHOICES = {
  'pretrain.protocol': ['independent', 'wsd'],
  'model.norm': ['layernorm', 'rmsnorm'],
  'model.mlp': ['gelu', 'swiglu'],
  'model.pos': ['learned', 'rope'],
  'finetune.task': ['shifted', 'code', 'facts', 'arithmetic', 'user'],
};
const SKIP = new Set(['schema_version']);

const $ = (id) => document.getElementById(id);
const idOf = (path) => `x-${path.replace(/[.[\]]+/g, '-').replace(/-$/, '')}`;

/** A form for every field of a config object, built from the config itself. */
class ExperimentForm {
  constructor(form, onChange) {
    this.form = form;
    this.onChange = onChange;
    this.fields = new Map(); // path → {kind, input, row}
  }
  set(config) {
    this.form.replaceChildren();
    this.fields.clear();
    const walk = (obj, prefix, parent) => {
      for (const [key, value] of Object.entries(obj)) {
        const path = prefix ? `${prefix}.${key}` : key;
        if (SKIP.has(path)) continue;
        if (value && typeof value === 'object' && !Array.isArray(value)) {
          const fs = document.createElement('fieldset');
          const legend = document.createElement('legend');
          legend.textContent = key;
          fs.append(legend);
          parent.append(fs);
          walk(value, path, fs);
          continue;
        }
        parent.append(this.#field(path, key, value));
      }
    };
    walk(config, '', this.form);
  }
  #field(path, key, value) {
    const row = document.createElement('div');
    row.className = 'field';
    const label = document.createElement('label');
    label.textContent = key.replace(/_/g, ' ');
    let input;
    let kind;
    if (CHOICES[path]) {
      kind = 'choice';
      input = document.createElement('select');
      for (const c of CHOICES[path]) {
        const o = document.createElement('option');
        o.value = c;
        o.textContent = c;
        input.append(o);
      }
      input.value = value;
    } else if (typeof value === 'boolean') {
      kind = 'bool';
      input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = value;
    } else if (Array.isArray(value)) {
      kind = 'list';
      input = document.createElement('input');
      input.type = 'text';
      input.value = value.join(', ');
    } else if (path === 'finetune.user_text') {
      kind = 'text';
      input = document.createElement('textarea');
      input.value = value ?? '';
      input.placeholder = 'Paste at least 2 KB of text and choose task "user".';
    } else {
      kind = typeof value === 'number' ? 'number' : 'string';
      input = document.createElement('input');
      input.type = 'text';
      input.inputMode = kind === 'number' ? 'decimal' : 'text';
      input.value = String(value);
    }
    input.id = idOf(path);
    label.htmlFor = input.id;
    input.addEventListener('change', () => this.onChange());
    row.append(label, input);
    this.fields.set(path, { kind, input, row });
    return row;
  }
  /** {config} or {errors: [{field, message}]}. */
  read() {
    const config = { schema_version: 1 };
    const errors = [];
    for (const [path, { kind, input }] of this.fields) {
      let v;
      if (kind === 'bool') v = input.checked;
      else if (kind === 'choice' || kind === 'string') v = input.value;
      else if (kind === 'text') v = input.value === '' ? null : input.value;
      else if (kind === 'number') {
        v = Number(input.value.trim());
        if (input.value.trim() === '' || !Number.isFinite(v)) errors.push({ field: path, message: `must be a number, got "${input.value}"` });
      } else {
        const parts = input.value.split(',').map((t) => t.trim()).filter((t) => t !== '');
        v = parts.map(Number);
        const bad = parts.findIndex((t, i) => !Number.isFinite(v[i]));
        if (bad >= 0) errors.push({ field: `${path}[${bad}]`, message: `must be a number, got "${parts[bad]}"` });
      }
      const keys = path.split('.');
      let obj = config;
      for (const k of keys.slice(0, -1)) obj = obj[k] ??= {};
      obj[keys.at(-1)] = v;
    }
    return errors.length ? { errors } : { config };
  }
  /** Shows each error next to its field; returns those without a field. */
  showErrors(errors) {
    for (const { row } of this.fields.values()) {
      row.classList.remove('invalid');
      row.querySelector('.error')?.remove();
    }
    const orphans = [];
    for (const e of errors) {
      const path = e.field.replace(/\[\d+\]$/, '');
      const f = this.fields.get(path);
      if (!f) { orphans.push(e); continue; }
      f.row.classList.add('invalid');
      const msg = document.createElement('div');
      msg.className = 'error';
      msg.id = `${f.input.id}-error`;
      msg.textContent = e.message;
      f.input.setAttribute('aria-describedby', msg.id);
      f.row.append(msg);
    }
    return orphans;
  }
}

const fmt = {
  si: (x) => (x >= 1e12 ? `${(x / 1e12).toFixed(1)} T` : x >= 1e9 ? `${(x / 1e9).toFixed(1)} G` : x >= 1e6 ? `${(x / 1e6).toFixed(1)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)),
  time: (s) => (s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`),
};

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 2000);
}

/** An SVG string as a PNG blob (drawn on a canvas). */
async function pngOf(svgText) {
  const img = new Image();
  const url = URL.createObjectURL(new Blob([svgText], { type: 'image/svg+xml' }));
  try {
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth || 640;
    canvas.height = img.naturalHeight || 400;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0);
    return await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** JSON with object keys sorted, so that two equal configs compare equal as text. */
function canonical(value) {
  const sort = (v) => (Array.isArray(v) ? v.map(sort)
    : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v);
  return JSON.stringify(sort(value));
}

export class TransformerLab {
  constructor({ fatal, gpuInfo, onChange }) {
    this.fatal = fatal;
    this.recorded = []; // [{config (canonical JSON), text}]: recorded CLI runs of the presets
    this.onChange = onChange ?? (() => {});
    this.gpuInfo = gpuInfo; // () => adapter | null | undefined (from the linear lab's probe)
    this.presets = JSON.parse(experiment_presets());
    this.form = new ExperimentForm($('tx-controls'), () => this.#changed());
    this.worker = null;
    this.running = null; // {id, started, paused}
    this.nextId = 1;
    this.results = null; // JSON text
    this.shown = null; // JSON text of what the plots show: this.results or a recorded run
    this.svgs = {};
    this.checkpoints = [];
    this.losses = [];
    this.figures = {};
    const plots = $('tx-plots');
    for (const name of Object.keys(PLOTS)) {
      this.figures[name] = this.#figure(name);
      plots.append(this.figures[name]);
    }
    $('tx-preset').addEventListener('change', () => this.#loadPreset());
    $('tx-backend').addEventListener('change', () => this.#changed());
    $('tx-start').addEventListener('click', () => this.start());
    $('tx-pause').addEventListener('click', () => this.togglePause());
    $('tx-cancel').addEventListener('click', () => this.cancel());
    $('tx-export-json').addEventListener('click', () => this.results && download('overtrain-experiment.json', new Blob([this.results], { type: 'application/json' })));
    this.form.set(this.presets[$('tx-preset').value]);
    this.saving = Promise.resolve();
    this.#listSaved();
    this.#loadRecorded();
  }

  /** Fetches the recorded preset runs shipped with the site (www/recorded/), for reference
   * curves; a site built without them simply shows none. */
  async #loadRecorded() {
    try {
      const base = new URL('./recorded/', import.meta.url);
      const names = await (await fetch(new URL('index.json', base))).json();
      for (const name of names) {
        const text = await (await fetch(new URL(`${name}.json`, base))).text();
        this.recorded.push({ config: canonical(JSON.parse(text).config), text });
      }
    } catch {
      return;
    }
    this.#showRecorded();
  }

  /** The recorded run of exactly `config` (an object), as results JSON text, or null. */
  #recordedFor(config) {
    const key = canonical(config);
    return this.recorded.find((r) => r.config === key)?.text ?? null;
  }

  /** With no run of the user's on show, the recorded run of the controls' config, or none. */
  #showRecorded() {
    if (this.running || this.results || !this.configText) return;
    this.#drawRecorded(JSON.parse(this.configText));
  }

  /** Draws the recorded run of `config` alone, or hides the plots when there is none. */
  #drawRecorded(config) {
    const recorded = this.#recordedFor(config);
    if (recorded) this.#draw(null, recorded);
    else for (const f of Object.values(this.figures)) f.hidden = true;
    $('tx-recorded-note').hidden = !recorded;
  }

  /** Queues a write of the running experiment's record (writes stay in order). */
  #save(change) {
    const run = this.running;
    if (!run?.record) return;
    Object.assign(run.record, change);
    // Copied at write time, so a record's first write has given it its id.
    this.saving = this.saving.then(() => store.put({ ...run.record })).then((id) => { run.record.id = id; }).catch((e) => this.fatal(`could not save the experiment in this browser: ${e}`));
    return this.saving;
  }

  async #listSaved() {
    let records = [];
    try {
      records = await store.all();
    } catch {
      $('tx-saved').textContent = 'This browser does not keep data for this page.';
      return;
    }
    const list = $('tx-saved');
    list.replaceChildren();
    if (!records.length) {
      const li = document.createElement('li');
      li.textContent = 'Nothing yet: finished and interrupted experiments appear here.';
      list.append(li);
    }
    for (const rec of records.reverse()) {
      const li = document.createElement('li');
      li.dataset.saved = String(rec.id);
      li.dataset.status = rec.status;
      const unfinished = rec.status !== 'done' && !(this.running && this.running.record?.id === rec.id);
      const what = rec.status === 'done' ? 'done' : unfinished ? 'unfinished' : 'running';
      const text = document.createElement('div');
      text.textContent = `${new Date(rec.created).toLocaleString()} · ${rec.label} · ${rec.finished}/${rec.budgets} budgets · ${what}`;
      li.append(text);
      const button = (label, action, onClick) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.dataset.action = action;
        b.addEventListener('click', onClick);
        li.append(b);
      };
      if (rec.results) button('Show', 'show', () => this.#show(rec));
      if (unfinished && !this.running) button('Resume', 'resume', () => this.#resume(rec));
      if (!(this.running && this.running.record?.id === rec.id)) {
        button('Delete', 'delete', async () => { await store.remove(rec.id); this.#listSaved(); });
      }
      list.append(li);
    }
  }

  #show(rec) {
    this.#draw(rec.results);
    this.checkpoints = [];
    $('tx-checkpoints').replaceChildren();
    (rec.checkpoints ?? []).forEach((bytes, i) => { if (bytes) this.#checkpointButton(i, bytes); });
    const r = JSON.parse(rec.results);
    $('tx-status').textContent = `Showing a saved experiment from ${new Date(rec.created).toLocaleString()} (${r.budgets.length}/${rec.budgets} budgets).`;
  }

  #resume(rec) {
    this.form.set(JSON.parse(rec.config));
    this.#changed();
    this.start({ resume: rec });
  }

  #checkpointButton(budget, bytes) {
    this.checkpoints[budget] = bytes;
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.textContent = `Checkpoint ${budget + 1}`;
    btn.dataset.checkpoint = String(budget);
    btn.addEventListener('click', () => download(`overtrain-budget-${budget + 1}.safetensors`, new Blob([bytes], { type: 'application/octet-stream' })));
    $('tx-checkpoints').append(btn);
  }

  /** Applies a state from the URL: a config (already over the preset's defaults). */
  setState({ config, preset, backend }) {
    if (preset && this.presets[preset]) $('tx-preset').value = preset;
    if (backend) $('tx-backend').value = backend;
    this.form.set(config);
    this.#changed();
  }

  /** The config as the controls hold it (null while a field is invalid). */
  config() {
    return this.form.read().config ?? null;
  }

  #figure(name) {
    const fig = plotFigure(name, PLOTS[name]);
    // Two-panel plots take a whole row.
    fig.classList.toggle('wide', ['perturbed', 'finetuned', 'tuned'].includes(name));
    const exp = document.createElement('div');
    exp.className = 'export';
    for (const kind of ['SVG', 'PNG', 'CSV']) {
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.textContent = kind;
      btn.dataset.export = kind.toLowerCase();
      btn.addEventListener('click', () => this.#export(name, kind.toLowerCase()));
      exp.append(btn);
    }
    fig.append(exp);
    fig.hidden = true;
    return fig;
  }

  async #export(name, kind) {
    if (!this.shown) return;
    const file = `overtrain-${name}.${kind}`;
    if (kind === 'svg') download(file, new Blob([this.svgs[name]], { type: 'image/svg+xml' }));
    else if (kind === 'csv') download(file, new Blob([toCsv(experimentTable(name, JSON.parse(this.shown)))], { type: 'text/csv' }));
    else download(file, await pngOf(this.svgs[name]));
  }

  #loadPreset() {
    this.form.set(this.presets[$('tx-preset').value]);
    this.#changed();
  }

  backend() {
    const choice = $('tx-backend').value;
    const gpu = this.gpuInfo();
    if (choice === 'cpu' || !gpu) return 'cpu';
    if (choice === 'gpu') return 'gpu';
    return gpu.software ? 'cpu' : 'gpu';
  }

  /** Validates and shows the cost; returns the config text or null. */
  #changed() {
    const read = this.form.read();
    let errors = read.errors ?? [];
    let text = null;
    if (!errors.length) {
      text = JSON.stringify(read.config);
      const e = validate_experiment_config(text);
      if (e) errors = [e];
    }
    const orphans = this.form.showErrors(errors);
    const notices = $('tx-notices');
    notices.replaceChildren(...orphans.map((o) => {
      const d = document.createElement('div');
      d.className = 'notice error';
      d.textContent = `${o.field || 'config'}: ${o.message}`;
      return d;
    }));
    if (errors.length) {
      $('tx-estimate').textContent = 'Fix the highlighted field to see what this experiment costs.';
      $('tx-start').disabled = true;
      return null;
    }
    const est = JSON.parse(estimate_experiment(text));
    this.estimate = est;
    const gpu = this.gpuInfo();
    const where = this.backend() === 'gpu' ? `WebGPU (${gpu.name})` : 'the CPU (WebAssembly)';
    const m = est.memory;
    const memoryMb = (m.parameters + m.optimizer + m.activations + m.data) / 1e6;
    let line = `${fmt.si(est.parameters)} parameters · ${fmt.si(est.tokens)} training tokens · ${fmt.si(est.flops)}FLOP · GPU memory ${memoryMb < 1 ? '<1' : memoryMb.toFixed(0)} MB · on ${where}`;
    if (this.backend() === 'gpu' && gpu && est.memory.largest_bytes > Math.min(gpu.max_buffer_size, gpu.max_storage_buffer_binding_size)) {
      line += ` — too large for this adapter: the ${est.memory.largest_buffer} buffer needs ${(est.memory.largest_bytes / 1e6).toFixed(0)} MB, the adapter allows ${(Math.min(gpu.max_buffer_size, gpu.max_storage_buffer_binding_size) / 1e6).toFixed(0)} MB per buffer. Shrink the batch, context or model, or use the CPU.`;
      $('tx-start').disabled = true;
    } else {
      $('tx-start').disabled = Boolean(this.running);
      this.#probe(text);
    }
    $('tx-estimate').textContent = line;
    this.configText = text;
    this.#showRecorded();
    this.onChange();
    return text;
  }

  #ensureWorker() {
    if (this.worker) return this.worker;
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e) => this.#message(e.data);
    this.worker.onerror = (e) => { this.fatal(`the experiment worker failed (${e.message || 'unknown error'})`); this.#stopped('The worker failed.'); this.worker = null; };
    // The worker opens WebGPU when the browser has it, whichever backend is chosen now.
    this.gpuReady = 'gpu' in navigator ? new Promise((resolve) => { this.onGpuReady = resolve; }) : null;
    if (this.gpuReady) this.worker.postMessage({ type: 'init-gpu' });
    return this.worker;
  }

  /** Times two steps in the worker, for the time estimate (not while running). */
  #probe(text) {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(async () => {
      if (this.running) return;
      const w = this.#ensureWorker();
      if (this.gpuReady) await this.gpuReady;
      this.probeId = this.nextId++;
      w.postMessage({ type: 'probe', id: this.probeId, config: text, backend: this.worker.hasGpu ? this.backend() : 'cpu' });
    }, 300);
  }

  /** Starts the experiment of the controls; `resume`: a saved unfinished record of it. */
  start({ resume } = {}) {
    const text = this.#changed();
    if (!text || this.running) return;
    const w = this.#ensureWorker();
    const id = this.nextId++;
    const parsed = JSON.parse(text);
    const record = resume
      ? { ...resume, status: 'running' }
      : { created: Date.now(), label: `${$('tx-preset').selectedOptions[0].textContent.replace(/ \(.*$/, '')}, ${fmt.si(this.estimate.parameters)} parameters`, config: text, backend: this.backend(), status: 'running', budgets: parsed.pretrain.budgets.length, finished: 0, results: null, checkpoints: [] };
    this.running = { id, started: performance.now(), paused: false, record };
    this.#save({});
    this.saving.then(() => this.#listSaved());
    this.results = null;
    this.checkpoints = [];
    this.losses = [];
    $('tx-checkpoints').replaceChildren();
    $('tx-exports').hidden = true;
    this.#drawRecorded(parsed); // on show until the first budget is done
    $('tx-start').disabled = true;
    $('tx-pause').disabled = false;
    $('tx-pause').textContent = 'Pause';
    $('tx-cancel').disabled = false;
    $('tx-progress').value = 0;
    $('tx-status').textContent = 'Starting…';
    document.body.dataset.experiment = 'running';
    const go = async () => {
      if (this.gpuReady) await this.gpuReady;
      const backend = this.worker.hasGpu ? this.backend() : 'cpu';
      w.postMessage({ type: 'experiment', id, config: text, backend, resume: resume?.results ?? null });
    };
    go();
  }

  togglePause() {
    if (!this.running) return;
    this.running.paused = !this.running.paused;
    this.worker.postMessage({ type: this.running.paused ? 'pause' : 'resume' });
    $('tx-pause').textContent = this.running.paused ? 'Resume' : 'Pause';
    document.body.dataset.experiment = this.running.paused ? 'paused' : 'running';
    if (this.running.paused) $('tx-status').textContent = `Paused. ${$('tx-status').textContent}`;
  }

  cancel() {
    if (!this.running) return;
    this.worker.postMessage({ type: 'cancel' });
  }

  #stopped(text, state = 'stopped') {
    if (state === 'failed') this.#save({ status: 'failed' });
    this.running = null;
    this.saving.then(() => this.#listSaved());
    $('tx-start').disabled = false;
    $('tx-pause').disabled = true;
    $('tx-cancel').disabled = true;
    $('tx-pause').textContent = 'Pause';
    $('tx-status').textContent = text;
    document.body.dataset.experiment = state;
  }

  /** Draws the user's results (null: none, only `recorded`) with the recorded run of the
   * same config dashed beside them. */
  #draw(resultsText, recorded = this.#recordedFor(JSON.parse(resultsText).config)) {
    $('tx-recorded-note').hidden = !recorded;
    let plots;
    try {
      plots = render_experiment_plots(resultsText ?? undefined, recorded ?? undefined);
    } catch (e) {
      this.fatal(`could not draw the results: ${e}`);
      return;
    }
    // The plots' own exports (SVG, PNG, CSV) hold what is shown: the user's run or the recorded one.
    const shown = resultsText ?? recorded;
    this.shown = shown;
    for (const [name, svgText] of plots) {
      this.svgs[name] = svgText;
      const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
      const fig = this.figures[name];
      fig.querySelector('.svg').replaceChildren(document.importNode(doc.documentElement, true));
      fig.querySelector('details.table-view')?.remove();
      fig.append(tableView(experimentTable(name, JSON.parse(shown)), resultsText ? PLOTS[name].title : `${PLOTS[name].title} (recorded run)`));
      fig.hidden = false;
    }
    if (!resultsText) return;
    const el = $('tx-plots');
    el.dataset.rendered = String(Number(el.dataset.rendered || 0) + 1);
    this.results = resultsText;
    $('tx-exports').hidden = false;
    const r = JSON.parse(resultsText);
    const notes = [];
    r.base.diverged_at.forEach((d, i) => { if (d != null) notes.push(`Pre-training to ${fmt.si(r.budgets[i])} tokens diverged at step ${d}; later phases use its last good weights.`); });
    for (const f of r.finetune) {
      f.diverged.forEach((n, i) => { if (n > 0) notes.push(`Fine-tuning with lr ${f.lr}, λ ${f.l2} diverged for ${n} seed(s) at budget ${fmt.si(r.budgets[i])}; those runs are left out of the means.`); });
    }
    $('tx-notices').replaceChildren(...notes.map((t) => { const d = document.createElement('div'); d.className = 'notice'; d.textContent = t; return d; }));
  }

  #live(loss) {
    this.losses.push(loss);
    if (this.losses.length > 300) this.losses.splice(0, this.losses.length - 300);
    const xs = this.losses;
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const w = 240;
    const h = 36;
    const pts = xs.map((v, i) => `${(i / Math.max(1, xs.length - 1)) * w},${h - ((v - lo) / Math.max(1e-9, hi - lo)) * h}`).join(' ');
    const box = $('tx-live');
    box.innerHTML = '';
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('width', String(w));
    svg.setAttribute('height', String(h + 2));
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', pts);
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', '#1f77b4');
    svg.append(line);
    const label = document.createElement('span');
    label.textContent = ` training loss ${loss.toFixed(3)} nats/byte`;
    box.append(svg, label);
  }

  #message(m) {
    if (m.type === 'ready') return;
    if (m.type === 'gpu') {
      this.worker.hasGpu = Boolean(m.adapter);
      this.onGpuReady?.();
      return;
    }
    if (m.type === 'probe') {
      if (m.id !== this.probeId || !this.estimate) return;
      if (m.error) { $('tx-estimate').textContent += ` — ${m.error}`; return; }
      const seconds = (this.estimate.tokens / m.tokens_per_second);
      $('tx-estimate').dataset.tokensPerSecond = String(m.tokens_per_second);
      $('tx-estimate').textContent = `${$('tx-estimate').textContent.replace(/ · about .*$/, '')} · about ${fmt.time(seconds)} at ${fmt.si(m.tokens_per_second)} tokens/s`;
      return;
    }
    if (!this.running || m.id !== this.running.id) return;
    const run = this.running;
    if (m.type === 'exp-progress') {
      const p = JSON.parse(m.progress);
      const frac = p.work_total > 0 ? p.work_done / p.work_total : 0;
      $('tx-progress').value = frac;
      const elapsed = (performance.now() - this.running.started) / 1000;
      const eta = frac > 0.001 ? elapsed / frac * (1 - frac) : NaN;
      if (!this.running.paused) $('tx-status').textContent = `${(100 * frac).toFixed(0)}% · ${p.label} (${p.step}/${p.steps}) · ETA ${Number.isFinite(eta) ? fmt.time(eta) : '…'}`;
      if (p.loss != null) this.#live(p.loss);
    } else if (m.type === 'exp-partial') {
      this.#draw(m.results);
      this.#save({ results: m.results, finished: JSON.parse(m.results).budgets.length });
    } else if (m.type === 'exp-checkpoint') {
      this.#checkpointButton(m.budget, m.bytes);
      const checkpoints = [...(run.record.checkpoints ?? [])];
      checkpoints[m.budget] = m.bytes;
      this.#save({ checkpoints });
    } else if (m.type === 'exp-done') {
      this.#draw(m.results);
      const r = JSON.parse(m.results);
      this.#save({ results: m.results, finished: r.budgets.length, status: 'done' });
      this.#stopped(`Done in ${fmt.time(r.elapsed_s)} on ${r.backend} · ${r.budgets.length} budgets`, 'done');
      $('tx-progress').value = 1;
    } else if (m.type === 'exp-cancelled') {
      this.#save({ status: 'cancelled' });
      this.#stopped('Cancelled; the plots show the budgets that finished (kept below, to resume later).', 'cancelled');
    } else if (m.type === 'invalid') {
      this.form.showErrors([m.error]);
      this.#stopped('Fix the highlighted field.');
    } else if (m.type === 'gpu-failed') {
      this.#stopped(`WebGPU failed: ${m.message}. Choose the CPU backend to continue.`, 'failed');
    } else if (m.type === 'panic') {
      this.fatal(m.message);
      this.worker = null;
      this.#stopped('Stopped by an internal error.', 'failed');
    }
  }
}
