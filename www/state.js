// The page's whole state in the URL hash, TensorFlow-Playground style: readable key=value
// pairs (`lab=linear&dim=16&pretrain.lr=0.05&finetune.lrs=0.01,0.03&tx.model.d_model=16`).
// Linear-lab fields are written by their config path, transformer-lab fields with the prefix
// `tx.`, lists comma-separated. Decoding never throws: unknown keys and malformed values are
// ignored and returned by name, so the page can say which; values are only ever parsed as
// numbers, booleans or plain strings (nothing is inserted as HTML or executed). Pure
// functions, no DOM.

/** Page-level keys besides the two labs' configs, with their allowed values. */
export const PAGE_KEYS = {
  lab: ['linear', 'transformer'],
  embed: ['0', '1'],
  backend: ['auto', 'gpu', 'cpu'],
  preset: ['micro', 'quick', 'paper'],
  exercise: null, // an exercise id (checked by the page)
  plots: null, // embed: comma-separated plot names
  controls: null, // embed: comma-separated linear-lab field paths
};

const SPECTRUM_KINDS = { power: 'exponent', flat: 'value', values: 'values' };

/** Flattens a config into [path, value] leaves (objects recurse; arrays are leaves). */
function leaves(obj, prefix = '') {
  const out = [];
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...leaves(v, path));
    else out.push([path, v]);
  }
  return out;
}

function format(v) {
  if (Array.isArray(v)) return v.map(String).join(',');
  if (v === null) return '';
  return String(v);
}

const enc = (s) => encodeURIComponent(s).replace(/%2C/g, ',').replace(/%20/g, '+');

/**
 * The hash (without '#') for a page state: {lab, linear, transformer, page: {key: value}}.
 */
export function encodeState({ lab, linear, transformer, page = {} }) {
  const parts = [`lab=${enc(lab)}`];
  for (const [k, v] of Object.entries(page)) if (v !== undefined && v !== null && k !== 'lab') parts.push(`${enc(k)}=${enc(String(v))}`);
  for (const [path, v] of leaves(linear)) parts.push(`${enc(path)}=${enc(format(v))}`);
  // null (an absent optional field, e.g. no user text) is left out: absent decodes to null.
  for (const [path, v] of leaves(transformer)) if (path !== 'schema_version' && v !== null) parts.push(`${enc(`tx.${path}`)}=${enc(format(v))}`);
  return parts.join('&');
}

function getPath(obj, path) { return path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj); }
function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys.at(-1)] = value;
}

/** Parses `text` like the default value `like`; undefined when it does not fit. */
function parseLike(text, like) {
  if (typeof like === 'number') {
    if (text.trim() === '') return undefined;
    const x = Number(text);
    return Number.isFinite(x) ? x : undefined;
  }
  if (typeof like === 'boolean') return text === 'true' ? true : text === 'false' ? false : undefined;
  if (Array.isArray(like)) {
    if (text.trim() === '') return [];
    const xs = text.split(',').map((t) => Number(t.trim()));
    return xs.every((x) => Number.isFinite(x)) && xs.length <= 64 ? xs : undefined;
  }
  if (like === null || typeof like === 'string') return text.length <= 100_000 ? text : undefined;
  return undefined;
}

function decodePart(s) {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/** A spectrum field of the linear lab: its kind chooses which parameter key applies. */
function isSpectrumKey(path) {
  return /^(pretrain|finetune)\.spectrum\.(kind|exponent|value|values)$/.test(path);
}

/**
 * Decodes a hash into {lab, page, linear, transformer, ignored: [key]} over the given
 * defaults (copied, never mutated). `ignored` names every unknown key and malformed value.
 */
export function decodeState(hash, { linear: linearDefaults, transformer: transformerDefaults }) {
  const linear = structuredClone(linearDefaults);
  const transformer = structuredClone(transformerDefaults);
  const page = {};
  const ignored = [];
  const spectra = {}; // prefix → {kind, exponent, value, values}
  let text = typeof hash === 'string' ? hash : '';
  if (text.startsWith('#')) text = text.slice(1);
  if (text.length > 200_000) return { lab: 'linear', page, linear, transformer, ignored: ['(the hash is too long)'] };
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decodePart(eq < 0 ? part : part.slice(0, eq));
    const value = decodePart(eq < 0 ? '' : part.slice(eq + 1));
    if (key === null || value === null) { ignored.push(part.slice(0, 40)); continue; }
    if (Object.hasOwn(PAGE_KEYS, key)) {
      const allowed = PAGE_KEYS[key];
      if (allowed && !allowed.includes(value)) ignored.push(key);
      else if (!allowed && !/^[\w.,-]{0,200}$/.test(value)) ignored.push(key);
      else page[key] = value;
      continue;
    }
    if (key.startsWith('tx.')) {
      const path = key.slice(3);
      const like = path.includes('__proto__') || path === 'schema_version' ? undefined : getPath(transformerDefaults, path);
      const parsed = like === undefined || (like !== null && typeof like === 'object' && !Array.isArray(like)) ? undefined : parseLike(value, like);
      if (parsed === undefined) ignored.push(key);
      else setPath(transformer, path, parsed);
      continue;
    }
    if (isSpectrumKey(key)) {
      const [prefix, , field] = key.split('.');
      spectra[prefix] ??= {};
      if (field === 'kind') {
        if (Object.hasOwn(SPECTRUM_KINDS, value)) spectra[prefix].kind = value; else ignored.push(key);
      } else {
        const parsed = parseLike(value, field === 'values' ? [] : 0);
        if (parsed === undefined) ignored.push(key); else spectra[prefix][field] = parsed;
      }
      continue;
    }
    const like = key.includes('__proto__') ? undefined : getPath(linearDefaults, key);
    const parsed = like === undefined || (like !== null && typeof like === 'object' && !Array.isArray(like)) ? undefined : parseLike(value, like);
    if (parsed === undefined) ignored.push(key);
    else setPath(linear, key, parsed);
  }
  for (const [prefix, s] of Object.entries(spectra)) {
    const kind = s.kind ?? linear[prefix].spectrum.kind;
    const param = SPECTRUM_KINDS[kind];
    const value = s[param] ?? (linear[prefix].spectrum.kind === kind ? linear[prefix].spectrum[param] : undefined);
    if (value === undefined) { ignored.push(`${prefix}.spectrum.${param}`); continue; }
    linear[prefix].spectrum = { kind, [param]: value };
  }
  const lab = page.lab ?? 'linear';
  return { lab, page, linear, transformer, ignored };
}
