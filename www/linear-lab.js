// The linear transfer lab: its form (from the field schema), runs on the shared worker pool
// (www/runner.js), the four plots (drawn by the wasm on this thread), notices, the backend
// line, and the results download. A run estimated above AUTO_RUN_MAX_S (www/work.js) waits
// for the "Run" button; a run of more than a second shows its elapsed time. The lab's state
// is in `document.body.dataset.linear`: 'waiting' (for WebGPU), 'invalid', 'gated',
// 'running', 'done' or 'failed'.
import { validate_linear_config, render_linear_plots, linear_work, linear_results_json, linear_captions } from './pkg/overtrain.js';
import { SchemaForm } from './controls.js';
import { chooseBackend } from './runner.js';
import { linearTable, plotFigure, plotOptions, setCaption, tableView } from './tables.js';
import { downloadJson } from './exports.js';
import { linkControls, plainWithDetails } from './glossary.js';
import { AUTO_RUN_MAX_S, estimateSeconds, durationText, workText } from './work.js';

// Each plot's fixed text says only what is always true — its axes and marks. What a run
// shows (its minima, rises and falls, and whether it shows the effect at all) is the
// wasm's caption of that run (`linear_captions`, computed by the one significance rule),
// so the page never claims an effect its data does not show.
export const PLOTS = {
  sensitivity: {
    title: 'Base loss and sensitivity',
    axes: 'Across: pre-training steps. Black: the base pre-training loss. Colours: the [[sensitivity|sensitivity]] for each noise scale [[gamma|γ]] — how much adding random noise to the weights raises that loss (perturbed minus base loss).',
  },
  perturbed: {
    title: 'Loss after a Gaussian perturbation',
    axes: 'Across: pre-training steps. Up: the pre-training loss after adding noise of scale [[gamma|γ]] to the weights, one colour per γ. Solid: the average over M random draws; dashed: its exact expectation. A ring marks an [[inflection|inflection]] where the curve has a clear minimum.',
  },
  finetuned: {
    title: 'After fine-tuning each checkpoint',
    axes: 'Every checkpoint is fine-tuned on a second task. Upper panel: how well the fine-tuned model still does the pre-training task (its loss); lower panel: the fine-tuning task\'s loss. Colour and marker: the fine-tuning learning rate [[eta|η]]; dash: the pull [[lambda|λ]] toward the pre-trained weights. A ring marks an [[inflection|inflection]]. Grey: the idealized theory.',
  },
  singular_values: {
    title: 'Directions learned one at a time',
    axes: 'Across: pre-training steps. Up: the network\'s strength along each direction of the pre-training task, one curve per direction (blue: the largest target, red: the smallest).',
  },
};

const $ = (id) => document.getElementById(id);
const notice = (text, cls = 'notice') => Object.assign(document.createElement('div'), { className: cls, textContent: text });
const sentence = (text) => text.replace(/[.\s]+$/, '');

/** Everything the lab remembers between events, in one place (the DOM shows it). */
function initialState() {
  return {
    /** The last good run's results (the wasm's object): drawn, and downloadable. */
    results: null,
    /** The config (JSON text, as a key) and backend of the latest run asked for: the same
     * settings again run nothing. */
    lastRun: null,
    /** A WebGPU failure (typed error): the lab stays on the CPU. */
    gpuFailure: null,
    /** The config (JSON text) of a heavy run the reader asked for with "Run". */
    approved: null,
    /** The config (JSON text) of the heavy run that waits for "Run", or false. */
    gated: false,
    /** Requests sent; only the latest one's answer ends the 'running' state. */
    seq: 0,
    /** The latest request answered. */
    answered: 0,
    /** The lab's state ('done' | 'failed') after the latest answer. */
    lastState: undefined,
    /** The status line of the last finished run. */
    doneStatus: '',
    /** While the latest run computes: {started, label, estimate, timer}. */
    busy: null,
  };
}

export class LinearLab {
  presentation = false;

  /** `onChange()`: after every valid edit (the page rewrites the URL then). */
  constructor({ runner, schema, defaults, onChange }) {
    this.runner = runner;
    this.defaults = defaults;
    this.onChange = onChange;
    this.state = initialState();
    this.plotsEl = $('plots');
    this.figures = Object.fromEntries(Object.keys(PLOTS).map((n) => [n, plotFigure(n, PLOTS[n], 'linear')]));
    this.plotsEl.append(...Object.values(this.figures));
    this.controls = new SchemaForm($('controls'), schema.linear, {
      idFor: (path) => `f-${path.replace(/[^a-z0-9]+/gi, '-')}`,
      event: 'input',
      onChange: () => this.update(),
    });
    linkControls(this.controls, 'linear');
    this.theory = this.#theorySwitch();
    this.controls.set(defaults);
    this.#wireButtons();
    runner.onGpu((adapter) => {
      document.body.dataset.webgpu = adapter ? (adapter.software ? 'software' : 'hardware') : 'none';
      this.#rerun(); // the backend may change
    });
  }

  /** The last good run's results, or null. */
  get results() { return this.state.results; }

  /** The "Show idealized theory curves" switch, in a fieldset of its own under the form. */
  #theorySwitch() {
    const theory = document.createElement('input');
    Object.assign(theory, { type: 'checkbox', id: 'f-show-theory', checked: true });
    const row = document.createElement('div');
    row.className = 'field';
    row.append(Object.assign(document.createElement('label'), { htmlFor: theory.id, textContent: 'Show idealized theory curves' }), theory);
    const fs = document.createElement('fieldset');
    fs.append(Object.assign(document.createElement('legend'), { textContent: 'Display' }), row);
    $('controls').append(fs);
    theory.addEventListener('change', () => this.draw());
    return theory;
  }

  #wireButtons() {
    $('reset').addEventListener('click', () => { this.controls.set(this.defaults); this.update(); });
    $('run-heavy').addEventListener('click', () => {
      this.state.approved = this.state.gated ? this.state.gated : null;
      this.update();
    });
    // The download is a file: the results' JSON text as the CLI writes it (the wasm's).
    $('download').addEventListener('click', () => this.state.results && downloadJson('overtrain-linear-results.json', linear_results_json(this.state.results)));
    $('gpu-continue').addEventListener('click', () => {
      $('gpu-failure').hidden = true;
      $('f-backend').value = 'cpu';
      this.#rerun();
    });
    $('f-backend').addEventListener('change', () => {
      this.state.gpuFailure = null;
      $('gpu-failure').hidden = true;
      this.#rerun();
    });
  }

  // --- The status line and the busy state ---

  #status(text, busy = false) {
    $('status').textContent = text;
    $('status').classList.toggle('busy', busy);
    $('status').classList.toggle('long', false);
  }

  #setLabState(state) { document.body.dataset.linear = state; }

  /** Shows (text) or hides (null) the heavy run's estimate and its "Run" button. */
  #gate(text, configText = null) {
    this.state.gated = text ? configText : false;
    $('run-gate').hidden = !text;
    $('run-gate').querySelector('.message').textContent = text ?? '';
  }

  /** The latest run's busy state: after a second, its elapsed time, every half second. */
  #startBusy(label, estimate) {
    this.#stopBusy();
    this.#status(label, true);
    const busy = { started: performance.now(), label, estimate };
    busy.timer = setInterval(() => {
      const s = (performance.now() - busy.started) / 1000;
      if (s < 1 || this.state.busy !== busy) return;
      const est = estimate > AUTO_RUN_MAX_S ? ` (about ${durationText(estimate)} estimated)` : '';
      $('status').textContent = `${label} ${Math.floor(s)} s${est}`;
      $('status').classList.add('long');
      $('plots').setAttribute('aria-busy', 'true');
    }, 250);
    this.state.busy = busy;
  }

  #stopBusy() {
    const { busy } = this.state;
    if (!busy) return;
    clearInterval(busy.timer);
    this.state.busy = null;
    $('status').classList.remove('long', 'busy');
    $('plots').removeAttribute('aria-busy');
  }

  // --- The backend ---

  /** The backend a run goes to now, {backend, reason} (the wasm's rule). */
  backend() {
    const choice = this.state.gpuFailure ? 'cpu' : $('f-backend').value;
    return chooseBackend(choice, this.runner.gpu, true);
  }

  #describeBackend() {
    const box = $('backend-info');
    const gpu = this.runner.gpu;
    if (gpu === undefined) { box.textContent = 'Looking for WebGPU…'; return; }
    const { backend, reason } = this.backend();
    let text;
    // The adapter's own error (a list of backends not compiled in, …) is for the curious:
    // one plain sentence here, the details behind a disclosure.
    if (gpu === null) text = 'WebGPU is not available in this browser.';
    else text = `WebGPU adapter: ${gpu.name} (${gpu.device_type})${gpu.software ? ' — a software GPU: expect slow training' : ''}.`;
    if (backend === 'cpu') text += ` The lab runs on the CPU (WebAssembly)${reason ? `: ${sentence(reason)}` : ''}.`;
    plainWithDetails(box, text, gpu === null ? this.runner.gpuError?.message : null);
  }

  // --- The form ---

  /** The config as the controls hold it (null while a field is invalid). */
  config() {
    return this.controls.read().config ?? null;
  }

  setConfig(config) { this.controls.set(config); }

  get showTheory() { return this.theory.checked; }

  /** Presentation mode: plots with larger text and thicker lines (for a projector). */
  setPresentation(on) {
    if (this.presentation === on) return;
    this.presentation = on;
    this.draw();
  }

  /** The controls' config when it is valid (the wasm's validation too); else null, with
   * the errors shown. */
  #validConfig() {
    const read = this.controls.read();
    let errors = read.errors ?? [];
    if (!errors.length) {
      const err = validate_linear_config(read.config);
      if (err) errors = [err];
    }
    this.#showErrors(errors);
    return errors.length ? null : read.config;
  }

  /** Shows errors next to their fields, and those without one above the plots. */
  #showErrors(errors) {
    const orphans = this.controls.showErrors(errors);
    // A collapsed settings panel (a phone) opens to show the error next to its field.
    const panel = $('controls').closest('.controls');
    if (errors.length && panel.classList.contains('collapsed')) panel.querySelector('.controls-toggle').click();
    $('notices').querySelectorAll('.notice.error').forEach((n) => n.remove());
    for (const o of orphans) $('notices').prepend(notice(`${o.field || 'config'}: ${o.message}`, 'notice error'));
  }

  // --- Running ---

  #rerun() {
    this.state.lastRun = null;
    this.update();
  }

  /** Validates the controls and, when they changed, runs them. */
  update() {
    this.#describeBackend();
    const config = this.#validConfig();
    if (!config) {
      this.#gate(null);
      if (!this.state.busy) this.#status('Fix the highlighted field; the plots show the last valid settings.');
      this.#setLabState('invalid');
      return;
    }
    this.onChange();
    if (this.runner.gpu === undefined) { this.#status('Looking for WebGPU…', true); this.#setLabState('waiting'); return; }
    const { backend } = this.backend();
    const configText = JSON.stringify(config); // the settings as a key, to compare
    if (configText + backend === this.state.lastRun) { this.#unchanged(); return; }
    // The config is valid here (checked above), so linear_work does not throw.
    const work = linear_work(config);
    const estimate = estimateSeconds(work);
    if (estimate > AUTO_RUN_MAX_S && this.state.approved !== configText) { this.#waitForRun(configText, work, estimate); return; }
    this.#run(config, configText, backend, estimate);
  }

  /** Back to the settings of the latest run: nothing to ask or run. */
  #unchanged() {
    const { seq, answered } = this.state;
    this.#gate(null);
    if (seq === answered) {
      this.plotsEl.classList.remove('stale');
      this.#status(this.state.doneStatus);
    }
    this.#setLabState(seq === answered ? this.state.lastState : 'running');
  }

  /** A heavy run waits for the reader (a link must not freeze the page for a minute). */
  #waitForRun(configText, work, estimate) {
    this.plotsEl.classList.add('stale');
    this.#gate(`This run needs ${workText(work)} multiply-adds: about ${durationText(estimate)} of computing (a cautious estimate; runs under ${AUTO_RUN_MAX_S} s start by themselves).`, configText);
    if (!this.state.busy) this.#status(this.state.results ? 'Not run yet: the plots show the last settings that ran.' : 'Not run yet.');
    this.#setLabState('gated');
  }

  #run(config, configText, backend, estimate) {
    this.#gate(null);
    this.state.approved = null; // a "Run" is for one run: coming back to these settings asks again
    this.state.lastRun = configText + backend;
    this.plotsEl.classList.add('stale');
    const seq = ++this.state.seq;
    this.#startBusy(backend === 'gpu' ? 'Computing on WebGPU…' : 'Computing…', estimate);
    this.#setLabState('running');
    this.runner.runLinear(config, backend, {
      onResult: (results, job) => this.#result(results, job, seq),
      onError: (error) => this.#failed(error, seq),
      onPanic: () => {
        this.state.lastRun = null;
        this.#answered(seq, 'failed');
        this.plotsEl.classList.remove('stale');
        this.#status('Stopped by an internal error.');
      },
    });
  }

  /** The answer to request `seq` came: the latest one ends the busy state. */
  #answered(seq, state) {
    if (seq !== this.state.seq) return;
    this.state.answered = seq;
    this.state.lastState = state;
    this.#stopBusy();
    if (!this.state.gated) this.#setLabState(state);
  }

  #result(results, job, seq) {
    const wall = performance.now() - job.started; // workers + merge, before drawing
    this.#answered(seq, 'done');
    if (!this.state.gated) this.plotsEl.classList.remove('stale');
    this.state.results = results;
    this.#notices(results);
    this.draw();
    const runs = results.steps.length * results.finetune.length;
    const n = job.slots.length;
    let where = `the CPU (WebAssembly, ${n} worker${n > 1 ? 's' : ''})`;
    if (results.backend?.kind === 'gpu') {
      const a = results.backend.adapter;
      where = `WebGPU (${a.name}${a.software ? ', a software GPU' : ''}; ${results.backend.dispatches} dispatches)`;
    }
    this.state.doneStatus = `Computed in ${wall.toFixed(0)} ms on ${where} · ${results.steps.length} checkpoints · ${runs} fine-tuning runs`;
    if (!this.state.busy) this.#status(this.state.gated ? `${this.state.doneStatus} (earlier settings; the current ones wait for Run)` : this.state.doneStatus);
    document.body.dataset.backend = results.backend?.kind === 'gpu' ? 'webgpu' : 'cpu';
    document.body.dataset.lastRunMs = String(results.elapsed_ms);
    document.body.dataset.lastRoundTripMs = String(wall);
  }

  /** A failed run, by the error's kind. */
  #failed(error, seq) {
    this.#answered(seq, 'failed');
    this.plotsEl.classList.remove('stale');
    this.state.lastRun = null;
    if (error.kind === 'config') {
      this.#showErrors([error]);
      this.#status('Fix the highlighted field; the plots show the last valid settings.');
    } else if (error.kind === 'gpu') {
      this.state.gpuFailure = error;
      const box = $('gpu-failure');
      box.hidden = false;
      box.querySelector('.message').textContent = `WebGPU failed: ${error.message}`;
      this.#status('WebGPU failed; the plots show the last results.');
      if ($('f-backend').value !== 'gpu') this.update(); // auto: go on on the CPU
    } else if (error.kind === 'cancelled') {
      this.#status('Cancelled.');
    } else {
      this.#status(`The run failed: ${error.message}`);
    }
  }

  // --- Drawing ---

  draw() {
    const { results } = this.state;
    if (!results) return;
    const plots = render_linear_plots(results, { ...plotOptions(this.presentation), show_theory: this.showTheory });
    const captions = Object.fromEntries(linear_captions(results).map((c) => [c.plot, c]));
    for (const [name, svgText] of plots) {
      const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
      const fig = this.figures[name];
      fig.querySelector('.svg').replaceChildren(document.importNode(doc.documentElement, true));
      fig.querySelector('details.table-view')?.remove();
      fig.append(tableView(linearTable(name, results), PLOTS[name].title));
      setCaption(fig, captions[name]);
    }
    this.plotsEl.dataset.rendered = String(Number(this.plotsEl.dataset.rendered || 0) + 1);
  }

  #notices(results) {
    const out = [];
    if (results.pretrain_diverged_at != null) out.push(`Pre-training diverged at step ${results.pretrain_diverged_at}: the curves stop at the last finite checkpoint. Lower the pre-training learning rate.`);
    for (const c of results.finetune) {
      if (c.diverged_at != null) out.push(`Fine-tuning with η = ${c.lr}, λ = ${c.l2} diverged at step ${c.diverged_at} (from the checkpoints at steps ${c.diverged_checkpoints.join(', ')}); those points are not plotted.`);
    }
    $('notices').replaceChildren(...out.map((t) => notice(t)));
  }
}
