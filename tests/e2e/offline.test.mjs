// Offline after one visit (www/sw.js, www/offline.js): a page loaded once reloads with the
// network off and runs the Micro experiment to completion; after a new build, the next
// visit gets it whole (the new build's page and files, the old cache deleted); the server
// sends the precompressed wasm with its Content-Encoding.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launch } from './harness.mjs';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');

/** Waits until the service worker has precached the build and controls the page. */
async function ready(page) {
  await page.evaluate(() => navigator.serviceWorker.ready);
  if (!(await page.evaluate(() => Boolean(navigator.serviceWorker.controller)))) {
    await page.reload();
    await page.waitForFunction(() => Boolean(navigator.serviceWorker.controller));
  }
}

test('a page loaded once reloads offline and runs Micro to completion there', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server.url);
    await ready(page);
    await context.setOffline(true);
    await page.reload();
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 90_000 });
    await page.click('#tab-transformer');
    // The recorded runs come from the cache too.
    await page.waitForSelector('#tx-plots figure.plot:not([hidden])', { timeout: 60_000 });
    await page.selectOption('#tx-preset', 'micro');
    await page.selectOption('#tx-backend', 'cpu');
    await page.waitForFunction(() => /parameters/.test(document.getElementById('tx-estimate').textContent));
    await page.click('#tx-start');
    await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 200_000 });
    assert.match(await page.textContent('#tx-status'), /Done in .* 4 budgets/);
    assert.equal(await page.$$eval('#tx-plots figure.plot:not([hidden]) .svg svg', (s) => s.length), 5);
    // The exercises (the wasm's) are there offline too.
    await page.click('#exercises-open');
    assert.ok(await page.$$eval('#exercise-list article', (a) => a.length) > 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('after a new build the next visit gets the new build whole, and the old cache is deleted', async () => {
  // A copy of the site that the test can rebuild.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overtrain-site-'));
  await fs.cp(DIST, dir, { recursive: true });
  const server = await startServer({ dir });
  const browser = await launch({ webgpu: false });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await page.goto(server.url);
    await ready(page);
    const caches1 = await page.evaluate(() => caches.keys());
    assert.equal(caches1.length, 1);
    // "A new build": a changed page and a new service worker (its version differs).
    const swPath = path.join(dir, 'sw.js');
    const sw = await fs.readFile(swPath, 'utf8');
    const version = sw.match(/const VERSION = "([0-9a-f]+)"/)[1];
    await fs.writeFile(swPath, sw.replace(version, `${version}0`));
    const index = path.join(dir, 'index.html');
    await fs.writeFile(index, (await fs.readFile(index, 'utf8')).replace('<h1>overtrain</h1>', '<h1>overtrain (new build)</h1>'));
    for (const f of [`${swPath}.br`, `${swPath}.gz`, `${index}.br`, `${index}.gz`]) await fs.rm(f, { force: true });
    // The visit after the build: the browser finds the new worker; the page, untouched,
    // applies it and reloads into the new build.
    await page.reload();
    await page.waitForFunction(() => document.querySelector('h1').textContent === 'overtrain (new build)', null, { timeout: 60_000 });
    assert.deepEqual(await page.evaluate(() => caches.keys()), [`overtrain-${version}0`]);
    assert.equal(await page.isHidden('#update-notice'), true);
  } finally {
    await browser.close();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the server sends the precompressed wasm (Brotli, gzip) with its type and Content-Encoding', async () => {
  const server = await startServer();
  try {
    const url = new URL('www/pkg/overtrain_bg.wasm', server.url);
    const br = await fetch(url, { headers: { 'Accept-Encoding': 'br' } });
    assert.equal(br.headers.get('content-encoding'), 'br');
    assert.equal(br.headers.get('content-type'), 'application/wasm');
    const raw = await fs.readFile(path.join(DIST, 'www/pkg/overtrain_bg.wasm'));
    assert.deepEqual(Buffer.from(await br.arrayBuffer()), raw, 'decoded, the very bytes of the wasm');
    // The .gz is Zopfli's (scripts/site_files.py): a browser that reads gzip reads it.
    const gz = await fetch(url, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(gz.headers.get('content-encoding'), 'gzip');
    assert.equal(gz.headers.get('content-type'), 'application/wasm');
    assert.deepEqual(Buffer.from(await gz.arrayBuffer()), raw, 'decoded, the very bytes of the wasm');
    const plain = await fetch(url, { headers: { 'Accept-Encoding': 'identity' } });
    assert.equal(plain.headers.get('content-encoding'), null);
    assert.equal(Number(plain.headers.get('content-length')), raw.length);
  } finally {
    await server.close();
  }
});
