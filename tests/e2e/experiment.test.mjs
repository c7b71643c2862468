// The transformer lab in the page (headless Chromium): a micro preset runs to completion
// and draws every plot; every export downloads a valid file; pause, resume and cancel
// work; invalid fields are named next to their control.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { startServer, launch, openPage } from './harness.mjs';

const state = (page) => page.evaluate(() => document.body.dataset.experiment);
const progress = (page) => page.evaluate(() => Number(document.getElementById('tx-progress').value));

async function openLab(browser, url) {
  const opened = await openPage(browser, url);
  await opened.page.click('#tab-transformer');
  await opened.page.waitForSelector('#transformer-lab:not([hidden])');
  return opened;
}

async function downloadText(page, selector) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return { name: download.suggestedFilename(), bytes: await fs.readFile(await download.path()) };
}

test('a micro experiment runs to completion in the page, draws every plot and exports valid files', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: true });
  try {
    const { page, problems } = await openLab(browser, server.url);
    await page.selectOption('#tx-preset', 'micro');
    await page.selectOption('#tx-backend', 'cpu');
    await page.waitForFunction(() => /parameters/.test(document.getElementById('tx-estimate').textContent));
    await page.waitForFunction(() => /about .* tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 60_000 });
    await page.click('#tx-start');
    await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 300_000 });
    assert.match(await page.textContent('#tx-status'), /Done in .* 4 budgets/);
    const plots = await page.$$eval('#tx-plots figure.plot:not([hidden]) .svg svg', (s) => s.length);
    assert.equal(plots, 5, 'every plot is drawn');
    assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length), 4, 'one checkpoint per budget');

    const json = await downloadText(page, '#tx-export-json');
    const results = JSON.parse(json.bytes.toString());
    assert.equal(results.schema_version, 1);
    assert.deepEqual(results.budgets, [4096, 8192, 16384, 32768]);
    for (const name of ['base', 'perturbed', 'finetuned_change', 'finetuned', 'tuned']) {
      const fig = `#tx-plots figure[data-plot=${name}]`;
      const svg = await downloadText(page, `${fig} button[data-export=svg]`);
      assert.match(svg.bytes.toString(), /^<svg[\s\S]*<\/svg>\s*$/, `${name}.svg`);
      const png = await downloadText(page, `${fig} button[data-export=png]`);
      assert.deepEqual([...png.bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], `${name}.png`);
      const csv = (await downloadText(page, `${fig} button[data-export=csv]`)).bytes.toString().trim().split('\n');
      assert.equal(csv.length, 5, `${name}.csv: a header and one row per budget`);
      assert.match(csv[0], /^budget_tokens,/);
      assert.equal(csv[1].split(',')[0], '4096');
      assert.ok(csv.slice(1).every((row) => row.split(',').length === csv[0].split(',').length));
    }
    const ckpt = (await downloadText(page, '#tx-checkpoints button[data-checkpoint="3"]')).bytes;
    const headerLen = Number(ckpt.readBigUInt64LE(0));
    const header = JSON.parse(ckpt.subarray(8, 8 + headerLen).toString());
    assert.deepEqual(header.wte.shape, [256, 8]);
    assert.equal(header.wte.dtype, 'F32');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('pause stops the progress, resume continues it, cancel ends the experiment', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openLab(browser, server.url);
    await page.selectOption('#tx-preset', 'quick');
    await page.click('#tx-start');
    await page.waitForFunction(() => Number(document.getElementById('tx-progress').value) > 0.001, null, { timeout: 120_000 });
    await page.click('#tx-pause');
    assert.equal(await state(page), 'paused');
    await page.waitForTimeout(500); // messages in flight settle
    const paused = await progress(page);
    await page.waitForTimeout(2000);
    assert.equal(await progress(page), paused, 'no progress while paused');
    assert.equal(await page.textContent('#tx-pause'), 'Resume');
    await page.click('#tx-pause');
    assert.equal(await state(page), 'running');
    await page.waitForFunction((p) => Number(document.getElementById('tx-progress').value) > p, paused, { timeout: 60_000 });
    await page.click('#tx-cancel');
    await page.waitForFunction(() => document.body.dataset.experiment === 'cancelled', null, { timeout: 60_000 });
    assert.match(await page.textContent('#tx-status'), /Cancelled/);
    assert.equal(await page.isDisabled('#tx-start'), false, 'a new experiment can start');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('invalid experiment fields are named next to their control and block the start', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await openLab(browser, server.url);
    for (const [id, value, pattern] of [
      ['#x-pretrain-budgets', '2097152, 1048576', /must increase/],
      ['#x-perturb-gammas', '0.5, -1', /\(0, 100\]/],
      ['#x-finetune-lrs', '', /must not be empty/],
      ['#x-finetune-task', 'user', /needs the text/],
    ]) {
      await page.selectOption('#tx-preset', 'micro');
      if (id === '#x-finetune-task') await page.selectOption(id, value);
      else { await page.fill(id, value); await page.dispatchEvent(id, 'change'); }
      const errorId = id === '#x-finetune-task' ? '#x-finetune-user_text-error' : `${id}-error`;
      await page.waitForSelector(errorId);
      assert.match(await page.textContent(errorId), pattern, id);
      assert.equal(await page.isDisabled('#tx-start'), true);
    }
  } finally {
    await browser.close();
    await server.close();
  }
});

test("a preset's recorded run is drawn dashed before any run, and only for exactly its config", async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openLab(browser, server.url);
    const shown = () => page.$$eval('#tx-plots figure.plot:not([hidden]) .svg svg', (s) => s.map((svg) => svg.outerHTML));
    for (const preset of ['quick', 'paper']) {
      await page.selectOption('#tx-preset', preset);
      await page.waitForFunction(() => !document.getElementById('tx-recorded-note').hidden);
      const svgs = await shown();
      assert.equal(svgs.length, 5, `${preset}: every plot`);
      assert.ok(svgs.every((s) => s.includes('(recorded)')), `${preset}: recorded curves, labelled`);
      assert.equal(await page.isHidden('#tx-exports'), true, 'a recorded run is not the user\'s to export');
      const table = await page.textContent('#tx-plots figure[data-plot=base] details.table-view');
      const recorded = await (await fetch(new URL(`www/recorded/${preset}.json`, server.url))).json();
      assert.ok(table.includes(String(recorded.budgets[0])), `${preset}: the table holds the recorded numbers`);
    }
    // Another config (one field changed) has no recorded run.
    await page.fill('#x-finetune-seeds', '2');
    await page.dispatchEvent('#x-finetune-seeds', 'change');
    await page.waitForFunction(() => document.getElementById('tx-recorded-note').hidden);
    assert.equal((await shown()).length, 0);
    await page.selectOption('#tx-preset', 'micro');
    assert.equal((await shown()).length, 0, 'micro has no recorded run');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
