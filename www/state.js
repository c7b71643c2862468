// The page's whole state in the URL hash, TensorFlow-Playground style: readable key=value
// pairs (`lab=linear&dim=16&pretrain.lr=0.05&finetune.lrs=0.01,0.03&tx.model.d_model=16`).
// Linear-lab fields are written by their config path, transformer-lab fields with the prefix
// `tx.`, lists comma-separated. Decoding never throws: unknown keys (any key that is not a
// field schema's own path), malformed values and values outside a field's range are ignored
// and returned by name, so the page can say which, and the rest is applied; values are only
// ever parsed as numbers, booleans or plain strings (nothing is inserted as HTML or
// executed). Pure functions, no DOM.

/** Page-level keys besides the two labs' configs, with their allowed values (`preset`: the
 * schema's preset names). */
export const PAGE_KEYS = {
  lab: ['linear', 'transformer'],
  embed: ['0', '1'],
  present: ['0', '1'], // presentation mode (a projector)
  backend: ['auto', 'gpu', 'cpu'],
  preset: null,
  exercise: null, // an exercise id (checked by the page)
  plots: null, // embed: comma-separated plot names
  controls: null, // embed: comma-separated linear-lab field paths
};

/** The linear lab's spectrum: its kind chooses its parameter's key. */
export const SPECTRUM_KINDS = { power: 'exponent', flat: 'value', values: 'values' };

/** Flattens a config into [path, value] leaves (objects recurse; arrays are leaves). A
 * sweep is two leaves: `sweep.field`, and `sweep.values` as its text (sweepValuesText). */
function leaves(obj, prefix = '') {
  const out = [];
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (path === 'sweep' && isRecord(v)) out.push(['sweep.field', v.field], ['sweep.values', sweepValuesText(v.values, true)]);
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...leaves(v, path));
    else out.push([path, v]);
  }
  return out;
}

/** The fields a sweep may vary, from a lab's schema groups: every field with numbers, a
 * choice or a switch (free text and the sweep itself are not levers). */
export function sweepable(groups) {
  return groups.flatMap((g) => g.fields).filter((f) => ['int', 'number', 'list', 'choice', 'bool'].includes(f.kind));
}

/** A sweep's values as a person writes them: "8, 24, 64"; for a list field, each value a
 * comma-separated list and the values apart by semicolons: "0.01, 0.03; 0.1, 0.3".
 * `compact` (for a link): without the spaces, "8,24,64". */
export function sweepValuesText(values, compact = false) {
  const space = compact ? '' : ' ';
  return (values ?? []).map((v) => (Array.isArray(v) ? v.join(`,${space}`) : String(v))).join(Array.isArray(values?.[0]) ? `;${space}` : `,${space}`);
}

/** The most values a sweep has, and the fewest (the wasm checks the same). */
export const SWEEP_VALUES = [2, 5];

/**
 * Parses a sweep's values text for `field` (a schema field): {values} or {errors: [{field:
 * `sweep.values[i]` or `sweep.values`, message}]}. Numbers must be numbers (whole for an
 * int field), switches true or false; ranges and choices are the wasm's to check (its
 * errors name the value). Values apart by commas, or by semicolons for a list field.
 */
export function parseSweepValues(text, field) {
  const list = field.kind === 'list';
  const parts = String(text).split(list ? ';' : /[,;]/).map((t) => t.trim()).filter((t) => t !== '');
  const errors = [];
  const number = (t, i) => {
    const x = Number(t);
    if (!Number.isFinite(x)) errors.push({ field: `sweep.values[${i}]`, message: `must be a number, got "${t}"` });
    else if (field.kind === 'int' && !Number.isInteger(x)) errors.push({ field: `sweep.values[${i}]`, message: `must be a whole number, got ${t}` });
    return x;
  };
  const values = parts.map((t, i) => {
    switch (field.kind) {
      case 'int':
      case 'number': return number(t, i);
      case 'list': return t.split(/[\s,]+/).filter((x) => x !== '').map((x) => number(x, i));
      case 'bool':
        if (t !== 'true' && t !== 'false') errors.push({ field: `sweep.values[${i}]`, message: `must be true or false, got "${t}"` });
        return t === 'true';
      default: return t;
    }
  });
  const [fewest, most] = SWEEP_VALUES;
  if (!errors.length && (values.length < fewest || values.length > most)) {
    errors.push({ field: 'sweep.values', message: `needs ${fewest} to ${most} values${list ? ' (apart by semicolons)' : ''}, got ${values.length}` });
  }
  return errors.length ? { errors } : { values };
}

function format(v) {
  if (Array.isArray(v)) return v.map(String).join(',');
  if (v === null) return '';
  return String(v);
}

const enc = (s) => encodeURIComponent(s).replace(/%2C/g, ',').replace(/%20/g, '+');

/**
 * The hash (without '#') for a page state: {lab, linear, transformer, page: {key: value}}.
 * `defaults` ({linear, transformer}: the configs `decodeState` starts from): a field equal
 * to its default is left out, so a link is only as long as the state needs.
 */
export function encodeState({ lab, linear, transformer, page = {} }, defaults = null) {
  const isDefault = (config, path, v) => config != null && format(getPath(config, path) ?? null) === format(v);
  const parts = [`lab=${enc(lab)}`];
  for (const [k, v] of Object.entries(page)) if (v !== undefined && v !== null && k !== 'lab') parts.push(`${enc(k)}=${enc(String(v))}`);
  for (const [path, v] of leaves(linear)) if (!isDefault(defaults?.linear, path, v)) parts.push(`${enc(path)}=${enc(format(v))}`);
  // null (an absent optional field, e.g. no user text) is left out: absent decodes to null.
  for (const [path, v] of leaves(transformer)) {
    if (path !== 'schema_version' && v !== null && !isDefault(defaults?.transformer, path, v)) parts.push(`${enc(`tx.${path}`)}=${enc(format(v))}`);
  }
  return parts.join('&');
}

/** Path segments that reach object internals; never read or written from a path. */
const UNSAFE = new Set(['__proto__', 'prototype', 'constructor']);
/** A segment a config path may have: an identifier that is not an object internal (nor
 * any name an object inherits: `toString`, `hasOwnProperty`, …). */
const safeSegment = (k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !UNSAFE.has(k) && !(k in Object.prototype);
const isRecord = (o) => o !== null && typeof o === 'object' && !Array.isArray(o);

/** The value at a dotted config path (`pretrain.lr`), or undefined. Only own properties of
 * plain objects are followed, never an array's or a prototype's (`length`, `__proto__`,
 * `constructor`, …). */
export function getPath(obj, path) {
  let o = obj;
  for (const k of String(path).split('.')) {
    if (!isRecord(o) || !safeSegment(k) || !Object.hasOwn(o, k)) return undefined;
    o = o[k];
  }
  return o;
}
/** Sets the value at a dotted config path, making the objects on the way. Returns false
 * (and writes nothing) when a segment is not a plain identifier, reaches object internals,
 * or passes through something that is not a plain object (an array, a number). */
export function setPath(obj, path, value) {
  const keys = String(path).split('.');
  if (!isRecord(obj) || !keys.every(safeSegment)) return false;
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (!Object.hasOwn(o, k) || o[k] === null || o[k] === undefined) o[k] = {};
    if (!isRecord(o[k])) return false;
    o = o[k];
  }
  o[keys.at(-1)] = value;
  return true;
}

/** Whether a number is within a schema field's range (min, or above it when min_open; max). */
function inRange(x, field) {
  if (field.min != null && (field.min_open ? !(x > field.min) : !(x >= field.min))) return false;
  return field.max == null || x <= field.max;
}

/** Parses `text` as a value of a schema field; undefined when it does not fit (malformed, or
 * out of the field's range: a link's value the form would refuse keeps the default). */
function parseField(text, field) {
  switch (field.kind) {
    case 'int':
    case 'number': {
      if (text.trim() === '') return undefined;
      const x = Number(text);
      return Number.isFinite(x) && (field.kind === 'number' || Number.isInteger(x)) && inRange(x, field) ? x : undefined;
    }
    case 'list': {
      if (text.trim() === '') return [];
      const xs = text.split(',').map((t) => (t.trim() === '' ? NaN : Number(t.trim())));
      return xs.every((x) => Number.isFinite(x) && inRange(x, field)) && xs.length <= 64 ? xs : undefined;
    }
    case 'bool':
      return text === 'true' ? true : text === 'false' ? false : undefined;
    case 'choice':
      return field.values.includes(text) ? text : undefined;
    case 'text':
      return text.length <= 100_000 ? text : undefined;
    default:
      return undefined;
  }
}

/** path → field of a lab's schema groups (spectrum fields excluded: see below). */
function fieldsByPath(groups) {
  const map = new Map();
  for (const f of groups.flatMap((g) => g.fields)) if (f.kind !== 'spectrum') map.set(f.path, f);
  return map;
}

function decodePart(s) {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/** A spectrum field's part (`pretrain.spectrum.kind`): [field path, part], or null. Its
 * kind chooses which parameter key applies. */
function spectrumPart(key, spectra) {
  const m = key.match(/^(.+)\.(kind|exponent|value|values)$/);
  return m && spectra.has(m[1]) ? [m[1], m[2]] : null;
}

/** A link's sweep ({field, values}: its two parts' text) when the field is a lever and
 * every value fits that field (parsed as the form parses it, each in the field's range);
 * else null. */
function parseSweep({ field, values }, fields, groups) {
  const f = fields.get(field ?? '');
  if (!f || !sweepable(groups).includes(f)) return null;
  const parsed = parseSweepValues(values ?? '', f);
  if (parsed.errors) return null;
  const fits = (v) => parseField(Array.isArray(v) ? v.join(',') : String(v), f) !== undefined;
  return parsed.values.every(fits) ? { field: f.path, values: parsed.values } : null;
}

/** The longest hash read (characters after '#'); a longer one is read up to here. */
export const MAX_HASH = 200_000;

/**
 * Decodes a hash into {lab, page, linear, transformer, ignored: [key]} over the given
 * defaults (copied, never mutated). Only the schema's fields are known, each parsed by its
 * kind; `ignored` names every unknown key and malformed value. `schema`: the field schema
 * (www/schema.js).
 */
export function decodeState(hash, { linear: linearDefaults, transformer: transformerDefaults, schema }) {
  const linear = structuredClone(linearDefaults);
  const transformer = structuredClone(transformerDefaults);
  const page = {};
  const ignored = [];
  const linearFields = fieldsByPath(schema.linear);
  const transformerFields = fieldsByPath(schema.transformer);
  const spectrumFields = new Set(schema.linear.flatMap((g) => g.fields).filter((f) => f.kind === 'spectrum').map((f) => f.path));
  const presets = schema.presets.map((p) => p.name);
  const spectra = Object.create(null); // field path → {kind, exponent, value, values}
  const sweepParts = Object.create(null); // {field, values}: the sweep's two parts
  let text = typeof hash === 'string' ? hash : '';
  if (text.startsWith('#')) text = text.slice(1);
  if (text.length > MAX_HASH) {
    // Too long: the parts that fit are read, the rest is named.
    text = text.slice(0, text.lastIndexOf('&', MAX_HASH) + 1);
    ignored.push('(the end of the link: too long)');
  }
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decodePart(eq < 0 ? part : part.slice(0, eq));
    const value = decodePart(eq < 0 ? '' : part.slice(eq + 1));
    if (key === null || value === null) { ignored.push(part.slice(0, 40)); continue; }
    if (Object.hasOwn(PAGE_KEYS, key)) {
      const allowed = key === 'preset' ? presets : PAGE_KEYS[key];
      if (allowed && !allowed.includes(value)) ignored.push(key);
      else if (!allowed && !/^[\w.,-]{0,200}$/.test(value)) ignored.push(key);
      else page[key] = value;
      continue;
    }
    const tx = key.startsWith('tx.');
    const path = tx ? key.slice(3) : key;
    if (tx && (path === 'sweep.field' || path === 'sweep.values')) {
      sweepParts[path.slice(6)] = value;
      continue;
    }
    const spectral = tx ? null : spectrumPart(key, spectrumFields);
    if (spectral) {
      const [prefix, name] = spectral;
      spectra[prefix] ??= Object.create(null);
      if (name === 'kind') {
        if (Object.hasOwn(SPECTRUM_KINDS, value)) spectra[prefix].kind = value; else ignored.push(key);
      } else {
        const parsed = parseField(value, { kind: name === 'values' ? 'list' : 'number' });
        if (parsed === undefined) ignored.push(key); else spectra[prefix][name] = parsed;
      }
      continue;
    }
    const field = (tx ? transformerFields : linearFields).get(path);
    const parsed = field ? parseField(value, field) : undefined;
    if (parsed === undefined || !setPath(tx ? transformer : linear, path, parsed)) ignored.push(key);
  }
  for (const path of Object.keys(spectra)) {
    const s = spectra[path];
    const current = getPath(linear, path);
    if (!current || !Object.hasOwn(SPECTRUM_KINDS, current.kind)) { ignored.push(path); continue; }
    const kind = s.kind ?? current.kind;
    const param = SPECTRUM_KINDS[kind];
    const value = s[param] ?? (current.kind === kind ? current[param] : undefined);
    // A parameter of another kind (`values=…` for a power law) is named, not dropped silently.
    for (const other of Object.values(SPECTRUM_KINDS)) if (other !== param && s[other] !== undefined) ignored.push(`${path}.${other}`);
    if (value === undefined) { ignored.push(`${path}.${param}`); continue; }
    setPath(linear, path, { kind, [param]: value });
  }
  if (sweepParts.field !== undefined || sweepParts.values !== undefined) {
    const sweep = parseSweep(sweepParts, transformerFields, schema.transformer);
    if (sweep) transformer.sweep = sweep; else ignored.push('tx.sweep');
  }
  const lab = page.lab ?? 'linear';
  return { lab, page, linear, transformer, ignored };
}

/**
 * The notice for a link's ignored parts, as plain text (the page sets it as textContent):
 * each name shortened to 60 characters with control characters replaced, at most 20 names.
 */
export function ignoredNotice(ignored) {
  if (!ignored.length) return '';
  const clean = (name) => {
    const s = String(name).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '\ufffd');
    return s.length > 60 ? `${s.slice(0, 59)}…` : s;
  };
  const names = ignored.slice(0, 20).map(clean);
  const more = ignored.length > 20 ? ` and ${ignored.length - 20} more` : '';
  return `Ignored from the link (unknown, malformed or out of range): ${names.join(', ')}${more}. The rest of the link is applied.`;
}
