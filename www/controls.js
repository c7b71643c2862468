// The linear lab's controls: one entry per config field, built into the form, read back
// into a config object, and able to show an error next to any field.

const GROUPS = [
  {
    title: 'Model and tasks',
    fields: [
      { path: 'seed', label: 'Seed', kind: 'int', min: 0, help: 'Seeds the random task directions and the noise.' },
      { path: 'dim', label: 'Dimension d', kind: 'int', min: 1, max: 256, slider: [2, 64, 1], help: 'Number of task directions (input = output size).' },
      { path: 'hidden', label: 'Hidden width h', kind: 'int', min: 1, max: 256, slider: [1, 64, 1] },
      { path: 'basis', label: 'Task basis', kind: 'select', options: ['random', 'identity'], help: 'Shared singular vectors U, V: random rotations, or the identity (every direction independent).' },
      { path: 'init_scale', label: 'Init scale ε', kind: 'number', min: 0, max: 1, help: 'Small balanced start W₁ = W₂ = εI: what makes learning one direction at a time.' },
    ],
  },
  {
    title: 'Pre-training (gradient descent on A_pre)',
    fields: [
      { path: 'pretrain.spectrum', label: 'Spectrum s', kind: 'spectrum', help: 'Strength of each direction of A_pre.' },
      { path: 'pretrain.lr', label: 'Learning rate η_pt', kind: 'number', min: 0, max: 10, slider: [0.005, 0.2, 0.005] },
      { path: 'pretrain.steps', label: 'Steps T', kind: 'int', min: 1, max: 100000, slider: [100, 5000, 100] },
      { path: 'pretrain.checkpoint_every', label: 'Checkpoint every', kind: 'int', min: 1, help: 'Each checkpoint is perturbed and fine-tuned.' },
    ],
  },
  {
    title: 'Fine-tuning (on A_ft, from every checkpoint)',
    fields: [
      { path: 'finetune.spectrum', label: 'Spectrum f', kind: 'spectrum', help: 'Strength of each direction of A_ft (same directions as A_pre).' },
      { path: 'finetune.lrs', label: 'Learning rates η_ft', kind: 'list', help: 'Comma-separated; one curve each.' },
      { path: 'finetune.steps', label: 'Steps K', kind: 'int', min: 1, max: 10000, slider: [10, 1000, 10] },
      { path: 'finetune.l2', label: 'Pull to pre-trained λ', kind: 'list', help: 'Comma-separated; λ‖θ − θ₀‖² keeps the model near its checkpoint.' },
    ],
  },
  {
    title: 'Gaussian perturbation',
    fields: [
      { path: 'perturb.gammas', label: 'Noise scales γ', kind: 'list', help: 'Comma-separated; W ← W + γZ, Z standard normal.' },
      { path: 'perturb.samples', label: 'Draws M', kind: 'int', min: 1, max: 1000, slider: [1, 200, 1] },
    ],
  },
];

const SPECTRUM_PARAM = { power: ['exponent', 'Exponent a (s_i = i^−a)'], flat: ['value', 'Value c (s_i = c)'], values: ['values', 'Values (comma-separated, d of them)'] };

function getPath(obj, path) { return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj); }
function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys.at(-1)] = value;
}
const idFor = (path) => `f-${path.replace(/[^a-z0-9]+/gi, '-')}`;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v; else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children);
  return e;
}

export class Controls {
  /** Builds the form; `onChange()` is called after every edit. */
  constructor(form, onChange) {
    this.form = form;
    this.onChange = onChange;
    this.rows = new Map(); // field path -> {row, error, inputs}
    for (const group of GROUPS) {
      const fs = el('fieldset', {}, el('legend', { text: group.title }));
      for (const f of group.fields) {
        if (f.kind === 'spectrum') this.#spectrum(fs, f); else this.#field(fs, f);
      }
      form.append(fs);
    }
    const theory = el('input', { type: 'checkbox', id: 'f-show-theory', checked: true });
    const row = el('div', { class: 'field' }, el('label', { for: 'f-show-theory', text: 'Show idealized theory curves' }), theory);
    form.append(el('fieldset', {}, el('legend', { text: 'Display' }), row));
    this.theory = theory;
    theory.addEventListener('change', () => onChange({ displayOnly: true }));
  }

  #row(fs, path, labelText, input, help) {
    const error = el('div', { class: 'error', role: 'alert', id: `${idFor(path)}-error`, hidden: true });
    const row = el('div', { class: 'field', 'data-field': path }, el('label', { for: input.id, text: labelText }), input);
    if (help) row.append(el('div', { class: 'help', text: help }));
    row.append(error);
    input.setAttribute('aria-describedby', error.id);
    fs.append(row);
    this.rows.set(path, { row, error, input });
    return row;
  }

  #field(fs, f) {
    const id = idFor(f.path);
    let input;
    if (f.kind === 'select') {
      input = el('select', { id, name: f.path }, ...f.options.map((o) => el('option', { value: o, text: o })));
    } else {
      input = el('input', { id, name: f.path, type: f.kind === 'list' ? 'text' : 'number', min: f.min, max: f.max, step: f.kind === 'int' ? 1 : 'any', inputmode: f.kind === 'list' ? 'decimal' : undefined });
    }
    input.addEventListener(f.kind === 'select' ? 'change' : 'input', () => this.onChange({}));
    const row = this.#row(fs, f.path, f.label, input, f.help);
    if (f.slider) {
      const [min, max, step] = f.slider;
      const slider = el('input', { type: 'range', min, max, step, 'aria-label': `${f.label} slider`, id: `${id}-slider` });
      slider.addEventListener('input', () => { input.value = slider.value; this.onChange({}); });
      input.addEventListener('input', () => { slider.value = input.value; });
      row.insertBefore(slider, row.querySelector('.help, .error'));
      this.rows.get(f.path).slider = slider;
    }
    this.rows.get(f.path).spec = f;
  }

  #spectrum(fs, f) {
    const kind = el('select', { id: idFor(`${f.path}.kind`), name: `${f.path}.kind` }, ...Object.keys(SPECTRUM_PARAM).map((k) => el('option', { value: k, text: k })));
    const param = el('input', { id: idFor(`${f.path}.param`), name: `${f.path}.param`, type: 'text', inputmode: 'decimal' });
    this.#row(fs, f.path, f.label, kind, f.help).dataset.kind = 'spectrum';
    const paramRow = this.#row(fs, `${f.path}.param`, '', param);
    const relabel = () => { paramRow.querySelector('label').textContent = SPECTRUM_PARAM[kind.value][1]; };
    kind.addEventListener('change', () => { relabel(); param.value = kind.value === 'values' ? '' : '1'; this.onChange({}); });
    param.addEventListener('input', () => this.onChange({}));
    this.rows.get(f.path).spec = f;
    this.rows.get(f.path).relabel = relabel;
  }

  /** Puts a config's values into the controls. */
  set(config) {
    for (const [path, r] of this.rows) {
      if (!r.spec) continue;
      const v = getPath(config, path);
      if (r.spec.kind === 'spectrum') {
        r.input.value = v.kind;
        const [key] = SPECTRUM_PARAM[v.kind];
        this.rows.get(`${path}.param`).input.value = Array.isArray(v[key]) ? v[key].join(', ') : String(v[key]);
        r.relabel();
      } else if (r.spec.kind === 'list') {
        r.input.value = v.join(', ');
      } else {
        r.input.value = String(v);
        if (r.slider) r.slider.value = String(v);
      }
    }
  }

  get showTheory() { return this.theory.checked; }

  /** Reads the controls into a config. Returns {config} or {errors: [{field, message}]}. */
  read() {
    const config = {};
    const errors = [];
    const num = (path, text, int) => {
      const t = text.trim();
      const x = Number(t);
      if (t === '' || !Number.isFinite(x)) { errors.push({ field: path, message: `must be a number, got "${t}"` }); return NaN; }
      if (int && !Number.isInteger(x)) { errors.push({ field: path, message: `must be a whole number, got ${t}` }); return NaN; }
      return x;
    };
    const list = (path, text) => text.split(/[\s,;]+/).filter((s) => s !== '').map((s, i) => num(`${path}[${i}]`, s, false));
    for (const [path, r] of this.rows) {
      if (!r.spec) continue;
      const { kind } = r.spec;
      if (kind === 'spectrum') {
        const k = r.input.value;
        const [key] = SPECTRUM_PARAM[k];
        const text = this.rows.get(`${path}.param`).input.value;
        setPath(config, path, { kind: k, [key]: k === 'values' ? list(`${path}.values`, text) : num(`${path}.${key}`, text, false) });
      } else if (kind === 'select') setPath(config, path, r.input.value);
      else if (kind === 'list') setPath(config, path, list(path, r.input.value));
      else setPath(config, path, num(path, r.input.value, kind === 'int'));
    }
    return errors.length ? { errors } : { config };
  }

  /** The control row an error path belongs to (`finetune.lrs[1]` → finetune.lrs). */
  rowFor(field) {
    const base = field.replace(/\[\d+\]/g, '');
    if (this.rows.has(base) && this.rows.get(base).spec?.kind !== 'spectrum') return this.rows.get(base);
    const m = base.match(/^(pretrain|finetune)\.spectrum(\.(.*))?$/);
    if (m) return this.rows.get(m[3] && m[3] !== 'kind' ? `${m[1]}.spectrum.param` : `${m[1]}.spectrum`);
    return null;
  }

  /** Shows errors next to their controls (clearing all others); returns those with no control. */
  showErrors(errors) {
    for (const r of this.rows.values()) { r.row.classList.remove('invalid'); r.error.hidden = true; r.error.textContent = ''; r.input.removeAttribute('aria-invalid'); }
    const orphans = [];
    for (const e of errors) {
      const r = this.rowFor(e.field);
      if (!r) { orphans.push(e); continue; }
      r.row.classList.add('invalid');
      r.input.setAttribute('aria-invalid', 'true');
      r.error.hidden = false;
      r.error.textContent = `${e.field}: ${e.message}`;
    }
    return orphans;
  }
}
