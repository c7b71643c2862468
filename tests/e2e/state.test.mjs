// The URL-hash state (www/state.js) without a browser: every field of both labs round-trips,
// and thousands of random and malformed hashes never throw, never pollute prototypes and
// only ever yield plain values. The defaults and the field schema come from the built wasm
// module (dist/, loaded in Node), as the page gets them.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { encodeState, decodeState, getPath as statePath, setPath as setStatePath, ignoredNotice, MAX_HASH } from '../../www/state.js';

const pkg = new URL('../../dist/www/pkg/', import.meta.url);
const wasm = await import(new URL('overtrain.js', pkg));
wasm.initSync({ module: fs.readFileSync(new URL('overtrain_bg.wasm', pkg)) });
const { loadSchema } = await import(new URL('../schema.js', pkg));
const schema = loadSchema();
const defaults = {
  linear: wasm.default_linear_config(),
  transformer: schema.presets.find((p) => p.name === 'quick').config,
  schema,
};

function leaves(obj, prefix = '') {
  return Object.entries(obj).flatMap(([k, v]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? leaves(v, p) : [[p, v]];
  });
}
function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k];
  o[keys.at(-1)] = value;
}
/** A different value of a schema field's kind (another of a choice's values). */
function vary(field, v) {
  switch (field.kind) {
    case 'int': return v + 3;
    case 'number': return v * 1.5 + 0.25;
    case 'bool': return !v;
    case 'list': return [...v, 0.125];
    case 'choice': return field.values.find((x) => x !== v);
    case 'text': return `${v ?? ''}x y&z=1,2 ü`;
    case 'sweep': return { field: 'model.d_model', values: [8, 24, 64] };
    default: throw new Error(`no variation for ${field.path} (${field.kind})`);
  }
}
const getPath = (obj, path) => path.split('.').reduce((o, k) => o?.[k], obj);

test('every field of both labs round-trips through the hash', () => {
  const base = { lab: 'transformer', linear: defaults.linear, transformer: defaults.transformer, page: { backend: 'cpu', preset: 'quick' } };
  const plain = decodeState(encodeState(base), defaults);
  assert.deepEqual(plain.ignored, []);
  assert.deepEqual(plain.linear, defaults.linear);
  assert.deepEqual(plain.transformer, defaults.transformer);
  assert.equal(plain.lab, 'transformer');
  assert.deepEqual(plain.page, { backend: 'cpu', preset: 'quick', lab: 'transformer' });
  for (const lab of ['linear', 'transformer']) {
    const fields = schema[lab].flatMap((g) => g.fields);
    // The schema knows every field of the config (spectra as a whole).
    const known = fields.map((f) => f.path);
    for (const [path] of leaves(defaults[lab])) {
      if (path === 'schema_version') continue;
      assert.ok(known.includes(path) || known.some((k) => path.startsWith(`${k}.`)), `${lab}: ${path} is in the schema`);
    }
    for (const field of fields) {
      if (field.kind === 'spectrum') continue; // varied through every kind below
      const config = structuredClone(defaults[lab]);
      const changed = vary(field, getPath(config, field.path));
      assert.notDeepEqual(changed, getPath(config, field.path), field.path);
      setPath(config, field.path, changed);
      const state = { ...base, [lab]: config };
      const back = decodeState(encodeState(state), defaults);
      assert.deepEqual(back.ignored, [], field.path);
      assert.deepEqual(back[lab], config, `${lab}: ${field.path}`);
      // Defaults left out: the link holds only the changed field, and reads back the same.
      const short = encodeState(state, defaults);
      const shortBack = decodeState(short, defaults);
      assert.deepEqual(shortBack.ignored, [], `${field.path} (defaults left out)`);
      assert.deepEqual(shortBack[lab], config, `${lab}: ${field.path} (defaults left out)`);
      assert.ok(short.length < encodeState(state).length, field.path);
    }
  }
  // A choice outside the schema's values is ignored, and named.
  const choice = schema.transformer.flatMap((g) => g.fields).find((f) => f.kind === 'choice');
  const outside = decodeState(`tx.${choice.path}=nonsense`, defaults);
  assert.deepEqual(outside.ignored, [`tx.${choice.path}`]);
  assert.deepEqual(outside.transformer, defaults.transformer);
  // Each spectrum kind of the linear lab.
  for (const spectrum of [{ kind: 'flat', value: 0.5 }, { kind: 'values', values: [3, 2, 1] }, { kind: 'power', exponent: 2 }]) {
    const config = structuredClone(defaults.linear);
    config.finetune.spectrum = spectrum;
    const back = decodeState(encodeState({ ...base, linear: config }), defaults);
    assert.deepEqual(back.linear.finetune.spectrum, spectrum);
    const short = decodeState(encodeState({ ...base, linear: config }, defaults), defaults);
    assert.deepEqual(short.linear.finetune.spectrum, spectrum, 'defaults left out');
  }
  // A sweep of each kind of lever: numbers, names, lists (apart by semicolons).
  for (const sweep of [{ field: 'pretrain.protocol', values: ['independent', 'wsd', 'constant'] }, { field: 'finetune.lrs', values: [[0.01, 0.03], [0.1]] },
    { field: 'perturb.perturb_constant', values: [false, true] }, { field: 'pretrain.weight_decay', values: [0, 0.1, 1] }]) {
    const config = { ...structuredClone(defaults.transformer), sweep };
    const link = encodeState({ ...base, transformer: config }, defaults);
    assert.match(link, /tx\.sweep\.field=[a-z_.]+&tx\.sweep\.values=[^&]+/, sweep.field);
    const back = decodeState(link, defaults);
    assert.deepEqual(back.ignored, [], sweep.field);
    assert.deepEqual(back.transformer.sweep, sweep, sweep.field);
  }
  assert.match(encodeState({ ...base, transformer: { ...defaults.transformer, sweep: { field: 'model.d_model', values: [8, 24, 64] } } }, defaults), /tx\.sweep\.values=8,24,64(&|$)/, 'readable');
  // A sweep the form would refuse is ignored as a whole, and named.
  for (const bad of ['tx.sweep.field=model.d_model&tx.sweep.values=8', 'tx.sweep.field=model.d_model&tx.sweep.values=8,24,64,128,256,512',
    'tx.sweep.field=model.d_model&tx.sweep.values=8,0', 'tx.sweep.field=nothing.here&tx.sweep.values=1,2', 'tx.sweep.field=finetune.user_text&tx.sweep.values=a,b',
    'tx.sweep.field=pretrain.protocol&tx.sweep.values=wsd,sideways', 'tx.sweep.values=1,2', 'tx.sweep=model.d_model']) {
    const out = decodeState(bad, defaults);
    assert.deepEqual(out.ignored, ['tx.sweep'], bad);
    assert.equal(out.transformer.sweep, undefined, bad);
  }
  // The defaults alone: a link of the lab and the page's keys, nothing else.
  assert.equal(encodeState(base, defaults), 'lab=transformer&backend=cpu&preset=quick');
  // Readable: plain key=value pairs.
  assert.match(encodeState(base), /(^|&)dim=\d+(&|$)/);
  assert.match(encodeState(base), /&finetune\.lrs=[\d.e-]+(,[\d.e-]+)*(&|$)/);
});

test('random and malformed hashes never throw and name what they ignore', () => {
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const keys = [...leaves(defaults.linear).map(([p]) => p), ...leaves(defaults.transformer).map(([p]) => `tx.${p}`),
    'lab', 'embed', 'plots', 'backend', '__proto__', '__proto__.polluted', 'tx.__proto__.polluted', 'constructor.prototype.polluted',
    'pretrain.spectrum.kind', 'pretrain.spectrum.values', '', '%', '%E0%A4%A', 'tx.model', 'pretrain', 'tx.sweep.field', 'tx.sweep.values', 'tx.sweep'];
  const values = ['', '1', '-1', 'NaN', 'Infinity', '1e400', '0.5,0.25', ',,,', 'true', '<img src=x onerror=alert(1)>',
    '%3Cscript%3Ealert(1)%3C%2Fscript%3E', '%', '%E0%A4%A', 'power', 'values', 'wsd', 'x'.repeat(300), '1,2,three', '{"a":1}',
    'model.d_model', 'pretrain.protocol', 'finetune.lrs', '8,24', 'wsd,constant', '0.1,0.2;0.3', '__proto__'];
  const alphabet = 'abc=&%#.,;<>"\'0123456789_-+ ü\u0000\uffff';
  for (let i = 0; i < 5000; i++) {
    let hash;
    if (i % 3 === 0) hash = Array.from({ length: Math.floor(rand() * 60) }, () => pick(alphabet)).join('');
    else hash = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => `${pick(keys)}=${pick(values)}`).join('&');
    let out;
    assert.doesNotThrow(() => { out = decodeState(hash, defaults); }, hash);
    assert.ok(Array.isArray(out.ignored));
    assert.ok(['linear', 'transformer'].includes(out.lab), hash);
    for (const lab of ['linear', 'transformer']) {
      for (const [path, v] of leaves(out[lab])) {
        const plain = (x) => (typeof x === 'number' && Number.isFinite(x)) || (path === 'sweep.values' && (typeof x === 'string' || typeof x === 'boolean' || (Array.isArray(x) && x.every(plain))));
        const ok = v === null || ['number', 'string', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every(plain));
        assert.ok(ok, `${hash}: ${lab}.${path} = ${JSON.stringify(v)}`);
        if (typeof v === 'number') assert.ok(Number.isFinite(v), `${hash}: ${path}`);
      }
    }
    assert.equal({}.polluted, undefined, `prototype polluted by ${hash}`);
    assert.equal(Object.prototype.polluted, undefined);
  }
  const bad = decodeState('dim=abc&nonsense=1&lab=elsewhere&tx.model.d_model=<b>&finetune.lrs=1,x', defaults);
  assert.deepEqual(bad.ignored.sort(), ['dim', 'finetune.lrs', 'lab', 'nonsense', 'tx.model.d_model']);
  assert.deepEqual(bad.linear, defaults.linear, 'ignored values keep the defaults');
});

/** Own enumerable and non-enumerable keys of the built-in prototypes a path could reach. */
const protoKeys = () => [Object.prototype, Array.prototype, Function.prototype, String.prototype, Number.prototype]
  .map((p) => Object.getOwnPropertyNames(p).sort().join(','));

test('keys that reach object internals are named and ignored; the rest of the link is applied', () => {
  const before = protoKeys();
  const hostile = ['tx.model.__proto__.x', 'constructor.prototype.y', 'finetune.lrs.length', '__proto__', '__proto__.x',
    'tx.__proto__', 'prototype', 'constructor', 'length', 'dim.constructor', 'pretrain.spectrum.__proto__.kind',
    'pretrain.spectrum.constructor', 'pretrain.__proto__.kind', 'tx.model.constructor.name', 'finetune.lrs.0',
    'tx.finetune.lrs.length', 'toString', 'hasOwnProperty', 'tx.hasOwnProperty', 'valueOf.x'];
  const hash = [...hostile.map((k) => `${k}=3`), 'dim=8', 'finetune.lrs=0.02,0.04', 'tx.model.d_model=24', 'backend=cpu'].join('&');
  let out;
  assert.doesNotThrow(() => { out = decodeState(hash, defaults); });
  assert.deepEqual(out.ignored, hostile, 'each hostile key is named, in order');
  assert.equal(out.linear.dim, 8);
  assert.deepEqual(out.linear.finetune.lrs, [0.02, 0.04]);
  assert.equal(out.transformer.model.d_model, 24);
  assert.equal(out.page.backend, 'cpu');
  assert.deepEqual(protoKeys(), before, 'no built-in prototype gained a property');
  assert.equal([].x, undefined);
  assert.equal({}.y, undefined);
  // Re-encoding keeps the valid settings and drops the hostile keys.
  const again = encodeState({ lab: out.lab, linear: out.linear, transformer: out.transformer, page: out.page });
  assert.match(again, /(^|&)dim=8(&|$)/);
  assert.doesNotMatch(again, /__proto__|constructor|prototype|length=/);
});

test('the path helpers only follow own plain-object keys', () => {
  const before = protoKeys();
  const config = structuredClone(defaults.linear);
  for (const path of ['__proto__', '__proto__.polluted', 'constructor', 'constructor.prototype.polluted', 'finetune.lrs.length',
    'finetune.lrs.0', 'toString', 'pretrain.hasOwnProperty', 'dim.toFixed', 'prototype', '', 'pretrain..lr']) {
    assert.equal(statePath(config, path), undefined, `read ${path}`);
    assert.equal(setStatePath(config, path, 7), false, `write ${path}`);
  }
  assert.deepEqual(config, defaults.linear, 'nothing was written');
  assert.deepEqual(protoKeys(), before, 'no built-in prototype gained a property');
  assert.equal({}.polluted, undefined);
  assert.equal(statePath(config, 'pretrain.lr'), defaults.linear.pretrain.lr);
  assert.equal(setStatePath(config, 'pretrain.lr', 0.5), true);
  assert.equal(config.pretrain.lr, 0.5);
  const fresh = {};
  assert.equal(setStatePath(fresh, 'a.b.c', 1), true);
  assert.deepEqual(fresh, { a: { b: { c: 1 } } });
});

test('a spectrum parameter of another kind is named; a too-long link keeps the parts that fit; the notice is bounded text', () => {
  const other = decodeState('pretrain.spectrum.values=1,2&dim=9', defaults);
  assert.deepEqual(other.ignored, ['pretrain.spectrum.values']);
  assert.deepEqual(other.linear.pretrain.spectrum, defaults.linear.pretrain.spectrum);
  assert.equal(other.linear.dim, 9);
  const long = decodeState(`dim=7&tx.model.d_model=24&junk=${'x'.repeat(MAX_HASH)}`, defaults);
  assert.equal(long.linear.dim, 7, 'the valid parts of a too-long link are kept');
  assert.equal(long.transformer.model.d_model, 24);
  assert.equal(long.ignored.length, 1);
  const notice = ignoredNotice([...Array.from({ length: 25 }, (_, i) => `k${i}`), `a\u0000b${'y'.repeat(500)}`]);
  assert.ok(notice.length < 600, notice);
  assert.match(notice, /k0, k1/);
  assert.match(notice, /and 6 more/);
  assert.doesNotMatch(notice, /\u0000/);
  assert.equal(ignoredNotice([]), '');
});

test('values outside a field\'s range are named and keep the default; the valid ones apply', () => {
  const out = decodeState('dim=300&pretrain.lr=0&finetune.lrs=0.01,11&tx.model.d_model=1&perturb.samples=1e308&hidden=12&tx.finetune.lrs=0.5', defaults);
  assert.deepEqual(out.ignored, ['dim', 'pretrain.lr', 'finetune.lrs', 'tx.model.d_model', 'perturb.samples']);
  assert.equal(out.linear.dim, defaults.linear.dim);
  assert.equal(out.linear.pretrain.lr, defaults.linear.pretrain.lr);
  assert.deepEqual(out.linear.finetune.lrs, defaults.linear.finetune.lrs);
  assert.equal(out.transformer.model.d_model, defaults.transformer.model.d_model);
  assert.equal(out.linear.hidden, 12);
  assert.deepEqual(out.transformer.finetune.lrs, [0.5]);
});
