// The URL-hash state (www/state.js) without a browser: every field of both labs round-trips,
// and thousands of random and malformed hashes never throw, never pollute prototypes and
// only ever yield plain values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { encodeState, decodeState } from '../../www/state.js';

const BIN = process.env.OVERTRAIN_BIN ?? 'target/debug/overtrain';
const defaults = {
  linear: JSON.parse(execFileSync(BIN, ['linear', '--print-default-config'], { cwd: new URL('../..', import.meta.url) })),
  transformer: JSON.parse(execFileSync(BIN, ['experiment', '--print-default-config'], { cwd: new URL('../..', import.meta.url) })),
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
/** A different value of the same type. */
function vary(path, v) {
  if (typeof v === 'number') return Number.isInteger(v) ? v + 3 : v * 1.5 + 0.25;
  if (typeof v === 'boolean') return !v;
  if (Array.isArray(v)) return [...v, 0.125];
  if (path.endsWith('protocol')) return v === 'wsd' ? 'independent' : 'wsd';
  if (path.endsWith('spectrum.kind')) return null; // varied through the whole spectrum below
  return `${v ?? ''}x y&z=1,2 ü`;
}

test('every field of both labs round-trips through the hash', () => {
  const base = { lab: 'transformer', linear: defaults.linear, transformer: defaults.transformer, page: { backend: 'cpu', preset: 'quick' } };
  const plain = decodeState(encodeState(base), defaults);
  assert.deepEqual(plain.ignored, []);
  assert.deepEqual(plain.linear, defaults.linear);
  assert.deepEqual(plain.transformer, defaults.transformer);
  assert.equal(plain.lab, 'transformer');
  assert.deepEqual(plain.page, { backend: 'cpu', preset: 'quick', lab: 'transformer' });
  for (const lab of ['linear', 'transformer']) {
    for (const [path, v] of leaves(defaults[lab])) {
      if (path === 'schema_version') continue;
      const changed = vary(path, v);
      if (changed === null) continue;
      const config = structuredClone(defaults[lab]);
      setPath(config, path, changed);
      const state = { ...base, [lab]: config };
      const back = decodeState(encodeState(state), defaults);
      assert.deepEqual(back.ignored, [], path);
      assert.deepEqual(back[lab], config, `${lab}: ${path}`);
    }
  }
  // Each spectrum kind of the linear lab.
  for (const spectrum of [{ kind: 'flat', value: 0.5 }, { kind: 'values', values: [3, 2, 1] }, { kind: 'power', exponent: 2 }]) {
    const config = structuredClone(defaults.linear);
    config.finetune.spectrum = spectrum;
    const back = decodeState(encodeState({ ...base, linear: config }), defaults);
    assert.deepEqual(back.linear.finetune.spectrum, spectrum);
  }
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
    'pretrain.spectrum.kind', 'pretrain.spectrum.values', '', '%', '%E0%A4%A', 'tx.model', 'pretrain'];
  const values = ['', '1', '-1', 'NaN', 'Infinity', '1e400', '0.5,0.25', ',,,', 'true', '<img src=x onerror=alert(1)>',
    '%3Cscript%3Ealert(1)%3C%2Fscript%3E', '%', '%E0%A4%A', 'power', 'values', 'wsd', 'x'.repeat(300), '1,2,three', '{"a":1}'];
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
        const ok = v === null || ['number', 'string', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x)));
        assert.ok(ok, `${hash}: ${lab}.${path} = ${JSON.stringify(v)}`);
        if (typeof v === 'number') assert.ok(Number.isFinite(v), `${hash}: ${path}`);
      }
    }
    assert.equal({}.polluted, undefined, `prototype polluted by ${hash}`);
  }
  const bad = decodeState('dim=abc&nonsense=1&lab=elsewhere&tx.model.d_model=<b>&finetune.lrs=1,x', defaults);
  assert.deepEqual(bad.ignored.sort(), ['dim', 'finetune.lrs', 'lab', 'nonsense', 'tx.model.d_model']);
  assert.deepEqual(bad.linear, defaults.linear, 'ignored values keep the defaults');
});
