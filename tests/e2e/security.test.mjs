// The page's security: the server sends the page's Content-Security-Policy as a header
// with nosniff and a referrer policy (what the README asks of a static host), and a link
// whose keys reach object internals is named and ignored while the rest of it is applied.
import { test, before, after } from './bounded.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, launch, openPage } from './harness.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launch({ webgpu: false }); });
after(async () => { await browser?.close(); await server?.close(); });

/** The policy of the <meta> tag of the built page, whitespace collapsed. */
const metaPolicy = () => {
  const html = fs.readFileSync(new URL('../../dist/index.html', import.meta.url), 'utf8');
  const m = html.match(/<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/i);
  assert.ok(m, 'index.html has a CSP <meta> tag');
  return m[1].split(/\s+/).join(' ');
};

function assertHeaders(headers, what) {
  assert.equal(headers['content-security-policy'], metaPolicy(), `${what}: the CSP header is the <meta> tag's policy`);
  assert.equal(headers['x-content-type-options'], 'nosniff', what);
  assert.equal(headers['referrer-policy'], 'no-referrer', what);
}

test('every response of the server carries the CSP, nosniff and referrer headers', async () => {
  for (const file of ['', 'index.html', 'www/app.js', 'www/worker.js', 'www/style.css', 'www/pkg/overtrain.js', 'www/pkg/overtrain_bg.wasm', 'www/recorded/index.json', 'no-such-file']) {
    const res = await fetch(new URL(file, server.url));
    await res.arrayBuffer();
    assert.equal(res.status, file === 'no-such-file' ? 404 : 200, file);
    assertHeaders(Object.fromEntries(res.headers), file || '/');
  }
  // The page as the browser loads it: every response (page, modules, workers, wasm).
  const page = await browser.newPage();
  const responses = [];
  page.on('response', (r) => responses.push(r));
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.goto(server.url);
  await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
  const urls = responses.map((r) => r.url());
  assert.ok(urls.some((u) => u.endsWith('/www/worker.js')) && urls.some((u) => u.endsWith('.wasm')), urls.join(' '));
  for (const r of responses) assertHeaders(await r.allHeaders(), r.url());
  assert.deepEqual(problems, [], 'the page runs under the header policy (no CSP violation)');
  await page.close();
});

test('a link with keys that reach object internals: named, ignored, and the rest applied', async () => {
  const hostile = ['tx.model.__proto__.x', 'constructor.prototype.y', 'finetune.lrs.length', '__proto__.z', 'toString'];
  const hash = `#${hostile.map((k) => `${k}=3`).join('&')}&dim=8&finetune.lrs=0.02,0.04&tx.model.d_model=24`;
  const { page, problems } = await openPage(browser, `${server.url}${hash}`);
  await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
  assert.equal(await page.isHidden('#fatal'), true, 'no internal error');
  const notice = await page.textContent('#url-notice');
  for (const k of hostile) assert.ok(notice.includes(k), `the notice names ${k}: ${notice}`);
  assert.equal(await page.inputValue('#f-dim'), '8');
  assert.equal(await page.inputValue('#f-finetune-lrs'), '0.02, 0.04');
  assert.equal(await page.inputValue('#x-model-d_model'), '24');
  const rewritten = await page.evaluate(() => location.hash);
  assert.match(rewritten, /(#|&)dim=8(&|$)/, 'the rewritten hash keeps the valid settings');
  assert.match(rewritten, /tx\.model\.d_model=24/);
  assert.doesNotMatch(rewritten, /__proto__|constructor|prototype|length=|toString/);
  const polluted = await page.evaluate(() => [Object.prototype, Array.prototype].flatMap((p) => ['x', 'y', 'z'].filter((k) => k in p)));
  assert.deepEqual(polluted, []);
  // The same keys arriving by a hash change (a link followed inside the page).
  await page.evaluate((h) => { location.hash = h; }, `${hash.replace('dim=8', 'dim=9')}`);
  await page.waitForFunction(() => document.getElementById('f-dim')?.value === '9');
  assert.equal(await page.isHidden('#fatal'), true);
  assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  await page.close();
});
