// Persistence in headless Chromium: finished experiments survive a reload and can be shown
// again or deleted; a reload during an experiment keeps its finished budgets and offers to
// resume, which continues after them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';

const state = (page) => page.evaluate(() => document.body.dataset.experiment);

test('experiments are kept in the browser across reloads, and an interrupted one resumes', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, server.url);
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
    // An experiment interrupted by a reload after its first budget.
    await page.selectOption('#tx-preset', 'quick');
    await page.click('#tx-start');
    await page.waitForFunction(() => /budget 2\/6/.test(document.getElementById('tx-status').textContent), null, { timeout: 300_000 });
    await page.waitForTimeout(500); // the first budget's save lands
    await page.reload();
    await page.click('#tab-transformer');
    const unfinished = '#tx-saved li[data-status=running]';
    await page.waitForSelector(`${unfinished} button[data-action=resume]`);
    assert.match(await page.textContent(unfinished), /1\/6 budgets · unfinished/);
    await page.click(`${unfinished} button[data-action=show]`);
    assert.equal(await page.$$eval('#tx-plots figure[data-plot=base] .svg svg', (s) => s.length), 1, 'the finished budget is plotted');
    const base = await page.$eval('#tx-plots figure[data-plot=base] .svg svg', (s) => s.outerHTML);
    const labels = base.match(/held-out pre-training perplexity[^<]*/g).map((t) => t.trim());
    assert.deepEqual(labels, ['held-out pre-training perplexity', 'held-out pre-training perplexity (recorded)'], 'the recorded Quick run is drawn beside the user\'s');
    await page.evaluate(() => {
      globalThis.__seen = [];
      new MutationObserver(() => globalThis.__seen.push(document.getElementById('tx-status').textContent)).observe(document.getElementById('tx-status'), { childList: true, characterData: true, subtree: true });
    });
    await page.click(`${unfinished} button[data-action=resume]`);
    await page.waitForFunction(() => /budget 2\/6/.test(document.getElementById('tx-status').textContent), null, { timeout: 120_000 });
    const seen = await page.evaluate(() => globalThis.__seen);
    assert.ok(!seen.some((t) => /budget 1\/6/.test(t)), `budget 1 is not run again: ${seen.slice(0, 5).join(' | ')}`);
    const progress = await page.evaluate(() => Number(document.getElementById('tx-progress').value));
    assert.ok(progress > 0.02, `resumed after the finished budget (progress ${progress})`);
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
