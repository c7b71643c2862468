// End-to-end tests of the linear transfer lab in a real headless Chromium.
import { test, before, after } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, runCli } from './harness.mjs';

let server, browser;
before(async () => { server = await startServer(); browser = await launch(); });
after(async () => { await browser?.close(); await server?.close(); });

const PLOTS = ['sensitivity', 'perturbed', 'finetuned', 'singular_values'];

/** Waits until the plots have been drawn more than `count` times; returns the new count. */
async function waitForRender(page, count = 0) {
  await page.waitForFunction((c) => Number(document.getElementById('plots').dataset.rendered || 0) > c, count, { timeout: 60_000 });
  return page.evaluate(() => Number(document.getElementById('plots').dataset.rendered));
}
const svgs = (page) => page.$$eval('#linear-lab figure.plot', (figs) => figs.map((f) => [f.dataset.plot, f.querySelector('.svg svg')?.outerHTML ?? '']));

test('the page loads with no console errors and draws the four plots', async () => {
  const { page, problems } = await openPage(browser, server.url);
  await waitForRender(page);
  const drawn = await svgs(page);
  assert.deepEqual(drawn.map(([name]) => name), PLOTS);
  for (const [name, svg] of drawn) {
    assert.ok(svg.length > 2000, `plot ${name} is drawn (${svg.length} bytes of SVG)`);
    assert.match(svg, /<(polyline|path)/, `plot ${name} has curves`);
  }
  assert.match(await page.textContent('#status'), /Computed in \d+ ms/);
  assert.match(drawn[2][1], /lowest at step \d+/, 'the fine-tuning plot marks its minima (the legend names them)');
  assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  await page.close();
});

test('changing a control recomputes and redraws the plots', async () => {
  const { page, problems } = await openPage(browser, server.url);
  const first = await waitForRender(page);
  const before = await svgs(page);
  await page.fill('#f-perturb-gammas', '0.03, 0.08');
  const second = await waitForRender(page, first);
  const after = await svgs(page);
  assert.ok(second > first);
  assert.notEqual(after[1][1], before[1][1], 'the perturbation plot changed');
  assert.match(after[1][1], /γ = 0\.08/);
  // The slider drives the same field.
  await page.locator('#f-finetune-steps-slider').fill('100');
  await waitForRender(page, second);
  assert.equal(await page.inputValue('#f-finetune-steps'), '100');
  assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  await page.close();
});

test('an invalid value shows the field\'s error and keeps the last good plots', async () => {
  const { page, problems } = await openPage(browser, server.url);
  const first = await waitForRender(page);
  const before = await svgs(page);
  const cases = [
    ['#f-pretrain-lr', '-1', 'pretrain.lr', /\(0, 10\]/],
    ['#f-dim', '300', 'dim', /1\.\.=256/],
    ['#f-finetune-lrs', '0.01, abc', 'finetune.lrs', /must be a number/],
    ['#f-perturb-gammas', '', 'perturb.gammas', /must not be empty/],
  ];
  for (const [selector, value, field, message] of cases) {
    await page.fill(selector, value);
    const error = page.locator(`#controls [data-field="${field}"] .error`);
    await error.waitFor({ state: 'visible' });
    const text = await error.textContent();
    assert.ok(text.startsWith(field), `error names the field: ${text}`);
    assert.match(text, message);
    assert.equal(await page.getAttribute(selector, 'aria-invalid'), 'true');
    assert.deepEqual(await svgs(page), before, 'the last good plots stay');
    await page.click('#reset');
    await error.waitFor({ state: 'hidden' });
  }
  // A spectrum with the wrong number of values points at the spectrum's parameter.
  await page.selectOption('#f-pretrain-spectrum-kind', 'values');
  await page.fill('#f-pretrain-spectrum-param', '1, 0.5');
  const err = page.locator('#controls [data-field="pretrain.spectrum.param"] .error');
  await err.waitFor({ state: 'visible' });
  assert.match(await err.textContent(), /pretrain\.spectrum\.values: must have exactly dim = 20 entries, got 2/);
  assert.equal(Number(await page.evaluate(() => document.getElementById('plots').dataset.rendered)), first);
  assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  await page.close();
});

test('a diverging fine-tuning run is reported, not plotted', async () => {
  const { page, problems } = await openPage(browser, server.url);
  const first = await waitForRender(page);
  await page.fill('#f-finetune-lrs', '0.01, 5');
  await waitForRender(page, first);
  const notice = await page.locator('#notices .notice').allTextContents();
  assert.ok(notice.some((t) => /η = 5, λ = 0 diverged at step \d+/.test(t)), notice.join('\n'));
  const finetuned = (await svgs(page))[2][1];
  assert.match(finetuned, /η = 5, λ = 0: diverged at step \d+/);
  assert.doesNotMatch(finetuned, /NaN|Infinity|\binf\b/);
  assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  await page.close();
});

test('the page and the command line compute the same results', async () => {
  const { page, problems } = await openPage(browser, server.url);
  const first = await waitForRender(page);
  await page.fill('#f-dim', '12');
  await page.fill('#f-finetune-l2', '0, 0.5');
  await waitForRender(page, first);
  // The worker's config and results, as the page's download button saves them.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const pageResults = JSON.parse(await (await download.createReadStream()).toArray().then((c) => Buffer.concat(c).toString()));
  const cliResults = await runCli('linear', pageResults.config);
  delete pageResults.elapsed_ms;
  delete cliResults.elapsed_ms;
  assert.equal(cliResults.backend.kind, 'cpu');
  assert.equal(pageResults.backend.kind, 'cpu');
  delete pageResults.backend;
  delete cliResults.backend;
  assert.equal(pageResults.config.dim, 12);
  assert.deepEqual(pageResults, cliResults, 'wasm in the page and the native CLI agree exactly');
  assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  await page.close();
});
