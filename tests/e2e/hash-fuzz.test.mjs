// Fuzzing the URL hash in the page: hundreds of generated links — hostile keys (prototype
// paths, markup, unicode, malformed percent-encoding, empty and repeated parts) and hostile
// values (huge numbers, markup, long strings) with one known valid setting mixed in — are
// opened in one page by setting location.hash. For each: no page or console error, no
// internal-error banner, no element or markup injected from the link, no prototype touched,
// the plots drawn or a named error / notice shown, the notice exactly the decoder's (as
// text), and the valid setting applied in its control.
//
// Two seeds per run: a fixed one and a fresh one, both printed. Replay one with
// HASH_FUZZ_SEED=<seed> (HASH_FUZZ_COUNT=<n>: links per seed, default 150; a case's
// index is in its failure message).
import { test, before, after } from './bounded.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, launch, openPage } from './harness.mjs';
import { decodeState, ignoredNotice } from '../../www/state.js';

const FIXED_SEED = 1402;
const COUNT = Number(process.env.HASH_FUZZ_COUNT ?? 150);
const SEEDS = process.env.HASH_FUZZ_SEED ? [Number(process.env.HASH_FUZZ_SEED)] : [FIXED_SEED, (Math.random() * 2 ** 31) >>> 0];
const EMBED_EVERY = 75; // every 75th link also opens embedded, as a fresh page load

// The defaults and field schema as the page has them (the built wasm, loaded in Node).
const pkg = new URL('../../dist/www/pkg/', import.meta.url);
const wasm = await import(new URL('overtrain.js', pkg));
wasm.initSync({ module: fs.readFileSync(new URL('overtrain_bg.wasm', pkg)) });
const schema = wasm.field_schema();
const DEFAULTS = { linear: wasm.default_linear_config(), transformer: schema.presets.find((p) => p.name === 'quick').config, schema };

/** mulberry32: a small seeded generator. */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)], chance: (p) => next() < p };
}

const MARKUP = ['<img src=x onerror=__pwned=1>', '<script>__pwned=1</script>', '"><svg onload=__pwned=1>', '<iframe src=javascript:__pwned=1>',
  "'><b>bold</b>", '<a href=javascript:__pwned=1>x</a>', '</textarea><img src=x onerror=__pwned=1>', '{{constructor.constructor("__pwned=1")()}}'];
const INTERNAL_KEYS = ['__proto__', '__proto__.x', '__proto__.polluted', 'constructor', 'constructor.prototype.polluted', 'prototype', 'toString', 'valueOf',
  'hasOwnProperty', '__defineGetter__', 'tx.__proto__.x', 'tx.model.__proto__.x', 'tx.model.constructor.name', 'finetune.lrs.length', 'finetune.lrs.0',
  'tx.finetune.lrs.length', 'pretrain.spectrum.__proto__.kind', 'pretrain.__proto__', 'dim.constructor', 'length', '%5F%5Fproto%5F%5F.polluted', 'constructor%2Eprototype%2Epolluted'];
const UNICODE = ['dïm', 'ключ', '鍵', '😀', 'a\u202eb', '\u200b', 'ｄｉｍ', 'e\u0301', '\ud83d', 'Ω≈ç√'];
const BAD_PERCENT = ['%', '%E0%A4%A', '%ZZ', '%u0041', '%C0%AF', '%ED%A0%80', '%%', '%2', '%00', '%0A%0D'];
const NUMBERS = ['1e308', '-1e308', '1e400', '9'.repeat(400), 'Infinity', '-Infinity', 'NaN', '0x10', '1_000', '-0', '0', '1e-400', '4.9e-324', '2e11', '100000', '257', '-1'];
const LISTS = [',,,', '1,,2', '0.01,0.03,0.1,0.2,0.3,0.4,0.5,0.6,0.7', '1,2,three', '0.01;0.02', ' 0.01 , 0.02 ', '1e-9,1e9'];
const FIELD_KEYS = [...schema.linear.flatMap((g) => g.fields).filter((f) => f.kind !== 'spectrum').map((f) => f.path),
  ...schema.transformer.flatMap((g) => g.fields).map((f) => `tx.${f.path}`),
  'pretrain.spectrum.kind', 'pretrain.spectrum.exponent', 'pretrain.spectrum.values', 'finetune.spectrum.kind', 'finetune.spectrum.value', 'finetune.spectrum.values'];
// embed=1 is only ever opened as a fresh load (embedded, the page ignores hash changes).
const PAGE_KEYS = ['lab', 'backend', 'preset', 'exercise', 'plots', 'controls', 'embed'];
const PAGE_VALUES = { lab: ['linear', 'transformer', 'elsewhere'], backend: ['auto', 'cpu', 'gpu', 'tpu'], preset: ['quick', 'micro', 'nope'], embed: ['0', '2', 'true'] };

/** Light valid settings, one mixed into every link: [parts, control selector, its value]. */
const MARKERS = [
  (r) => { const d = 4 + r.int(13); return [[`dim=${d}`], '#f-dim', String(d)]; },
  (r) => { const s = r.int(1000); return [[`seed=${s}`], '#f-seed', String(s)]; },
  (r) => { const lr = r.pick(['0.04', '0.06', '0.08']); return [[`pretrain.lr=${lr}`], '#f-pretrain-lr', lr]; },
  (r) => { const a = r.pick(['0.02', '0.05']); return [[`finetune.lrs=${a},0.07`], '#f-finetune-lrs', `${a}, 0.07`]; },
  (r) => { const n = 5 + r.int(20); return [[`perturb.samples=${n}`], '#f-perturb-samples', String(n)]; },
  () => [['basis=identity'], '#f-basis', 'identity'],
  () => [['finetune.spectrum.kind=flat', 'finetune.spectrum.value=0.5'], '#f-finetune-spectrum-kind', 'flat'],
  (r) => { const d = r.pick([16, 24, 32]); return [[`tx.model.d_model=${d}`], '#x-model-d_model', String(d)]; },
  () => [['tx.pretrain.protocol=wsd'], '#x-pretrain-protocol', 'wsd'],
  () => [['tx.finetune.lrs=0.002,0.004'], '#x-finetune-lrs', '0.002, 0.004'],
];

/** Percent-encodes; a lone surrogate becomes its (invalid) UTF-8 bytes. */
/** Valid settings that make the linear run light, put in front of most links. */
const LIGHT = ['pretrain.steps=200', 'pretrain.checkpoint_every=20', 'finetune.steps=50', 'perturb.samples=4'];
const enc = (s) => { try { return encodeURIComponent(s); } catch { return '%ED%A0%BD'; } };
const safeDecode = (s) => { try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return null; } };

/** One generated link (without '#'): {hash, selector, want}. */
function generate(r) {
  const key = () => {
    switch (r.int(7)) {
      case 0: return r.pick(INTERNAL_KEYS);
      case 1: { const m = r.pick(MARKUP); return r.chance(0.5) ? m : enc(m); }
      case 2: return r.chance(0.5) ? r.pick(UNICODE) : enc(r.pick(UNICODE));
      case 3: return r.pick(BAD_PERCENT) + (r.chance(0.5) ? r.pick(FIELD_KEYS) : '');
      case 4: return r.pick(PAGE_KEYS);
      case 5: return r.chance(0.2) ? '' : r.pick(FIELD_KEYS);
      default: return r.pick(FIELD_KEYS);
    }
  };
  const value = (k) => {
    if (Object.hasOwn(PAGE_VALUES, k) && r.chance(0.6)) return r.pick(PAGE_VALUES[k]);
    switch (r.int(8)) {
      case 0: { const m = r.pick(MARKUP); return r.chance(0.5) ? m : enc(m); }
      case 1: return r.pick(NUMBERS);
      case 2: return r.pick(LISTS);
      case 3: return r.pick(BAD_PERCENT);
      case 4: return r.chance(0.5) ? r.pick(UNICODE) : enc(r.pick(UNICODE));
      case 5: return r.pick(['x'.repeat(2000 + r.int(3000)), '', '=', 'a=b=c', 'true', 'false', 'power', 'values', 'flat', 'wsd', 'rmsnorm']);
      case 6: return String(Math.round(r.next() * 10 ** r.int(6)) / 10 ** r.int(4));
      default: return Array.from({ length: r.int(12) }, () => r.pick([...'abc=.,;<>"\'0123456789_-+ ü%&#?/\\'])).join('');
    }
  };
  const parts = [];
  for (let n = 1 + r.int(8); n > 0; n--) {
    const k = key();
    switch (r.int(10)) {
      case 0: parts.push(k); break; // no '='
      case 1: parts.push(''); break; // an empty part
      case 2: parts.push(`${k}=${value(k)}`, `${k}=${value(k)}`); break; // repeated
      default: parts.push(`${k}=${value(k)}`);
    }
  }
  const [marker, selector, want] = r.pick(MARKERS)(r);
  // The marker goes anywhere, but no later part may set its keys (the last one wins).
  const keys = new Set(marker.map((p) => p.split('=')[0]));
  const at = r.int(parts.length + 1);
  const later = parts.slice(at).filter((p) => {
    const eq = p.indexOf('=');
    const k = safeDecode(eq < 0 ? p : p.slice(0, eq));
    // (a key ending in '.kind' may change the spectrum the marker sets)
    return !(keys.has(k) || (k && k.startsWith('finetune.spectrum.')));
  });
  const all = [...parts.slice(0, at), ...marker, ...later];
  // Mostly a lighter run than the default (a quarter of its time), to keep the suite short;
  // first, so later parts may override it.
  if (r.chance(0.85)) all.unshift(...LIGHT);
  let hash = all.join(r.chance(0.1) ? '&&' : '&');
  if (r.chance(0.1)) hash = `&${hash}`;
  return { hash, selector, want };
}

let server, browser;
before(async () => { server = await startServer(); browser = await launch({ webgpu: false }); });
after(async () => { await browser?.close(); await server?.close(); });

/** Records, before any page script, the hash each hashchange saw (the page rewrites it). */
const RECORD = () => {
  globalThis.__seenHash = location.hash;
  addEventListener('hashchange', () => { globalThis.__seenHash = location.hash; }, true);
};

/** Everything checked in the page after a link settled. */
function inspect(selector) {
  const $ = (id) => document.getElementById(id);
  const visible = (e) => !!e && !e.closest('[hidden]') && getComputedStyle(e).display !== 'none';
  // (XPath, evaluated natively: the plots are thousands of SVG nodes.)
  const nodes = (xpath) => {
    const r = document.evaluate(xpath, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
    return Array.from({ length: r.snapshotLength }, (_, i) => r.snapshotItem(i));
  };
  const hostile = /<\s*[a-z!/]|\bon[a-z]+\s*=|javascript:|__pwned/i;
  const markupText = nodes("//body//text()[(contains(., '<') or contains(., '=') or contains(., ':')) and not(ancestor::*[@id='url-notice'])]")
    .filter((n) => hostile.test(n.data)).map((n) => `${n.parentElement.tagName}#${n.parentElement.id}: ${n.data.slice(0, 80)}`);
  const onAttrs = nodes("//@*[starts-with(translate(name(), 'ON', 'on'), 'on')] | //@*[contains(translate(., 'JAVSCRIPT', 'javscript'), 'javascript:')]")
    .map((a) => `${a.ownerElement.tagName}[${a.name}=${a.value.slice(0, 40)}]`);
  const state = document.body.dataset.linear;
  const plots = document.querySelectorAll('#plots figure.plot .svg svg').length;
  const fieldErrors = [...document.querySelectorAll('#controls .field .error, #notices .notice.error, #tx-controls .field .error, #other-lab-error')].filter((e) => visible(e) && e.textContent.trim()).length;
  return {
    state,
    plots,
    fieldErrors,
    gate: visible($('run-gate')),
    // A heavy linear run's gate stays up in the linear lab when the link opens the other.
    gateInHiddenLab: !$('run-gate').hidden && $('linear-lab').hidden,
    status: $('status').textContent,
    fatal: $('fatal').hidden ? null : $('fatal').textContent,
    notice: $('url-notice').hidden ? null : $('url-notice').textContent,
    noticeChildren: $('url-notice').children.length,
    counts: ['script', 'img', 'iframe', 'object', 'embed', 'frame', 'link', 'meta', 'style', 'base', 'form'].map((t) => `${t}:${document.getElementsByTagName(t).length}`).join(' '),
    markupText,
    onAttrs,
    pwned: globalThis.__pwned,
    protos: [Object.prototype, Array.prototype, Function.prototype, String.prototype].map((p) => Object.getOwnPropertyNames(p).length).join(','),
    hash: location.hash,
    seen: globalThis.__seenHash ?? location.hash,
    value: document.querySelector(selector).value,
  };
}

/** The assertions of one settled link; `base`: inspect() of the page before any link. */
function check(label, got, base, link, problems) {
  const where = `${label}\n  link: #${link.hash.slice(0, 500)}${link.hash.length > 500 ? '…' : ''}\n  seen: ${got.seen.slice(0, 300)}`;
  assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] }, `no error or foreign request: ${where}`);
  assert.equal(got.fatal, null, `no internal error: ${where}`);
  assert.equal(got.pwned, undefined, `nothing ran: ${where}`);
  assert.equal(got.counts, base.counts, `no element injected: ${where}`);
  assert.deepEqual(got.onAttrs, [], `no event-handler attribute: ${where}`);
  assert.deepEqual(got.markupText, [], `no markup from the link outside the notice: ${where}`);
  assert.equal(got.noticeChildren, 0, `the notice is plain text: ${where}`);
  assert.equal(got.protos, base.protos, `no prototype touched: ${where}`);
  // The outcome: plots, a named error, or the heavy-run gate.
  const outcome = (got.state === 'done' && got.plots === 4) || (got.state === 'invalid' && got.fieldErrors > 0) || (got.state === 'gated' && (got.gate || got.gateInHiddenLab)) || (got.state === 'failed' && got.status.length > 0);
  assert.ok(outcome, `plots drawn or an error named (state ${got.state}, ${got.plots} plots, ${got.fieldErrors} errors, status "${got.status}"): ${where}`);
  // The notice is exactly what the decoder ignored (as the page saw the hash).
  const expected = decodeState(got.seen, DEFAULTS);
  assert.equal(got.notice, expected.ignored.length ? ignoredNotice(expected.ignored) : null, `the notice names what was ignored: ${where}`);
  assert.equal(got.value, link.want, `the link's valid setting ${link.selector} = ${link.want} is applied: ${where}`);
}

for (const seed of SEEDS) {
  test(`${COUNT} generated links (seed ${seed}; replay: HASH_FUZZ_SEED=${seed})`, { timeout: 300_000 }, async () => {
    console.log(`hash-fuzz: seed ${seed} (${process.env.HASH_FUZZ_SEED ? 'replayed' : seed === FIXED_SEED ? 'fixed' : 'fresh'}), ${COUNT} links; replay with HASH_FUZZ_SEED=${seed}`);
    const started = Date.now();
    const r = rng(seed);
    const links = Array.from({ length: COUNT }, () => generate(r));
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    await context.addInitScript(RECORD);
    await context.addInitScript(`globalThis.__inspect = ${inspect.toString()};`);
    const { page, problems } = await openPage(context, server.url);
    await page.waitForFunction(() => document.body.dataset.linear === 'done', null, { timeout: 60_000 });
    const base = await page.evaluate(inspect, '#f-dim');
    let runs = 0;
    try {
      for (const [i, link] of links.entries()) {
        const label = `seed ${seed}, link ${i}`;
        // One round trip: set the hash, wait in the page until it settled, inspect.
        const got = await page.evaluate(async ({ hash, selector }) => {
          const before = location.hash;
          const applied = Number(document.body.dataset.hashApplied);
          location.hash = hash;
          if (location.hash === before) return null; // the same hash as now: nothing to apply
          const started = performance.now();
          await new Promise((resolve, reject) => {
            const poll = () => {
              if (Number(document.body.dataset.hashApplied) > applied && !['running', 'waiting'].includes(document.body.dataset.linear)) resolve();
              else if (performance.now() - started > 60_000) reject(new Error(`not settled in 60 s (state ${document.body.dataset.linear})`));
              else setTimeout(poll, 5);
            };
            poll();
          });
          return globalThis.__inspect(selector);
        }, { hash: link.hash, selector: link.selector }).catch((e) => { throw new Error(`${label}: ${e.message}\n  link: #${link.hash.slice(0, 500)}`); });
        if (!got) continue;
        if (got.state === 'done') runs++;
        check(label, got, base, link, problems);

        if (i % EMBED_EVERY === EMBED_EVERY - 1) {
          // The same link embedded, as a fresh load.
          const { page: framed, problems: framedProblems } = await openPage(context, `${server.url}#${link.hash}&embed=1`);
          await framed.waitForFunction(() => Number(document.body.dataset.hashApplied) > 0 && !['running', 'waiting', undefined].includes(document.body.dataset.linear), null, { timeout: 60_000 });
          const gotFramed = await framed.evaluate(inspect, link.selector);
          assert.equal(await framed.evaluate(() => document.body.classList.contains('embed')), true, label);
          check(`${label} (embedded)`, gotFramed, base, link, framedProblems);
          await framed.close();
        }
      }
    } finally {
      await context.close();
    }
    console.log(`hash-fuzz: seed ${seed}: ${COUNT} links in ${((Date.now() - started) / 1000).toFixed(1)} s (${runs} ran and drew the plots)`);
  });
}
