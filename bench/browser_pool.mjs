// Benchmark (not a test): the transformer lab's experiment in headless Chromium on a pool of
// 1 and of 2 Web Workers (the page's `?workers=N`), the Quick preset cut to its first
// `budgets` budgets (6: the whole preset), on the CPU path. For each pool size: the page's
// estimate before the run (its probe: the fastest of 1 s of windows of steps, × the schedule's time on N workers) and the
// run's time (the results' elapsed_s, from the schedule's start to its last unit); runs
// alternate between the sizes, and medians are printed with the ratio of 2 workers to 1.
// Each run's line also has the estimate a fresh page showed first, for its default config
// (the Quick preset: comparable with the run time only for PRESET=quick, budgets 6 and no
// other option). Each run's line has the machine's 1-minute load average before and after it: on a
// shared machine, other processes' load takes cores from the pool.
// usage: node bench/browser_pool.mjs [runs] [budgets]   (needs dist/: scripts/serve.sh's build)
//   PRESET=paper times another preset (default quick); SIZES=2 only that pool size (default 1,2);
//   PROTOCOL=wsd another pre-training protocol; MICRO_BATCHES=4 another micro-batch count
//   (the presets': 1; with more, idle workers help the running units' steps);
//   SITES=dist,/other/dist times each site folder in turn (before/after; default dist).
import os from 'node:os';
import path from 'node:path';
import { startServer, launch } from '../tests/e2e/harness.mjs';

const runs = Number(process.argv[2] ?? 3);
const budgets = Number(process.argv[3] ?? 4);
const sizes = (process.env.SIZES ?? '1,2').split(',').map(Number);
const preset = process.env.PRESET ?? 'quick';
const protocol = process.env.PROTOCOL ?? null;
const microBatches = process.env.MICRO_BATCHES ?? null;
const sites = (process.env.SITES ?? 'dist').split(',');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

const servers = await Promise.all(sites.map((dir) => startServer({ dir: path.resolve(dir) })));
const browser = await launch({ webgpu: false });
// One row per site and pool size: "site|workers".
const keys = sites.flatMap((site) => sizes.map((n) => `${site}|${n}`));
const rows = Object.fromEntries(keys.map((k) => [k, { first: [], estimate: [], elapsed: [], tokensPerSecond: [] }]));
let config = null;
try {
  for (let r = 0; r < runs; r++) {
    for (const key of r % 2 ? [...keys].reverse() : keys) {
      const [site, size] = key.split('|');
      const n = Number(size);
      const server = servers[sites.indexOf(site)];
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(new URL(`?workers=${n}`, server.url).href);
      // The estimate a fresh page shows first, for its default config (the Quick preset on
      // the page's own backend choice): what a visitor reads before changing anything.
      await page.waitForFunction(() => document.getElementById('tx-estimate')?.dataset.seconds, null, { timeout: 120_000 });
      const first = await page.$eval('#tx-estimate', (e) => ({ seconds: Number(e.dataset.seconds), tps: Number(e.dataset.tokensPerSecond) }));
      await page.click('#tab-transformer');
      await page.selectOption('#tx-preset', preset);
      await page.selectOption('#tx-backend', 'cpu');
      if (protocol) await page.selectOption('#x-pretrain-protocol', protocol);
      if (microBatches) await page.fill('#x-micro_batches', microBatches);
      const all = await page.inputValue('#x-pretrain-budgets');
      await page.fill('#x-pretrain-budgets', all.split(',').slice(0, budgets).join(','));
      await page.dispatchEvent('#x-pretrain-budgets', 'change');
      // The estimate of the cut config (its line, then its timing: a probe's answer that
      // comes before the change would carry the preset's).
      const line = (await page.textContent('#tx-estimate')).replace(/ · about .*$/, '');
      await page.waitForFunction(({ w, line }) => {
        const e = document.getElementById('tx-estimate');
        return e.textContent.startsWith(`${line} · about`) && e.dataset.workers === String(w);
      }, { w: n, line }, { timeout: 120_000 });
      const est = await page.$eval('#tx-estimate', (e) => ({ seconds: Number(e.dataset.seconds), tps: Number(e.dataset.tokensPerSecond), text: e.textContent }));
      const loadBefore = os.loadavg()[0];
      await page.click('#tx-start');
      if (await page.evaluate(() => document.body.dataset.experiment) !== 'running') throw new Error('the experiment did not start');
      await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 3_600_000 });
      const results = await page.evaluate(() => globalThis.__overtrainLab.results);
      config ??= results.config;
      rows[key].first.push(first.seconds);
      rows[key].estimate.push(est.seconds);
      rows[key].elapsed.push(results.elapsed_s);
      rows[key].tokensPerSecond.push(est.tps);
      console.log(JSON.stringify({ run: r + 1, site, workers: n, estimate_s: +est.seconds.toFixed(1), elapsed_s: +results.elapsed_s.toFixed(1), probe_tokens_per_second: Math.round(est.tps), first_estimate_s: +first.seconds.toFixed(1), first_probe_tokens_per_second: Math.round(first.tps), budgets: results.budgets.length, load_before: +loadBefore.toFixed(2), load_after: +os.loadavg()[0].toFixed(2) }));
      await context.close();
    }
  }
  console.log(JSON.stringify({ browser: browser.version(), preset, protocol: config.pretrain.protocol, micro_batches: config.micro_batches, budgets: config.pretrain.budgets, runs }));
  console.log('| site | workers | estimate (median) | run time (median) | probe tokens/s (median) | a fresh page\'s first estimate, default config (median) |');
  console.log('|---|---|---|---|---|---|');
  for (const k of keys) {
    const [site, n] = k.split('|');
    console.log(`| ${site} | ${n} | ${median(rows[k].estimate).toFixed(1)} s | ${median(rows[k].elapsed).toFixed(1)} s | ${median(rows[k].tokensPerSecond).toFixed(0)} | ${median(rows[k].first).toFixed(1)} s |`);
  }
  for (const k of keys) console.log(`${k}: estimate ${(100 * (median(rows[k].estimate) / median(rows[k].elapsed) - 1)).toFixed(0)}% off the run time`);
  for (const site of sites) {
    const [one, two] = [rows[`${site}|1`], rows[`${site}|2`]];
    if (!one || !two) continue;
    const ratio = median(two.elapsed) / median(one.elapsed);
    const estRatio = median(two.estimate) / median(one.estimate);
    console.log(`${site}: 2 workers / 1 worker: run time ${(100 * ratio).toFixed(0)}%, estimate ${(100 * estRatio).toFixed(0)}%`);
  }
} finally {
  await browser.close();
  await Promise.all(servers.map((s) => s.close()));
}
