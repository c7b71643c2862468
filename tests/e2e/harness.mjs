// Shared set-up of the end-to-end tests: serve dist/ on a free loopback port and drive
// Debian's Chromium (never a downloaded browser) with playwright-core.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Starts scripts/serve.py on dist/ (or `dir`); resolves to {url, close()}. */
export async function startServer({ dir = path.join(ROOT, 'dist') } = {}) {
  const proc = spawn('python3', [path.join(ROOT, 'scripts/serve.py'), '--dir', dir, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffer = '';
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      buffer += d;
      const m = buffer.match(/Serving overtrain at (\S+)/);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url, close: async () => { proc.kill(); await once(proc, 'exit').catch(() => {}); } };
}

/** Launches headless Chromium with WebGPU enabled (SwiftShader) and a quiet network. */
export async function launch({ webgpu = true } = {}) {
  const args = ['--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  return chromium.launch({ executablePath: CHROMIUM, args, headless: true });
}

/**
 * Opens a page that records console errors, page errors and every request outside the
 * served origin, so tests can assert there were none.
 */
export async function openPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = { consoleErrors: [], pageErrors: [], foreignRequests: [] };
  const origin = new URL(url).origin;
  page.on('console', (m) => { if (m.type() === 'error') problems.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => problems.pageErrors.push(String(e)));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) problems.foreignRequests.push(u);
  });
  await page.goto(url);
  // The page wires its controls once the wasm is up (www/app.js, `main`, which then counts
  // the hash it applied): a click before that would be lost. An internal error ends the
  // wait too, for the tests that look for one.
  await page.waitForFunction(
    () => Number(document.body.dataset.hashApplied) > 0 || !document.getElementById('fatal').hidden,
    null,
    { timeout: 60_000 },
  );
  return { page, problems };
}

/**
 * An init script (context.addInitScript) that watches the page's Web Workers before any
 * page script runs: globalThis.__pool.workers[i] = {units: unit requests sent to it,
 * progress: unit-progress answers, done: unit-done answers, cancelled: cancelled errors,
 * experiments: whole-experiment requests sent to it, helps: help requests sent to it (a
 * running unit's micro-batches), helping: the id of the help request it is on until the
 * page cancels it (else null), lends: helpers lent to a unit it runs}.
 */
export const WATCH_WORKERS = () => {
  globalThis.__pool = { workers: [] };
  const Base = globalThis.Worker;
  globalThis.Worker = class extends Base {
    constructor(url, options = {}) {
      // Named by its index here, so that a test can find it among the page's workers
      // (poolWorker), whose order need not be this one.
      super(url, { ...options, name: `pool-${globalThis.__pool.workers.length}` });
      const w = { units: 0, progress: 0, done: 0, cancelled: 0, experiments: 0, helps: 0, helping: null, lends: 0 };
      globalThis.__pool.workers.push(w);
      this.addEventListener('message', (e) => {
        const m = e.data;
        if (m?.type === 'unit-progress') w.progress++;
        else if (m?.type === 'unit-done') w.done++;
        else if (m?.type === 'error' && m.error?.kind === 'cancelled') w.cancelled++;
      });
      this.watched = w;
    }
    postMessage(m, ...rest) {
      if (m?.type === 'unit') this.watched.units++;
      if (m?.type === 'experiment') this.watched.experiments++;
      if (m?.type === 'help') {
        this.watched.helps++;
        this.watched.helping = m.id;
      }
      if (m?.type === 'cancel' && m.id === this.watched.helping) this.watched.helping = null;
      if (m?.type === 'lend') this.watched.lends++;
      return super.postMessage(m, ...rest);
    }
  };
};

/** The page's worker (Playwright's) that WATCH_WORKERS counts as `__pool.workers[index]`. */
export async function poolWorker(page, index) {
  for (const w of page.workers()) if (await w.evaluate(() => self.name) === `pool-${index}`) return w;
  throw new Error(`no worker pool-${index}`);
}

/** Clicks `selector` and reads the file it downloads. Chromium, loaded, sometimes drops one
 * of many downloads a page starts within seconds (the experiment test starts 17): the page's handler
 * ran and made the file (checked: its blob is created and its link clicked), but no
 * download starts. Such a click is made again, at most twice; a button that never
 * downloads still fails, with its name. */
export async function downloadText(page, selector) {
  for (let attempt = 1; ; attempt++) {
    try {
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), page.click(selector)]);
      return { name: download.suggestedFilename(), bytes: await fs.readFile(await download.path()) };
    } catch (e) {
      if (attempt === 3 || e.name !== 'TimeoutError') throw new Error(`no download from ${selector} (${attempt} clicks): ${e.message.split('\n')[0]}`);
    }
  }
}

/** Runs the native CLI (`OVERTRAIN_BIN`, else target/debug/overtrain) as `overtrain
 * COMMAND --backend cpu --config C --out R ...extra` on `config` (an object), in a fresh
 * temporary folder; resolves to the results file it wrote, parsed. */
export async function runCli(command, config, extra = []) {
  const { execFileSync } = await import('node:child_process');
  const os = await import('node:os');
  const bin = process.env.OVERTRAIN_BIN ?? path.join(ROOT, 'target/debug/overtrain');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'overtrain-e2e-'));
  try {
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
    execFileSync(bin, [command, '--backend', 'cpu', '--config', path.join(dir, 'config.json'), '--out', path.join(dir, 'r.json'), ...extra], { stdio: 'pipe' });
    return JSON.parse(await fs.readFile(path.join(dir, 'r.json'), 'utf8'));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
