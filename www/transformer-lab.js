// The transformer lab: the experiment's form and presets (from the field schema), the cost
// estimate, start / pause / resume / cancel of one experiment on the shared worker pool
// (www/experiment-run.js: its units over every worker on the CPU, the whole on worker 0 on
// WebGPU), progress with ETA and live loss, the five plots (drawn by the wasm on this
// thread) beside a preset's recorded run, its exports (www/exports.js) and the experiments
// kept in this browser (www/persist.js).
import { validate_experiment_config, estimate_experiment, render_experiment_plots } from './pkg/overtrain.js';
import { SchemaForm } from './controls.js';
import { chooseBackend } from './runner.js';
import { MSG, request } from './protocol.js';
import { runExperiment } from './experiment-run.js';
import { experimentTable, plotFigure, tableView } from './tables.js';
import { downloadBytes, downloadCsv, downloadJson, downloadPng, downloadSvg } from './exports.js';
import { RecordWriter, listSaved, newRecord } from './persist.js';

export const PLOTS = {
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

const DEFAULT_PRESET = 'quick';
const $ = (id) => document.getElementById(id);
const notice = (text, cls = 'notice') => Object.assign(document.createElement('div'), { className: cls, textContent: text });
const sentence = (text) => text.replace(/[.\s]+$/, '');

const fmt = {
  si: (x) => (x >= 1e12 ? `${(x / 1e12).toFixed(1)} T` : x >= 1e9 ? `${(x / 1e9).toFixed(1)} G` : x >= 1e6 ? `${(x / 1e6).toFixed(1)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)),
  time: (s) => (s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`),
};

/** JSON with object keys sorted, so that two equal configs compare equal as text. */
function canonical(value) {
  const sort = (v) => (Array.isArray(v) ? v.map(sort)
    : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v);
  return JSON.stringify(sort(value));
}

/** A sparkline of the last 300 training losses (of the run `label`, when given). */
function sparkline(box, losses, loss, runLabel = null) {
  const lo = Math.min(...losses);
  const hi = Math.max(...losses);
  const w = 240;
  const h = 36;
  const pts = losses.map((v, i) => `${(i / Math.max(1, losses.length - 1)) * w},${h - ((v - lo) / Math.max(1e-9, hi - lo)) * h}`).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(h + 2));
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', pts);
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#1f77b4');
  svg.append(line);
  const label = document.createElement('span');
  label.textContent = ` training loss ${loss.toFixed(3)} nats/byte${runLabel ? ` (${runLabel})` : ''}`;
  box.replaceChildren(svg, label);
}

export class TransformerLab {
  /** `fatal(message)`: an internal error; `onChange()`: after every valid edit. */
  constructor({ runner, schema, fatal, onChange }) {
    this.runner = runner;
    this.fatal = fatal;
    this.onChange = onChange ?? (() => {});
    this.presets = Object.fromEntries(schema.presets.map((p) => [p.name, p.config]));
    this.recorded = []; // [{config (canonical JSON), text}]: recorded CLI runs of the presets
    this.running = null; // {exec (www/experiment-run.js), started, paused, writer, resume, …}
    this.results = null; // JSON text of the user's run on show
    this.shown = null; // JSON text of what the plots show: this.results or a recorded run
    this.svgs = {};
    this.failed = null; // the record of an experiment WebGPU failed, to continue on the CPU

    const presetSelect = $('tx-preset');
    presetSelect.replaceChildren(...schema.presets.map((p) => Object.assign(document.createElement('option'), { value: p.name, textContent: p.label })));
    presetSelect.value = this.presets[DEFAULT_PRESET] ? DEFAULT_PRESET : schema.presets[0].name;
    this.form = new SchemaForm($('tx-controls'), schema.transformer, {
      idFor: (path) => `x-${path.replace(/[.[\]]+/g, '-').replace(/-$/, '')}`,
      event: 'change',
      onChange: () => this.#changed(),
    });
    this.figures = {};
    for (const name of Object.keys(PLOTS)) {
      this.figures[name] = this.#figure(name);
      $('tx-plots').append(this.figures[name]);
    }
    presetSelect.addEventListener('change', () => { this.form.set(this.presets[presetSelect.value]); this.#changed(); });
    $('tx-backend').addEventListener('change', () => this.#changed());
    $('tx-start').addEventListener('click', () => this.start());
    $('tx-pause').addEventListener('click', () => this.togglePause());
    $('tx-cancel').addEventListener('click', () => this.cancel());
    $('tx-export-json').addEventListener('click', () => this.results && downloadJson('overtrain-experiment.json', this.results));
    $('tx-gpu-continue').addEventListener('click', () => {
      $('tx-gpu-failure').hidden = true;
      $('tx-backend').value = 'cpu';
      const rec = this.failed;
      this.failed = null;
      if (rec?.results) this.#resume(rec); else this.start();
    });
    runner.onGpu(() => this.#changed());
    this.form.set(this.presets[presetSelect.value]);
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
    if (recorded && recorded === this.recordedOnShow) return; // drawn already
    this.recordedOnShow = null;
    if (recorded) this.#draw(null, recorded);
    else for (const f of Object.values(this.figures)) f.hidden = true;
    $('tx-recorded-note').hidden = !recorded;
  }

  #listSaved() {
    const run = this.running;
    return listSaved($('tx-saved'), {
      running: run?.writer.record.id ?? null,
      busy: Boolean(run),
      onShow: (rec) => this.#show(rec),
      onResume: (rec) => this.#resume(rec),
      relist: () => this.#listSaved(),
    });
  }

  #show(rec) {
    this.#draw(rec.results);
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

  /** Adds (or replaces) budget `budget`'s checkpoint button, in budget order (on several
   * workers the pre-training runs finish in any order). */
  #checkpointButton(budget, bytes) {
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.textContent = `Checkpoint ${budget + 1}`;
    btn.dataset.checkpoint = String(budget);
    btn.addEventListener('click', () => downloadBytes(`overtrain-budget-${budget + 1}.safetensors`, bytes));
    const box = $('tx-checkpoints');
    box.querySelector(`[data-checkpoint="${budget}"]`)?.remove();
    const after = [...box.children].find((b) => Number(b.dataset.checkpoint) > budget);
    box.insertBefore(btn, after ?? null);
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

  #export(name, kind) {
    if (!this.shown) return;
    const file = `overtrain-${name}.${kind}`;
    if (kind === 'svg') downloadSvg(file, this.svgs[name]);
    else if (kind === 'csv') downloadCsv(file, experimentTable(name, JSON.parse(this.shown)));
    else downloadPng(file, this.svgs[name]);
  }

  /** Where the experiment runs now: {backend, reason} (the wasm's rule), given whether the
   * model's largest buffer fits the adapter. */
  backend() {
    const gpu = this.runner.gpu ?? null;
    const fits = !gpu || !this.estimate || this.estimate.memory.largest_bytes <= this.#bufferLimit(gpu);
    return chooseBackend($('tx-backend').value, gpu, fits);
  }

  #bufferLimit(gpu) {
    return Math.min(gpu.max_buffer_size, gpu.max_storage_buffer_binding_size);
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
    this.#showErrors(errors);
    if (errors.length) {
      $('tx-estimate').textContent = 'Fix the highlighted field to see what this experiment costs.';
      this.estimateLine = null;
      $('tx-start').disabled = true;
      return null;
    }
    const est = JSON.parse(estimate_experiment(text, this.runner.size));
    this.estimate = est;
    const gpu = this.runner.gpu;
    const { backend, reason } = this.backend();
    const where = backend === 'gpu' ? `WebGPU (${gpu.name})` : 'the CPU (WebAssembly)';
    const m = est.memory;
    const memoryMb = (m.parameters + m.optimizer + m.activations + m.data) / 1e6;
    let line = `${fmt.si(est.parameters)} parameters · ${fmt.si(est.tokens)} training tokens · ${fmt.si(est.flops)}FLOP · GPU memory ${memoryMb < 1 ? '<1' : memoryMb.toFixed(0)} MB · on ${where}`;
    if (backend === 'cpu' && reason) line += ` (${sentence(reason)})`;
    if (gpu && m.largest_bytes > this.#bufferLimit(gpu)) {
      line += ` — too large for WebGPU here: the ${m.largest_buffer} buffer needs ${(m.largest_bytes / 1e6).toFixed(0)} MB, the adapter allows ${(this.#bufferLimit(gpu) / 1e6).toFixed(0)} MB per buffer`;
    }
    // The same config and line again (a field's change event on blur, a repeated GPU
    // report): the estimate and its timing stand, and the buttons below it stay put.
    if (line !== this.estimateLine || text !== this.configText) {
      $('tx-estimate').textContent = line;
      this.estimateLine = line;
      this.#probe(text);
    }
    $('tx-backend-info').textContent = gpu === undefined ? 'Looking for WebGPU…' : backend === 'gpu' ? `Runs on WebGPU (${gpu.name}).` : `Runs on the CPU (WebAssembly)${reason ? `: ${sentence(reason)}` : ''}.`;
    $('tx-start').disabled = Boolean(this.running);
    this.configText = text;
    this.#showRecorded();
    this.onChange();
    return text;
  }

  /** Shows errors next to their fields, and those without one in the notices. */
  #showErrors(errors) {
    const orphans = this.form.showErrors(errors);
    $('tx-notices').replaceChildren(...orphans.map((o) => notice(`${o.field || 'config'}: ${o.message}`, 'notice error')));
  }

  /** Times two steps on worker 0, for the time estimate (not while running); the same
   * config on the same backend is timed once. */
  #probe(text) {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(async () => {
      await this.runner.gpuReady;
      if (this.running) return;
      const { backend } = this.backend();
      const key = `${backend} ${text}`;
      if (this.probed?.key === key) { this.#showSpeed(this.probed.tokensPerSecond); return; }
      this.probeId = this.runner.send((id) => request.probe(id, text, backend), (m) => this.#probed(m, key));
    }, 300);
  }

  #probed(m, key) {
    if (m.id !== this.probeId || !this.estimate || m.type === MSG.PANIC) return;
    if (m.type === MSG.ERROR) { $('tx-estimate').textContent += ` — ${m.error.message}`; return; }
    this.probed = { key, tokensPerSecond: m.tokens_per_second };
    this.#showSpeed(m.tokens_per_second);
  }

  #showSpeed(tokensPerSecond) {
    const box = $('tx-estimate');
    // On the CPU the units run on every worker: the time is that of the schedule on the
    // pool's workers (the wasm's estimate), at the probe's speed of one worker.
    const workers = this.backend().backend === 'cpu' ? this.estimate.workers : 1;
    const steps = workers > 1 ? this.estimate.steps_on_workers : this.estimate.work_steps;
    const seconds = steps * this.estimate.tokens_per_step / tokensPerSecond;
    box.dataset.tokensPerSecond = String(tokensPerSecond);
    box.dataset.seconds = String(seconds);
    box.dataset.workers = String(workers);
    const on = workers > 1 ? ` on ${workers} workers` : '';
    box.textContent = `${box.textContent.replace(/ · about .*$/, '')} · about ${fmt.time(seconds)}${on} at ${fmt.si(tokensPerSecond)} tokens/s${workers > 1 ? ' each' : ''}`;
  }

  /** Starts the experiment of the controls; `resume`: a saved unfinished record of it. */
  start({ resume } = {}) {
    const text = this.#changed();
    if (!text || this.running) return;
    const parsed = JSON.parse(text);
    const record = resume
      ? { ...resume, status: 'running' }
      : newRecord({ label: `${$('tx-preset').selectedOptions[0].textContent.replace(/ \(.*$/, '')}, ${fmt.si(this.estimate.parameters)} parameters`, config: text, backend: this.backend().backend, budgets: parsed.pretrain.budgets.length });
    const writer = new RecordWriter(record, (e) => this.fatal(`could not save the experiment in this browser: ${e}`));
    const run = {
      exec: null, started: performance.now(), paused: false, pausedAt: 0, pausedMs: 0, cancelled: false,
      writer, resume: Boolean(resume), losses: new Map(), followed: null, first: null,
    };
    this.running = run;
    writer.save().then(() => this.#listSaved());
    this.results = null;
    this.failed = null;
    $('tx-gpu-failure').hidden = true;
    $('tx-checkpoints').replaceChildren();
    (record.checkpoints ?? []).forEach((bytes, i) => { if (bytes) this.#checkpointButton(i, bytes); });
    $('tx-exports').hidden = true;
    this.#drawRecorded(parsed); // on show until the first budget is done
    $('tx-start').disabled = true;
    $('tx-pause').disabled = false;
    $('tx-pause').textContent = 'Pause';
    $('tx-cancel').disabled = false;
    $('tx-progress').value = 0;
    $('tx-status').textContent = 'Starting…';
    document.body.dataset.experiment = 'running';
    delete document.body.dataset.errorKind;
    this.runner.gpuReady.then(() => {
      if (this.running !== run) return;
      if (run.cancelled) { this.#failed(run, { kind: 'cancelled', message: 'cancelled', field: null }); return; }
      const { backend } = this.backend();
      const live = (fn) => (...args) => { if (this.running === run) fn(...args); };
      run.exec = runExperiment(this.runner, {
        config: text,
        backend,
        resume: resume?.results ?? null,
        handlers: {
          onProgress: live((p, units) => this.#progress(run, p, units)),
          onPartial: live((results) => this.#partial(run, results)),
          onCheckpoint: live((budget, bytes) => this.#checkpoint(run, budget, bytes)),
          onDone: live((results) => this.#done(run, results)),
          onError: live((error) => this.#failed(run, error)),
          onPanic: live(() => {
            run.writer.save({ status: 'failed' });
            this.#stopped(run, 'Stopped by an internal error.', 'failed');
          }),
        },
      });
      if (run.paused) run.exec.pause();
    });
  }

  togglePause() {
    const run = this.running;
    if (!run) return;
    run.paused = !run.paused;
    if (run.paused) {
      run.pausedAt = performance.now();
      run.exec?.pause();
    } else {
      run.pausedMs += performance.now() - run.pausedAt;
      run.exec?.resume();
    }
    $('tx-pause').textContent = run.paused ? 'Resume' : 'Pause';
    document.body.dataset.experiment = run.paused ? 'paused' : 'running';
    if (run.paused) $('tx-status').textContent = `Paused. ${$('tx-status').textContent}`;
  }

  cancel() {
    const run = this.running;
    if (!run || run.cancelled) return;
    run.cancelled = true;
    $('tx-cancel').disabled = true;
    $('tx-pause').disabled = true;
    run.exec?.cancel();
  }

  #stopped(run, text, state) {
    if (this.running !== run) return;
    this.running = null;
    $('tx-start').disabled = !this.configText;
    $('tx-pause').disabled = true;
    $('tx-cancel').disabled = true;
    $('tx-pause').textContent = 'Pause';
    $('tx-status').textContent = text;
    document.body.dataset.experiment = state;
    run.writer.written.then(() => this.#listSaved());
  }

  /** Draws the user's results (null: none, only `recorded`) with the recorded run of the
   * same config dashed beside them. */
  #draw(resultsText, recorded = this.#recordedFor(JSON.parse(resultsText).config)) {
    $('tx-recorded-note').hidden = !recorded;
    let plots;
    try {
      plots = render_experiment_plots(resultsText ?? undefined, recorded ?? undefined);
    } catch (e) {
      this.fatal(`could not draw the results: ${e?.message ?? e}`);
      return;
    }
    // The plots' own exports (SVG, PNG, CSV) hold what is shown: the user's run or the recorded one.
    const shown = resultsText ?? recorded;
    this.shown = shown;
    this.recordedOnShow = resultsText ? null : recorded;
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
    $('tx-notices').replaceChildren(...notes.map((t) => notice(t)));
  }

  /** The experiment's progress `p`, and its running units' latest reports. */
  #progress(run, p, units) {
    const frac = p.work_total > 0 ? p.work_done / p.work_total : 0;
    $('tx-progress').value = frac;
    // The ETA from the rate of this run (a resumed run starts past its finished budgets),
    // not counting the time it was paused.
    run.first ??= { frac, at: performance.now() };
    const active = (performance.now() - run.first.at - run.pausedMs) / 1000;
    const rate = (frac - run.first.frac) / Math.max(active, 1e-3);
    const eta = frac - run.first.frac > 0.001 ? (1 - frac) / rate : NaN;
    const what = units.length ? units.map((u) => `${u.label} (${u.step}/${u.steps})`).join('; ') : `${p.label} (${p.step}/${p.steps})`;
    if (!run.paused) $('tx-status').textContent = `${(100 * frac).toFixed(0)}% · ${what} · ETA ${Number.isFinite(eta) ? fmt.time(eta) : '…'}`;
    // The live loss of one unit at a time: the one followed while it runs, else the
    // running unit with the most steps (a pre-training run when there is one).
    const live = new Set(units.map((u) => u.key));
    for (const key of run.losses.keys()) if (!live.has(key)) run.losses.delete(key);
    for (const u of units) {
      if (u.loss == null) continue;
      const losses = run.losses.get(u.key) ?? [];
      if (losses.at(-1) !== u.loss) losses.push(u.loss);
      if (losses.length > 300) losses.splice(0, losses.length - 300);
      run.losses.set(u.key, losses);
    }
    if (!run.losses.has(run.followed)) {
      const withLoss = units.filter((u) => run.losses.has(u.key));
      run.followed = withLoss.reduce((a, u) => (!a || u.steps > a.steps ? u : a), null)?.key ?? null;
    }
    const followed = units.find((u) => u.key === run.followed);
    const losses = run.losses.get(run.followed);
    if (followed && followed.loss != null) sparkline($('tx-live'), losses, losses.at(-1), units.length > 1 ? followed.label : null);
  }

  /** A finished budget: the results so far, drawn and saved. */
  #partial(run, results) {
    this.#draw(results);
    run.writer.save({ results, finished: JSON.parse(results).budgets.length });
  }

  /** A budget's pre-trained weights: a download button, and saved. */
  #checkpoint(run, budget, bytes) {
    this.#checkpointButton(budget, bytes);
    const checkpoints = [...(run.writer.record.checkpoints ?? [])];
    checkpoints[budget] = bytes;
    run.writer.save({ checkpoints });
  }

  #done(run, results) {
    this.#draw(results);
    const r = JSON.parse(results);
    run.writer.save({ results, finished: r.budgets.length, status: 'done' });
    const on = run.exec.workers > 1 ? ` (${run.exec.workers} workers)` : '';
    this.#stopped(run, `Done in ${fmt.time(r.elapsed_s)} on ${r.backend}${on} · ${r.budgets.length} budgets`, 'done');
    $('tx-progress').value = 1;
  }

  /** The experiment failed: what the page says and offers depends on the error's kind. */
  #failed(run, error) {
    document.body.dataset.errorKind = error.kind;
    if (error.kind === 'cancelled') {
      run.writer.save({ status: 'cancelled' });
      this.#stopped(run, 'Cancelled; the plots show the budgets that finished (kept below, to resume later).', 'cancelled');
      return;
    }
    run.writer.save({ status: 'failed' });
    if (error.kind === 'config') {
      this.#showErrors([error]);
      this.#stopped(run, 'Fix the highlighted field.', 'failed');
    } else if (error.kind === 'gpu') {
      this.failed = run.writer.record;
      const box = $('tx-gpu-failure');
      box.hidden = false;
      box.querySelector('.message').textContent = `WebGPU failed: ${error.message}`;
      this.#stopped(run, 'WebGPU failed; the plots show the budgets that finished.', 'failed');
    } else if (error.kind === 'data') {
      const what = run.resume ? 'Cannot resume this saved experiment' : 'The experiment\'s data is inconsistent';
      this.#stopped(run, `${what}: ${error.message}`, 'failed');
    } else {
      this.#stopped(run, `The experiment failed: ${error.message}`, 'failed');
    }
  }
}
