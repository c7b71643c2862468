// Persistence in headless Chromium: finished experiments survive a reload and can be shown
// again or deleted; a reload during an experiment (on 2 workers) keeps its finished budgets
// and offers to resume, which continues after them.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';

const state = (page) => page.evaluate(() => document.body.dataset.experiment);

test('experiments are kept in the browser across reloads, and an interrupted one resumes', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, new URL('?workers=2', server.url).href);
    await page.click('#tab-transformer');
    await page.selectOption('#tx-preset', 'micro');
    await page.click('#tx-start');
    await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 300_000 });
    const done = await page.$eval('#tx-export-json', () => true);
    assert.ok(done);
    await page.reload();
    await page.click('#tab-transformer');
    await page.waitForSelector('#tx-saved li[data-status=done] button[data-action=show]');
    assert.match(await page.textContent('#tx-saved li[data-status=done]'), /4\/4 budgets · done/);
    await page.click('#tx-saved li[data-status=done] button[data-action=show]');
    assert.equal(await page.$$eval('#tx-plots figure.plot:not([hidden]) .svg svg', (s) => s.length), 5);
    assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length), 4, 'checkpoints kept too');
    // An experiment interrupted by a reload after its first budgets (on 2 workers: they
    // finish in order, whatever ran at once).
    await page.selectOption('#tx-preset', 'quick');
    await page.click('#tx-start');
    const saved = () => page.evaluate(async () => {
      const { store } = await import(new URL('./www/persist.js', location.href));
      return (await store.all()).find((r) => r.status === 'running')?.finished ?? 0;
    });
    const deadline = Date.now() + 300_000;
    while (await saved() < 1) {
      assert.ok(Date.now() < deadline, 'the first budget is saved');
      await page.waitForTimeout(200);
    }
    await page.reload();
    await page.click('#tab-transformer');
    const unfinished = '#tx-saved li[data-status=running]';
    await page.waitForSelector(`${unfinished} button[data-action=resume]`);
    const finished = Number((await page.textContent(unfinished)).match(/ (\d)\/6 budgets · unfinished/)?.[1]);
    assert.ok(finished >= 1 && finished < 6, `finished budgets kept: ${finished}`);
    await page.click(`${unfinished} button[data-action=show]`);
    assert.equal(await page.$$eval('#tx-plots figure[data-plot=base] .svg svg', (s) => s.length), 1, 'the finished budgets are plotted');
    const base = await page.$eval('#tx-plots figure[data-plot=base] .svg svg', (s) => s.outerHTML);
    const labels = base.match(/held-out pre-training perplexity[^<]*/g).map((t) => t.trim());
    // (The recorded curve is drawn first, beneath the user's.)
    assert.deepEqual(labels.sort(), ['held-out pre-training perplexity', 'held-out pre-training perplexity (recorded)'], 'the recorded Quick run is drawn beside the user\'s');
    assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length) >= finished, true, 'their checkpoints are kept');
    await page.evaluate(() => {
      globalThis.__seen = [];
      new MutationObserver(() => globalThis.__seen.push(document.getElementById('tx-status').textContent)).observe(document.getElementById('tx-status'), { childList: true, characterData: true, subtree: true });
    });
    await page.click(`${unfinished} button[data-action=resume]`);
    await page.waitForFunction(() => /budget \d\/6.* · ETA/.test(document.getElementById('tx-status').textContent), null, { timeout: 120_000 });
    await page.waitForTimeout(1000);
    const seen = await page.evaluate(() => globalThis.__seen);
    const rerun = seen.filter((t) => [...t.matchAll(/budget (\d)\/6/g)].some((m) => Number(m[1]) <= finished));
    assert.deepEqual(rerun, [], `the finished budgets are not run again: ${seen.slice(0, 5).join(' | ')}`);
    const progress = await page.evaluate(() => Number(document.getElementById('tx-progress').value));
    assert.ok(progress > 0.02, `resumed after the finished budgets (progress ${progress})`);
    await page.click('#tx-cancel');
    await page.waitForFunction(() => document.body.dataset.experiment === 'cancelled', null, { timeout: 60_000 });
    assert.equal(await state(page), 'cancelled');
    // Delete removes it.
    const before = await page.$$eval('#tx-saved li[data-saved]', (l) => l.length);
    await page.click('#tx-saved li[data-status=done] button[data-action=delete]');
    await page.waitForFunction((n) => document.querySelectorAll('#tx-saved li[data-saved]').length === n - 1, before);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.foreignRequests, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
