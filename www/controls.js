// A form built from the field schema (www/schema.js) — both labs use it: one control per
// config field with its label, help and allowed range, read back into a config object,
// and able to show an error next to any field.
import { rangeText } from './schema.js';
import { SPECTRUM_KINDS, getPath, parseSweepValues, setPath, sweepValuesText, sweepable } from './state.js';

/** The label of a spectrum's parameter, by the spectrum's kind. */
const SPECTRUM_LABEL = { power: 'Exponent a (s_i = i^−a)', flat: 'Value c (s_i = c)', values: 'Values (comma-separated, d of them)' };


function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v; else e.setAttribute(k, v === true ? '' : String(v));
  }
  e.append(...children);
  return e;
}

/** Leaves of a config that no field covers (e.g. `schema_version`), kept as they are. */
function uncovered(config, paths, prefix = '') {
  const out = {};
  for (const [k, v] of Object.entries(config ?? {})) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (paths.has(path)) continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const inner = uncovered(v, paths, path);
      if (Object.keys(inner).length) out[k] = inner;
    } else out[k] = v;
  }
  return out;
}

export class SchemaForm {
  /**
   * Builds the form from `groups` ([{title, fields}] of the schema). `idFor(path)`: the id
   * of a field's control; `event`: the input event that counts as an edit ('input': every
   * keystroke, 'change'); `onChange()` after every edit.
   */
  constructor(form, groups, { idFor, event = 'input', onChange }) {
    this.form = form;
    this.idFor = idFor;
    this.event = event;
    this.onChange = onChange;
    this.rows = new Map(); // path → {row, error, input, field, slider?, relabel?}
    this.fixed = {};
    for (const group of groups) {
      const fs = el('fieldset', {}, el('legend', { text: group.title }));
      for (const f of group.fields) {
        if (f.kind === 'spectrum') this.#spectrum(fs, f);
        else if (f.kind === 'sweep') this.#sweep(fs, f, sweepable(groups));
        else this.#field(fs, f);
      }
      form.append(fs);
    }
    this.paths = new Set(groups.flatMap((g) => g.fields.map((f) => f.path)));
  }

  #row(fs, path, labelText, input, notes = []) {
    const error = el('div', { class: 'error', role: 'alert', id: `${input.id}-error`, hidden: true });
    const row = el('div', { class: 'field', 'data-field': path }, el('label', { for: input.id, text: labelText }), input);
    for (const [cls, text] of notes) if (text) row.append(el('div', { class: cls, id: `${input.id}-${cls}`, text }));
    row.append(error);
    input.setAttribute('aria-describedby', [...row.querySelectorAll('.help, .range, .error')].map((e) => e.id).join(' '));
    fs.append(row);
    this.rows.set(path, { row, error, input });
    return row;
  }

  #field(fs, f) {
    const id = this.idFor(f.path);
    let input;
    if (f.kind === 'choice') {
      input = el('select', { id, name: f.path }, ...f.values.map((o) => el('option', { value: o, text: o })));
    } else if (f.kind === 'bool') {
      input = el('input', { id, name: f.path, type: 'checkbox' });
    } else if (f.kind === 'text') {
      input = el('textarea', { id, name: f.path });
    } else if (f.kind === 'list') {
      input = el('input', { id, name: f.path, type: 'text', inputmode: 'decimal' });
    } else {
      input = el('input', { id, name: f.path, type: 'number', min: f.min, max: f.max, step: f.kind === 'int' ? 1 : 'any' });
    }
    const event = f.kind === 'choice' || f.kind === 'bool' ? 'change' : this.event;
    input.addEventListener(event, () => this.onChange());
    const range = rangeText(f);
    this.#row(fs, f.path, f.label, input, [['help', f.help], ['range', range && `Allowed: ${range}`]]);
    const r = this.rows.get(f.path);
    r.field = f;
    if (f.slider) {
      const [min, max, step] = f.slider;
      const slider = el('input', { type: 'range', min, max, step, 'aria-label': `${f.label} slider`, id: `${id}-slider` });
      slider.addEventListener('input', () => { input.value = slider.value; this.onChange(); });
      input.addEventListener('input', () => { slider.value = input.value; });
      r.row.insertBefore(slider, r.row.querySelector('.help, .range, .error'));
      r.slider = slider;
    }
  }

  #spectrum(fs, f) {
    const kinds = f.values ?? Object.keys(SPECTRUM_KINDS);
    const kind = el('select', { id: this.idFor(`${f.path}.kind`), name: `${f.path}.kind` }, ...kinds.map((k) => el('option', { value: k, text: k })));
    const param = el('input', { id: this.idFor(`${f.path}.param`), name: `${f.path}.param`, type: 'text', inputmode: 'decimal' });
    this.#row(fs, f.path, f.label, kind, [['help', f.help]]).dataset.kind = 'spectrum';
    const paramRow = this.#row(fs, `${f.path}.param`, '', param);
    const relabel = () => { paramRow.querySelector('label').textContent = SPECTRUM_LABEL[kind.value]; };
    kind.addEventListener('change', () => { relabel(); param.value = kind.value === 'values' ? '' : '1'; this.onChange(); });
    param.addEventListener(this.event, () => this.onChange());
    Object.assign(this.rows.get(f.path), { field: f, relabel });
  }

  /** The sweep: which field to vary (or nothing), and its values as text. */
  #sweep(fs, f, levers) {
    const select = el('select', { id: this.idFor(f.path), name: f.path },
      el('option', { value: '', text: 'Nothing (one experiment)' }),
      ...levers.map((l) => el('option', { value: l.path, text: `${l.label} (${l.path})` })));
    const values = el('input', { id: this.idFor(`${f.path}.values`), name: `${f.path}.values`, type: 'text', autocomplete: 'off' });
    this.#row(fs, f.path, f.label, select, [['help', f.help]]).dataset.kind = 'sweep';
    const valuesRow = this.#row(fs, `${f.path}.values`, 'Values', values, [['help', 'The values of the field chosen above.']]);
    const help = valuesRow.querySelector('.help');
    const byPath = new Map(levers.map((l) => [l.path, l]));
    // The values row says what this field takes, and is there only when a field is chosen.
    const relabel = () => {
      const lever = byPath.get(select.value);
      valuesRow.hidden = !lever;
      help.textContent = !lever ? '' : lever.kind === 'list'
        ? `2 to 5 lists, apart by semicolons, e.g. "0.01, 0.03; 0.1, 0.3".`
        : lever.kind === 'choice' ? `2 to 5 of: ${lever.values.join(', ')}; apart by commas.`
          : lever.kind === 'bool' ? 'true, false' : `2 to 5 numbers apart by commas${rangeText(lever) ? `, each in ${rangeText(lever)}` : ''}.`;
    };
    select.addEventListener('change', () => {
      const lever = byPath.get(select.value);
      if (lever?.kind === 'bool') values.value = 'true, false';
      relabel();
      this.onChange();
    });
    values.addEventListener(this.event, () => this.onChange());
    Object.assign(this.rows.get(f.path), { field: f, relabel, levers: byPath });
    relabel();
  }

  /** Puts a config's values into the controls. */
  set(config) {
    this.fixed = uncovered(config, this.paths);
    for (const [path, r] of this.rows) {
      if (!r.field) continue;
      const v = getPath(config, path);
      const { kind } = r.field;
      if (kind === 'sweep') {
        r.input.value = v?.field ?? '';
        this.rows.get(`${path}.values`).input.value = v ? sweepValuesText(v.values) : '';
        r.relabel();
      } else if (kind === 'spectrum') {
        r.input.value = v.kind;
        const key = SPECTRUM_KINDS[v.kind];
        this.rows.get(`${path}.param`).input.value = Array.isArray(v[key]) ? v[key].join(', ') : String(v[key]);
        r.relabel();
      } else if (kind === 'list') r.input.value = v.join(', ');
      else if (kind === 'bool') r.input.checked = Boolean(v);
      else if (kind === 'text') r.input.value = v ?? '';
      else {
        r.input.value = String(v);
        if (r.slider) r.slider.value = String(v);
      }
    }
  }

  /** Reads the controls into a config. Returns {config} or {errors: [{field, message}]}. */
  read() {
    const config = structuredClone(this.fixed);
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
      if (!r.field) continue;
      const { kind } = r.field;
      const text = r.input.value;
      if (kind === 'sweep') {
        const lever = r.levers.get(text);
        if (!lever) continue; // nothing varies: no sweep
        const parsed = parseSweepValues(this.rows.get(`${path}.values`).input.value, lever);
        if (parsed.errors) errors.push(...parsed.errors);
        else setPath(config, path, { field: text, values: parsed.values });
      } else if (kind === 'spectrum') {
        const key = SPECTRUM_KINDS[text];
        const param = this.rows.get(`${path}.param`).input.value;
        setPath(config, path, { kind: text, [key]: text === 'values' ? list(`${path}.values`, param) : num(`${path}.${key}`, param, false) });
      } else if (kind === 'choice') setPath(config, path, text);
      else if (kind === 'bool') setPath(config, path, r.input.checked);
      else if (kind === 'text') setPath(config, path, text === '' ? null : text);
      else if (kind === 'list') setPath(config, path, list(path, text));
      else setPath(config, path, num(path, text, kind === 'int'));
    }
    return errors.length ? { errors } : { config };
  }

  /** The control row an error's field belongs to (`finetune.lrs[1]` → finetune.lrs), or null. */
  rowFor(field) {
    if (!field) return null;
    const base = field.replace(/\[\d+\]/g, '');
    // A sweep's errors: its field's on the choice, its values' on the values.
    if (base === 'sweep.field') return this.rows.get('sweep') ?? null;
    const r = this.rows.get(base);
    if (r && r.field?.kind !== 'spectrum') return r;
    const m = base.match(/^(.*\.spectrum)(\.(.*))?$/);
    if (m && this.rows.has(m[1])) return this.rows.get(m[3] && m[3] !== 'kind' ? `${m[1]}.param` : m[1]);
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
