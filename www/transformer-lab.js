// The transformer lab: the experiment's form and presets (from the field schema), the cost
// estimate, start / pause / resume / cancel of one experiment on the shared worker pool
// (www/experiment-run.js: its units over every worker on the CPU, the whole on worker 0 on
// WebGPU), progress with ETA and live loss, the five plots (drawn by the wasm on this
// thread) beside a preset's recorded run, its exports (www/exports.js) and the experiments
// kept in this browser (www/persist.js).
//
// Everything the lab remembers is in `this.state` (initialState() lists it); the methods
// are grouped by job: the form, the estimate, the run's lifecycle, drawing, saving. Configs
// and results are the wasm's values (objects); JSON text appears only where text is kept:
// a saved record (IndexedDB) and the results file.
import { validate_experiment_config, estimate_experiment, render_experiment_plots, experiment_results_json, experiment_captions, experiment_inflections } from './pkg/overtrain.js';
import { SchemaForm } from './controls.js';
import { chooseBackend } from './runner.js';
import { MSG, request } from './protocol.js';
import { runExperiment } from './experiment-run.js';
import { experimentTable, plotFigure, plotOptions, setCaption, tableView } from './tables.js';
import { downloadBytes, downloadCsv, downloadJson, downloadPng, downloadSvg } from './exports.js';
import { RecordWriter, listSaved, newRecord, lockName, takeLock, onChangedElsewhere, storageProblem } from './persist.js';
import { durationText } from './work.js';
import { linkControls, plainWithDetails } from './glossary.js';

// Fixed text only for what is always true (axes and marks); what a run shows is the
// wasm's caption of it (`experiment_captions`), computed by the one significance rule.
export const PLOTS = {
  base: {
    title: 'Base model',
    axes: 'Across: the pre-training budget in tokens (log scale). Up: the pre-trained model\'s perplexity on held-out text of the [[synthetic-language|synthetic language]] (lower is better).',
  },
  perturbed: {
    title: 'Sensitivity to a Gaussian perturbation (paper, Fig. 3)',
    axes: 'Upper panel: perplexity after adding noise of scale [[gamma|γ]] (relative to each weight\'s initial spread) to the pre-trained weights, one colour per γ; bars: the spread over the draws. Lower panel: the [[sensitivity|sensitivity]], how much the noise costs (perturbed minus base). A ring marks an [[inflection|inflection]].',
  },
  finetuned_change: {
    title: 'Forgetting after fine-tuning (paper, Fig. 4)',
    axes: 'Up: how much worse each model gets at the pre-training text after fine-tuning on the [[tasks|task]] (change in perplexity), one colour per learning rate [[eta|η]].',
  },
  finetuned: {
    title: 'After fine-tuning (paper, Fig. 5)',
    axes: 'Upper panel: pre-training perplexity after fine-tuning, one colour per learning rate [[eta|η]], dash by [[lambda|λ]]; bars: the spread over seeds; a ring marks an [[inflection|inflection]]. Lower panel: the fine-tuning [[tasks|task]]\'s own held-out perplexity.',
  },
  tuned: {
    title: 'With the best learning rate per budget',
    axes: 'For each budget, the learning rate with the best task perplexity, as a practitioner would pick it. Upper panel: its pre-training perplexity; lower panel: its task perplexity.',
  },
  inflection: {
    title: 'Where the U turns, against the lever varied',
    axes: 'Only when one lever is varied. Across: the lever\'s values (for the model\'s size, its parameters, log scale). Up: the budget at which each curve family has its [[inflection|inflection]], in tokens (log scale) — after fine-tuning for each learning rate, and perturbed at the largest [[gamma|γ]]; for the model\'s size also as tokens per parameter, with a fitted power law. An open ring on the top edge: no inflection within the budgets.',
  },
};

const DEFAULT_PRESET = 'quick';
const $ = (id) => document.getElementById(id);
const notice = (text, cls = 'notice') => Object.assign(document.createElement('div'), { className: cls, textContent: text });
const sentence = (text) => text.replace(/[.\s]+$/, '');

const fmt = {
  si: (x) => (x >= 1e12 ? `${(x / 1e12).toFixed(1)} T` : x >= 1e9 ? `${(x / 1e9).toFixed(1)} G` : x >= 1e6 ? `${(x / 1e6).toFixed(1)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)),
  time: durationText,
};

/** A preset's label without its rough time: "Quick (minutes)" → "Quick". */
const presetName = (label) => label.replace(/\s*\([^)]*\)\s*$/, '');

/** JSON with object keys sorted, so that two equal configs compare equal as text. */
function canonical(value) {
  const sort = (v) => (Array.isArray(v) ? v.map(sort)
    : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v);
  return JSON.stringify(sort(value));
}

/** The experiments of `results`: itself, or a sweep's sections, each with the words that
 * name its value ("At d_model = 24: "; "" without a sweep). */
function sections(results) {
  const sweep = results.sweep;
  if (!sweep) return [{ r: results, at: '' }];
  const name = sweep.field.split('.').at(-1);
  return sweep.sections.map((r, i) => ({ r, at: `At ${name} = ${valueText(sweep.values[i])}: ` }));
}

/** A sweep's value as text: 24, wsd, [0.01, 0.03]. */
const valueText = (v) => (Array.isArray(v) ? `[${v.join(', ')}]` : String(v));

/** Budgets of a config's whole run: each budget of each value of its sweep. */
const budgetCount = (config) => config.pretrain.budgets.length * (config.sweep?.values.length ?? 1);

/** Budgets `results` has finished, of every value of a sweep. */
const finishedCount = (results) => (results.sweep ? results.sweep.sections.reduce((n, s) => n + s.budgets.length, 0) : results.budgets.length);

/** Everything the lab remembers between events, in one place (the DOM shows it). */
function initialState() {
  return {
    /** The controls' last valid config (an object), or null before the first. An invalid
     * edit leaves it: Start then reads the controls again and refuses. */
    config: null,
    /** The wasm's estimate of `config` on this pool and adapter (estimate_experiment):
     * {parameters, tokens, flops, work_steps, tokens_per_step, memory: {…, total},
     * workers, steps_on_workers, gpu: {fits, reason} | null}. */
    estimate: null,
    /** The cost line shown for the estimate (null while a field is invalid): the same line
     * again keeps the probe's speed after it. */
    estimateLine: null,
    /** The speed probe (the wasm's probe_experiment): the pending timer, the id of the request in flight, and
     * the last measurement {key: backend and config, tokensPerSecond}. */
    probe: { timer: null, id: null, measured: null },
    /** The recorded preset runs shipped with the site, [{key: canonical(config), results}]. */
    recorded: [],
    /** The recorded run drawn alone now (before any run of the user's), or null. */
    recordedOnShow: null,
    /** The experiment running now (see #newRun), or null. */
    run: null,
    /** The user's results on show (the wasm's object), or null. */
    results: null,
    /** What the plots show — the user's results or a recorded run — for their exports. */
    shown: null,
    /** The plots' SVG text by name, for their exports. */
    svgs: {},
    /** A sweep's inflections on show (the wasm's experiment_inflections), or null. */
    inflections: null,
    /** The saved record of an experiment WebGPU failed, to continue on the CPU. */
    failed: null,
  };
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

/**
 * What a screen reader hears of a run (a polite live region): its start, pause and resume
 * and its end at once, and its progress at most every `everyMs` — the visible status changes
 * at every step, far too often to be read out.
 */
export class Announcer {
  constructor(el, everyMs = 20_000) {
    this.el = el;
    this.everyMs = everyMs;
    this.last = -Infinity;
  }

  now(text) {
    this.el.textContent = text;
    this.last = performance.now();
  }

  progress(text) {
    if (performance.now() - this.last >= this.everyMs) this.now(text);
  }
}

export class TransformerLab {
  /** Presentation mode: plots with larger text and thicker lines (for a projector). */
  presentation = false;
  /** What the plots show now: [results, recorded] as last drawn, or null. */
  lastDrawn = null;

  setPresentation(on) {
    if (this.presentation === on) return;
    this.presentation = on;
    if (this.lastDrawn) this.#draw(...this.lastDrawn);
  }

  /** `fatal(message)`: an internal error; `onChange()`: after every valid edit. */
  constructor({ runner, schema, fatal, onChange }) {
    this.runner = runner;
    this.fatal = fatal;
    this.onChange = onChange ?? (() => {});
    this.announce = new Announcer($('tx-announce'));
    this.presets = Object.fromEntries(schema.presets.map((p) => [p.name, p.config]));
    this.state = initialState();
    this.form = this.#buildForm(schema);
    linkControls(this.form, 'transformer');
    this.figures = this.#buildFigures();
    this.#wireButtons();
    runner.onGpu(() => this.#changed());
    this.form.set(this.presets[$('tx-preset').value]);
    this.#listSaved();
    // Another tab saved or deleted an experiment: list them again (at most every 0.5 s).
    let relisting = null;
    onChangedElsewhere(() => { relisting ??= setTimeout(() => { relisting = null; this.#listSaved(); }, 500); });
    this.#loadRecorded();
  }

  /** The user's results on show, or null. */
  get results() { return this.state.results; }

  // --- The form ---

  /** The preset list and the config's form (from the schema). */
  #buildForm(schema) {
    const presetSelect = $('tx-preset');
    // A preset is named without the schema's rough time ("Quick (minutes)"): the time
    // shown is this machine's, from the estimate's probe, once it is known (#showSpeed).
    presetSelect.replaceChildren(...schema.presets.map((p) => Object.assign(document.createElement('option'), { value: p.name, textContent: presetName(p.label) })));
    this.presetNames = Object.fromEntries(schema.presets.map((p) => [p.name, presetName(p.label)]));
    presetSelect.value = this.presets[DEFAULT_PRESET] ? DEFAULT_PRESET : schema.presets[0].name;
    return new SchemaForm($('tx-controls'), schema.transformer, {
      idFor: (path) => `x-${path.replace(/[.[\]]+/g, '-').replace(/-$/, '')}`,
      event: 'change',
      onChange: () => this.#changed(),
    });
  }

  #wireButtons() {
    $('tx-preset').addEventListener('change', () => { this.form.set(this.presets[$('tx-preset').value]); this.#changed(); });
    $('tx-backend').addEventListener('change', () => this.#changed());
    $('tx-start').addEventListener('click', () => this.start());
    $('tx-pause').addEventListener('click', () => this.togglePause());
    $('tx-cancel').addEventListener('click', () => this.cancel());
    // The download is a file: the results' JSON text as the CLI writes it (the wasm's).
    $('tx-export-json').addEventListener('click', () => this.state.results && downloadJson('overtrain-experiment.json', experiment_results_json(this.state.results)));
    $('tx-gpu-continue').addEventListener('click', () => {
      $('tx-gpu-failure').hidden = true;
      $('tx-backend').value = 'cpu';
      const rec = this.state.failed;
      this.state.failed = null;
      if (rec?.results) this.#resume(rec); else this.start();
    });
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

  /** After every edit (and every WebGPU report): validates, shows the cost and where it
   * runs, and returns the config (null while a field is invalid). */
  #changed() {
    const config = this.#validConfig();
    if (!config) {
      $('tx-estimate').textContent = 'Fix the highlighted field to see what this experiment costs.';
      this.state.estimateLine = null;
      $('tx-start').disabled = true;
      return null;
    }
    const isNew = JSON.stringify(config) !== JSON.stringify(this.state.config);
    this.#estimate(config, isNew);
    $('tx-start').disabled = Boolean(this.state.run);
    this.state.config = config;
    this.#showRecorded();
    this.onChange();
    return config;
  }

  /** The controls' config when it is valid (the wasm's validation too); else null, with
   * the errors shown. */
  #validConfig() {
    const read = this.form.read();
    let errors = read.errors ?? [];
    if (!errors.length) {
      const e = validate_experiment_config(read.config);
      if (e) errors = [e];
    }
    this.#showErrors(errors);
    return errors.length ? null : read.config;
  }

  /** Shows errors next to their fields, and those without one in the notices. */
  #showErrors(errors) {
    const orphans = this.form.showErrors(errors);
    // A collapsed settings panel (a phone) opens to show the error next to its field.
    const panel = $('tx-controls').closest('.controls');
    if (errors.length && panel.classList.contains('collapsed')) panel.querySelector('.controls-toggle').click();
    $('tx-notices').replaceChildren(...orphans.map((o) => notice(`${o.field || 'config'}: ${o.message}`, 'notice error')));
  }

  // --- The estimate ---

  /** Where the experiment runs now: {backend, reason} (the wasm's rule), given whether the
   * model's buffers fit the adapter (the wasm's estimate says). */
  backend() {
    const fits = this.state.estimate?.gpu?.fits ?? true;
    return chooseBackend($('tx-backend').value, this.runner.gpu ?? null, fits);
  }

  /** Estimates `config` and shows its cost and where it runs; times it anew when it or
   * its line changed (`isNew`: another config than the last). */
  #estimate(config, isNew) {
    const gpu = this.runner.gpu;
    this.state.estimate = estimate_experiment(config, this.runner.size, gpu ?? null);
    const where = this.backend();
    const line = this.#costLine(where);
    // The same config and line again (a field's change event on blur, a repeated GPU
    // report): the estimate and its timing stand, and the buttons below it stay put.
    if (line !== this.state.estimateLine || isNew) {
      $('tx-estimate').textContent = line;
      this.state.estimateLine = line;
      this.#probe(config);
    }
    const { backend, reason } = where;
    const text = gpu === undefined ? 'Looking for WebGPU…' : backend === 'gpu' ? `Runs on WebGPU (${gpu.name}).` : `Runs on the CPU (WebAssembly)${reason ? `: ${sentence(reason)}` : ''}.`;
    // Without an adapter, its raw error goes behind a disclosure (see www/glossary.js).
    plainWithDetails($('tx-backend-info'), text, gpu === null ? this.runner.gpuError?.message : null);
  }

  /** "35.0 k parameters · 262.1 k training tokens · … · on the CPU (WebAssembly) (why)". */
  #costLine({ backend, reason }) {
    const est = this.state.estimate;
    const where = backend === 'gpu' ? `WebGPU (${this.runner.gpu.name})` : 'the CPU (WebAssembly)';
    const memoryMb = est.memory.total / 1e6;
    let line = `${fmt.si(est.parameters)} parameters · ${fmt.si(est.tokens)} training tokens · ${fmt.si(est.flops)}FLOP · GPU memory ${memoryMb < 1 ? '<1' : memoryMb.toFixed(0)} MB · on ${where}`;
    if (backend === 'cpu' && reason) line += ` (${sentence(reason)})`;
    if (est.gpu && !est.gpu.fits) line += ` — too large for WebGPU here: ${est.gpu.reason}`;
    return line;
  }

  /** Times two steps on worker 0, for the time estimate (not while running); the same
   * config on the same backend is timed once. */
  #probe(config) {
    const probe = this.state.probe;
    clearTimeout(probe.timer);
    probe.timer = setTimeout(async () => {
      await this.runner.gpuReady;
      // Not beside the linear lab's computation (the first plots, a slider's rerun).
      await this.runner.linearIdle();
      if (this.state.run) return;
      const { backend } = this.backend();
      const key = `${backend} ${JSON.stringify(config)}`;
      if (probe.measured?.key === key) { this.#showSpeed(probe.measured.tokensPerSecond); return; }
      probe.id = this.runner.send((id) => request.probe(id, config, backend), (m) => this.#probed(m, key));
    }, 300);
  }

  #probed(m, key) {
    const probe = this.state.probe;
    if (m.id !== probe.id || !this.state.estimate || m.type === MSG.PANIC || m.type === MSG.DIED) return;
    if (m.type === MSG.ERROR) { $('tx-estimate').textContent += ` — ${m.error.message}`; return; }
    probe.measured = { key, tokensPerSecond: m.tokens_per_second };
    this.#showSpeed(m.tokens_per_second);
  }

  /** Adds the time the experiment takes at the probe's speed to the cost line. */
  #showSpeed(tokensPerSecond) {
    const est = this.state.estimate;
    const box = $('tx-estimate');
    // On the CPU the units run on every worker: the time is that of the schedule on the
    // pool's workers (the wasm's estimate), at the probe's speed of one worker.
    const workers = this.backend().backend === 'cpu' ? est.workers : 1;
    const steps = workers > 1 ? est.steps_on_workers : est.work_steps;
    const seconds = steps * est.tokens_per_step / tokensPerSecond;
    box.dataset.tokensPerSecond = String(tokensPerSecond);
    box.dataset.seconds = String(seconds);
    box.dataset.workers = String(workers);
    const on = workers > 1 ? ` on ${workers} workers` : '';
    box.textContent = `${box.textContent.replace(/ · about .*$/, '')} · about ${fmt.time(seconds)}${on} at ${fmt.si(tokensPerSecond)} tokens/s${workers > 1 ? ' each' : ''}`;
    // The selected preset, when the controls hold exactly it, is labelled with this time.
    const option = $('tx-preset').selectedOptions[0];
    if (option && canonical(this.state.config) === canonical(this.presets[option.value])) {
      option.textContent = `${this.presetNames[option.value]} (about ${fmt.time(seconds)} here)`;
    }
  }

  // --- The run's lifecycle ---

  /** Starts the experiment of the controls; `resume`: a saved unfinished record of it,
   * with `release`, the lock on it this tab took (www/persist.js). */
  start({ resume, release } = {}) {
    const config = this.#changed();
    if (!config || this.state.run) { release?.(); return; }
    const record = resume
      ? { ...resume, status: 'running' }
      : newRecord({ label: this.#recordLabel(config), config: JSON.stringify(config), backend: this.backend().backend, budgets: budgetCount(config) });
    // While this tab writes the record, it holds its lock: other tabs see it running here.
    const lock = resume ? Promise.resolve(release) : takeLock(lockName(record));
    const run = this.#newRun(record, Boolean(resume), lock);
    this.state.run = run;
    run.writer.save().then(() => this.#listSaved());
    this.state.results = null;
    this.state.failed = null;
    this.#showStarting(record, config);
    this.runner.gpuReady.then(() => this.#launch(run, config, resume?.results ? JSON.parse(resume.results) : null));
  }

  /** A saved experiment's name: "Quick, 7.8 k parameters", "Quick, varying d_model: 8,
   * 24, 64, up to 40.1 k parameters". */
  #recordLabel(config) {
    const preset = $('tx-preset').selectedOptions[0].textContent.replace(/ \(.*$/, '');
    const params = fmt.si(this.state.estimate.parameters);
    if (!config.sweep) return `${preset}, ${params} parameters`;
    return `${preset}, varying ${config.sweep.field.split('.').at(-1)}: ${config.sweep.values.map(valueText).join(', ')}, up to ${params} parameters`;
  }

  /** A run about to start, writing `record` as it goes, once `lock` (resolving to the
   * release of the record's lock) is taken. */
  #newRun(record, resumed, lock) {
    return {
      lock,
      /** Its controls (www/experiment-run.js), once launched. */
      exec: null,
      started: performance.now(),
      paused: false,
      /** When the current pause began, and the time spent paused before it (ms). */
      pausedAt: 0,
      pausedMs: 0,
      cancelled: false,
      /** Saves its record in IndexedDB as it runs. */
      writer: new RecordWriter(record, (e) => this.#storageFailed(e), lock),
      /** Resumed from a saved record (an error of kind data then says it cannot resume). */
      resume: resumed,
      /** The live loss: the latest losses by running unit, the unit followed, and the
       * first progress {frac, at} (for the ETA). */
      losses: new Map(),
      followed: null,
      first: null,
    };
  }

  /** The page as a run starts: buttons, progress, the record's checkpoints, the recorded
   * run of the config (on show until the first budget is done). */
  #showStarting(record, config) {
    $('tx-gpu-failure').hidden = true;
    $('tx-checkpoints').replaceChildren();
    (record.checkpoints ?? []).forEach((bytes, i) => { if (bytes) this.#checkpointButton(i, bytes, config); });
    $('tx-exports').hidden = true;
    this.#drawRecorded(config);
    $('tx-start').disabled = true;
    $('tx-pause').disabled = false;
    $('tx-pause').textContent = 'Pause';
    $('tx-cancel').disabled = false;
    $('tx-progress').value = 0;
    $('tx-status').textContent = 'Starting…';
    this.announce.now('Experiment started.');
    document.body.dataset.experiment = 'running';
    delete document.body.dataset.errorKind;
  }

  /** Starts `run` on the pool once WebGPU is known (its backend depends on it), from
   * `resume` (saved results) or from scratch. */
  #launch(run, config, resume) {
    if (this.state.run !== run) return;
    if (run.cancelled) { this.#failed(run, { kind: 'cancelled', message: 'cancelled', field: null }); return; }
    const live = (fn) => (...args) => { if (this.state.run === run) fn(...args); };
    run.exec = runExperiment(this.runner, {
      config,
      backend: this.backend().backend,
      resume,
      handlers: {
        onProgress: live((p, units) => this.#progress(run, p, units)),
        onPartial: live((results) => this.#partial(run, results)),
        onCheckpoint: live((variant, budget, bytes) => this.#checkpoint(run, variant * config.pretrain.budgets.length + budget, bytes)),
        onDone: live((results) => this.#done(run, results)),
        onError: live((error) => this.#failed(run, error)),
        onPanic: live(() => {
          run.writer.save({ status: 'failed' });
          this.#stopped(run, 'Stopped by an internal error.', 'failed');
        }),
      },
    });
    if (run.paused) run.exec.pause();
  }

  togglePause() {
    const { run } = this.state;
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
    this.announce.now(run.paused ? 'Paused.' : 'Resumed.');
  }

  cancel() {
    const { run } = this.state;
    if (!run || run.cancelled) return;
    run.cancelled = true;
    $('tx-cancel').disabled = true;
    $('tx-pause').disabled = true;
    run.exec?.cancel();
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
    const helped = (u) => (u.helpers ? `, on ${u.helpers + 1} workers` : '');
    const what = units.length ? units.map((u) => `${u.label} (${u.step}/${u.steps}${helped(u)})`).join('; ') : `${p.label} (${p.step}/${p.steps})`;
    if (!run.paused) {
      $('tx-status').textContent = `${(100 * frac).toFixed(0)}% · ${what} · ETA ${Number.isFinite(eta) ? fmt.time(eta) : '…'}`;
      this.announce.progress(`${(100 * frac).toFixed(0)}% done${Number.isFinite(eta) ? `, about ${fmt.time(eta)} left` : ''}.`);
    }
    this.#liveLoss(run, units);
  }

  /** The live loss of one unit at a time: the one followed while it runs, else the
   * running unit with the most steps (a pre-training run when there is one). */
  #liveLoss(run, units) {
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
    run.writer.save({ results: experiment_results_json(results), finished: finishedCount(results) });
  }

  /** A budget's pre-trained weights (`index`: see #checkpointButton): a download button,
   * and saved. */
  #checkpoint(run, index, bytes) {
    this.#checkpointButton(index, bytes);
    const checkpoints = [...(run.writer.record.checkpoints ?? [])];
    checkpoints[index] = bytes;
    run.writer.save({ checkpoints });
  }

  #done(run, results) {
    this.#draw(results);
    run.writer.save({ results: experiment_results_json(results), finished: finishedCount(results), status: 'done' });
    const on = run.exec.workers > 1 ? ` (${run.exec.workers} workers)` : '';
    const what = results.sweep ? `${results.sweep.values.length} values of ${results.sweep.field} × ${results.budgets.length} budgets` : `${results.budgets.length} budgets`;
    this.#stopped(run, `Done in ${fmt.time(results.elapsed_s)} on ${results.backend}${on} · ${what}`, 'done');
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
      this.state.failed = run.writer.record;
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

  /** The run is over (`state`: done, cancelled or failed): the buttons and the status. */
  #stopped(run, text, state) {
    if (this.state.run !== run) return;
    this.state.run = null;
    $('tx-start').disabled = !this.state.config;
    $('tx-pause').disabled = true;
    $('tx-cancel').disabled = true;
    $('tx-pause').textContent = 'Pause';
    $('tx-status').textContent = text;
    this.announce.now(text);
    document.body.dataset.experiment = state;
    // Its last write done, the record is free for other tabs.
    run.writer.written.then(() => run.lock).then((release) => { release?.(); this.#listSaved(); });
  }

  // --- Drawing ---

  #buildFigures() {
    const figures = {};
    for (const name of Object.keys(PLOTS)) {
      figures[name] = this.#figure(name);
      $('tx-plots').append(figures[name]);
    }
    return figures;
  }

  /** Plot `name`'s figure, hidden until drawn, with its SVG, PNG and CSV exports. */
  #figure(name) {
    const fig = plotFigure(name, PLOTS[name], 'tx');
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
    const { shown, svgs } = this.state;
    if (!shown) return;
    const file = `overtrain-${name}.${kind}`;
    if (kind === 'svg') downloadSvg(file, svgs[name]);
    else if (kind === 'csv') downloadCsv(file, experimentTable(name, shown, this.state.inflections));
    else downloadPng(file, svgs[name]);
  }

  /** Fetches the recorded preset runs shipped with the site (www/recorded/), for reference
   * curves; a site built without them simply shows none. */
  async #loadRecorded() {
    try {
      const base = new URL('./recorded/', import.meta.url);
      const names = await (await fetch(new URL('index.json', base))).json();
      for (const name of names) {
        const results = await (await fetch(new URL(`${name}.json`, base))).json();
        this.state.recorded.push({ key: canonical(results.config), results });
      }
    } catch {
      return;
    }
    this.#showRecorded();
  }

  /** The recorded run of exactly `config`, or null. */
  #recordedFor(config) {
    const key = canonical(config);
    return this.state.recorded.find((r) => r.key === key)?.results ?? null;
  }

  /** With no run of the user's on show, the recorded run of the controls' config, or none. */
  #showRecorded() {
    const { run, results, config } = this.state;
    if (run || results || !config) return;
    this.#drawRecorded(config);
  }

  /** Draws the recorded run of `config` alone, or hides the plots when there is none. */
  #drawRecorded(config) {
    const recorded = this.#recordedFor(config);
    if (recorded && recorded === this.state.recordedOnShow) return; // drawn already
    this.state.recordedOnShow = null;
    if (recorded) this.#draw(null, recorded);
    else for (const f of Object.values(this.figures)) f.hidden = true;
    $('tx-recorded-note').hidden = !recorded;
  }

  /** Draws the user's results (null: none, only `recorded`) with the recorded run of the
   * same config dashed beside them. */
  #draw(results, recorded = this.#recordedFor(results.config)) {
    this.lastDrawn = [results, recorded];
    $('tx-recorded-note').hidden = !recorded;
    let plots;
    try {
      plots = render_experiment_plots(results, recorded, plotOptions(this.presentation));
    } catch (e) {
      this.fatal(`could not draw the results: ${e?.message ?? e}`);
      return;
    }
    // The plots' own exports (SVG, PNG, CSV) hold what is shown: the user's run or the recorded one.
    const shown = results ?? recorded;
    this.state.shown = shown;
    // The captions say what the run on show shows: the user's, or the recorded one.
    let captions = {};
    try {
      captions = Object.fromEntries(experiment_captions(shown).map((c) => [c.plot, c]));
      this.state.inflections = experiment_inflections(shown);
    } catch (e) {
      this.fatal(`could not describe the results: ${e?.message ?? e}`);
    }
    this.state.recordedOnShow = results ? null : recorded;
    // A plot the results do not have (the sweep's summary, for one experiment) is hidden.
    const drawn = new Set(plots.map(([name]) => name));
    for (const [name, fig] of Object.entries(this.figures)) if (!drawn.has(name)) fig.hidden = true;
    for (const [name, svgText] of plots) {
      this.state.svgs[name] = svgText;
      const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
      const fig = this.figures[name];
      fig.querySelector('.svg').replaceChildren(document.importNode(doc.documentElement, true));
      fig.querySelector('details.table-view')?.remove();
      fig.append(tableView(experimentTable(name, shown, this.state.inflections), results ? PLOTS[name].title : `${PLOTS[name].title} (recorded run)`));
      setCaption(fig, captions[name], results ? '' : 'The recorded run: ');
      fig.hidden = false;
    }
    if (!results) return;
    const el = $('tx-plots');
    el.dataset.rendered = String(Number(el.dataset.rendered || 0) + 1);
    this.state.results = results;
    $('tx-exports').hidden = false;
    this.#divergenceNotices(results);
  }

  /** Says which pre-training and fine-tuning runs diverged (of each value, in a sweep). */
  #divergenceNotices(results) {
    const notes = [];
    for (const { r, at } of sections(results)) {
      r.base.diverged_at.forEach((d, i) => { if (d != null) notes.push(`${at}Pre-training to ${fmt.si(r.budgets[i])} tokens diverged at step ${d}; later phases use its last good weights.`); });
      for (const f of r.finetune) {
        f.diverged.forEach((n, i) => { if (n > 0) notes.push(`${at}Fine-tuning with lr ${f.lr}, λ ${f.l2} diverged for ${n} seed(s) at budget ${fmt.si(r.budgets[i])}; those runs are left out of the means.`); });
      }
    }
    $('tx-notices').replaceChildren(...notes.map((t) => notice(t)));
  }

  // --- Saving (IndexedDB, www/persist.js) ---

  #listSaved() {
    const { run } = this.state;
    return listSaved($('tx-saved'), {
      running: run?.writer.record.id ?? null,
      busy: Boolean(run),
      onShow: (rec) => this.#show(rec),
      onResume: (rec) => this.#resume(rec),
      relist: () => this.#listSaved(),
      onUnavailable: (e) => this.#storageFailed(e),
    });
  }

  /** Saving failed (`e`): the page says so once, and runs on without keeping anything. */
  #storageFailed(e) {
    const box = $('tx-storage');
    if (!box.hidden) return;
    box.textContent = `Experiments are not kept in this browser: ${storageProblem(e)}. Runs work all the same; download their results and weights from this page before leaving it.`;
    box.hidden = false;
  }

  /** Shows a saved record: its results and checkpoints. */
  #show(rec) {
    const results = JSON.parse(rec.results);
    this.#draw(results);
    $('tx-checkpoints').replaceChildren();
    (rec.checkpoints ?? []).forEach((bytes, i) => { if (bytes) this.#checkpointButton(i, bytes, results.config); });
    $('tx-status').textContent = `Showing a saved experiment from ${new Date(rec.created).toLocaleString()} (${finishedCount(results)}/${rec.budgets} budgets).`;
  }

  /** Resumes a saved unfinished record: its config in the controls, then a start — if
   * no other tab has just taken it. */
  async #resume(rec) {
    const release = await takeLock(lockName(rec));
    if (!release) {
      $('tx-status').textContent = 'That experiment is running in another tab.';
      this.#listSaved();
      return;
    }
    this.form.set(JSON.parse(rec.config));
    this.#changed();
    this.start({ resume: rec, release });
  }

  /** Adds (or replaces) checkpoint `index`'s button (of `config`: budget index % budgets
   * of the sweep's value index / budgets; without a sweep the budget), in that order (on
   * several workers the pre-training runs finish in any order). */
  #checkpointButton(index, bytes, config = this.state.config) {
    const btn = document.createElement('button');
    btn.type = 'button';
    const budgets = config?.pretrain?.budgets ?? [];
    const budget = budgets.length ? index % budgets.length : index;
    const variant = budgets.length ? Math.floor(index / budgets.length) : 0;
    const sweep = config?.sweep;
    const value = sweep ? `${sweep.field.split('.').at(-1)} = ${valueText(sweep.values[variant])}, ` : '';
    // Say what the button downloads, and how much: a file of weights, not a page.
    const tokens = budgets[budget];
    const size = bytes.length < 1e6 ? `${Math.max(1, Math.round(bytes.length / 1e3))} kB` : `${(bytes.length / 1e6).toFixed(1)} MB`;
    btn.textContent = `Weights ${sweep ? `(${value.slice(0, -2)}) ` : ''}${budget + 1}${tokens ? ` (${fmt.si(tokens)} tokens)` : ''}: .safetensors, ${size}`;
    btn.title = `Download the model ${sweep ? `with ${value.slice(0, -2)} ` : ''}pre-trained to budget ${budget + 1} as a safetensors file (${size})`;
    btn.dataset.checkpoint = String(index);
    const file = sweep ? `overtrain-${sweep.field.split('.').at(-1)}-${variant + 1}-budget-${budget + 1}` : `overtrain-budget-${budget + 1}`;
    btn.addEventListener('click', () => downloadBytes(`${file}.safetensors`, bytes));
    const box = $('tx-checkpoints');
    box.querySelector(`[data-checkpoint="${index}"]`)?.remove();
    const after = [...box.children].find((b) => Number(b.dataset.checkpoint) > index);
    box.insertBefore(btn, after ?? null);
  }
}
