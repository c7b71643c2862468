// A sweep in the page (headless Chromium): the transformer lab's "Vary" control varies one
// field of Micro over two values — its cost estimate counts both, the link holds it, a
// reload restores it, invalid values are named next to the control — and the sweep runs
// to completion on the page's workers: every plot draws both values, the summary plot of
// where the U turns has its caption, table and exports, and the results hold one section
// per value. The sweep presets show their recorded runs, summary included.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, downloadText } from './harness.mjs';

async function openLab(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  const opened = await openPage(context, url);
  await opened.page.click('#tab-transformer');
  await opened.page.waitForSelector('#transformer-lab:not([hidden])');
  return opened;
}

const download = async (page, selector) => (await downloadText(page, selector)).bytes;

/** The estimate's training tokens, as the cost line states them ("131.1 k training tokens"). */
async function tokens(page) {
  const text = await page.textContent('#tx-estimate');
  const m = text.match(/([\d.]+) (k|M|G)? ?training tokens/);
  assert.ok(m, text);
  return Number(m[1]) * { k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? 'k'];
}

/** Splits a CSV line (RFC 4180 quoting, as www/exports.js writes it). */
function cells(line) {
  const out = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) { out.push(cur); cur = ''; } else cur += c;
  }
  out.push(cur);
  return out;
}

test('a micro sweep: the Vary control, its estimate, link and errors, and a run to the end with the summary plot', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openLab(browser, server.url);
    await page.selectOption('#tx-preset', 'micro');
    await page.selectOption('#tx-backend', 'cpu');
    await page.waitForFunction(() => /parameters/.test(document.getElementById('tx-estimate').textContent));
    const one = await tokens(page);
    assert.ok(await page.isHidden('[data-field="sweep.values"]'), 'no values without a field to vary');

    // Vary the peak learning rate: two values, twice the tokens.
    await page.selectOption('#x-sweep', 'pretrain.lr');
    assert.ok(await page.isVisible('[data-field="sweep.values"]'));
    assert.match(await page.textContent('[data-field="sweep.values"] .help'), /2 to 5 numbers/);
    await page.fill('#x-sweep-values', '0.003, 0.01');
    await page.dispatchEvent('#x-sweep-values', 'change');
    await page.waitForFunction(() => /training tokens/.test(document.getElementById('tx-estimate').textContent));
    assert.equal(await tokens(page), 2 * one, 'the estimate counts both values');
    await page.waitForFunction(() => /about .* tokens\/s/.test(document.getElementById('tx-estimate').textContent), null, { timeout: 60_000 });
    assert.match(decodeURIComponent(await page.evaluate(() => location.hash)), /tx\.sweep\.field=pretrain\.lr&tx\.sweep\.values=0\.003,0\.01/);

    // Bad values are named next to the control, and Start waits for a fix.
    await page.fill('#x-sweep-values', '0.003');
    await page.dispatchEvent('#x-sweep-values', 'change');
    await page.waitForSelector('[data-field="sweep.values"].invalid');
    assert.match(await page.textContent('[data-field="sweep.values"] .error'), /sweep\.values: needs 2 to 5 values/);
    assert.ok(await page.isDisabled('#tx-start'));
    await page.fill('#x-sweep-values', '0.003, 2');
    await page.dispatchEvent('#x-sweep-values', 'change');
    await page.waitForFunction(() => /sweep\.values\[1\]/.test(document.querySelector('[data-field="sweep.values"] .error')?.textContent ?? ''));
    assert.ok(await page.isDisabled('#tx-start'));
    await page.fill('#x-sweep-values', '0.003, 0.01');
    await page.dispatchEvent('#x-sweep-values', 'change');
    await page.waitForFunction(() => !document.getElementById('tx-start').disabled);

    // A reload of the link restores the sweep.
    const link = await page.evaluate(() => location.href);
    await page.goto(link);
    await page.waitForSelector('#transformer-lab:not([hidden])');
    await page.waitForFunction(() => (document.getElementById('x-sweep-values')?.value ?? '') !== '');
    assert.equal(await page.inputValue('#x-sweep'), 'pretrain.lr');
    assert.equal(await page.inputValue('#x-sweep-values'), '0.003, 0.01');

    // The run: both values on the page's workers, then the summary.
    await page.waitForFunction(() => !document.getElementById('tx-start').disabled, null, { timeout: 60_000 });
    await page.click('#tx-start');
    await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 300_000 });
    assert.match(await page.textContent('#tx-status'), /Done in .* 2 values of pretrain\.lr × 4 budgets/);
    const drawn = await page.$$eval('#tx-plots figure.plot:not([hidden])', (fs) => fs.map((f) => f.dataset.plot));
    assert.deepEqual(drawn.sort(), ['base', 'finetuned', 'finetuned_change', 'inflection', 'perturbed', 'tuned']);
    assert.equal(await page.$$eval('#tx-checkpoints button', (b) => b.length), 8, 'a checkpoint per value and budget');
    assert.match(await page.textContent('#tx-checkpoints button[data-checkpoint="7"]'), /lr = 0\.01\) 4/);

    const results = JSON.parse((await download(page, '#tx-export-json')).toString());
    assert.deepEqual(results.sweep.values, [0.003, 0.01]);
    assert.deepEqual(results.sweep.sections.map((s) => s.config.pretrain.lr), [0.003, 0.01]);
    assert.ok(results.sweep.sections.every((s) => s.budgets.length === 4));

    // Every plot draws both values: the legend names each.
    const base = await page.$eval('#tx-plots figure[data-plot=base] .svg', (e) => e.textContent);
    assert.match(base, /lr = 0\.003/);
    assert.match(base, /lr = 0\.01/);
    // Each plot's caption speaks of each value.
    const caption = await page.textContent('#cap-tx-base');
    assert.match(caption, /At lr = 0\.003: .*At lr = 0\.01: /s);

    // The summary: caption from the run, a table with a row per value, and its exports.
    const fig = '#tx-plots figure[data-plot=inflection]';
    const summary = await page.textContent('#cap-tx-inflection');
    assert.match(summary, /after fine-tuning, lr [\d.]+: inflection (at [\d.]+[kM]? tokens|none within the budgets) for lr = 0\.003, (at [\d.]+[kM]? tokens|none within the budgets) for lr = 0\.01/i);
    const rows = await page.$$eval(`${fig} table tbody tr`, (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((r) => r[0]), ['0.003', '0.01']);
    const familyCells = rows.flatMap((r) => r.slice(2));
    assert.ok(familyCells.every((c) => c === 'none' || /^\d+$/.test(c)), familyCells.join(' '));
    const csv = (await download(page, `${fig} button[data-export=csv]`)).toString().trim().split('\n').map(cells);
    assert.equal(csv.length, 3, 'a header and a row per value');
    assert.deepEqual(csv[0].slice(0, 2), ['pretrain.lr', 'parameters']);
    assert.ok(csv.every((row) => row.length === csv[0].length));
    assert.match((await download(page, `${fig} button[data-export=svg]`)).toString(), /^<svg[\s\S]*Where the U turns[\s\S]*<\/svg>\s*$/);
    const png = await download(page, `${fig} button[data-export=png]`);
    assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
    // Another plot's CSV: each value's rows, led by the value.
    const baseCsv = (await download(page, '#tx-plots figure[data-plot=base] button[data-export=csv]')).toString().trim().split('\n').map(cells);
    assert.deepEqual(baseCsv[0], ['pretrain.lr', 'budget_tokens', 'pretrain_ppl']);
    assert.deepEqual(baseCsv.slice(1).map((r) => r[0]), ['0.003', '0.003', '0.003', '0.003', '0.01', '0.01', '0.01', '0.01']);

    // Nothing varies again: one experiment, and the summary plot goes.
    await page.selectOption('#x-sweep', '');
    assert.ok(await page.isHidden('[data-field="sweep.values"]'));
    assert.doesNotMatch(decodeURIComponent(await page.evaluate(() => location.hash)), /sweep/);
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('the sweep presets are listed and show their recorded runs with the summary plot', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openLab(browser, server.url);
    const options = await page.$$eval('#tx-preset option', (os) => os.map((o) => o.value));
    for (const name of ['scaling', 'schedules', 'mitigations']) assert.ok(options.includes(name), name);
    await page.selectOption('#tx-preset', 'scaling');
    assert.equal(await page.inputValue('#x-sweep'), 'model.d_model');
    assert.equal(await page.inputValue('#x-sweep-values'), '8, 24, 64');
    await page.waitForSelector('#tx-plots figure[data-plot=inflection]:not([hidden]) svg', { timeout: 60_000 });
    const caption = await page.textContent('#cap-tx-inflection');
    assert.match(caption, /^The recorded run: /);
    assert.match(caption, /parameters\^/, 'the fitted power law of the model-size sweep');
    const rows = await page.$$eval('#tx-plots figure[data-plot=inflection] table tbody tr', (trs) => trs.length);
    assert.equal(rows, 3);
    // The estimate counts every size (the largest model's parameters).
    assert.match(await page.textContent('#tx-estimate'), /parameters/);
    await page.selectOption('#tx-preset', 'quick');
    assert.equal(await page.inputValue('#x-sweep'), '');
    assert.ok(await page.isHidden('#tx-plots figure[data-plot=inflection]'));
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
