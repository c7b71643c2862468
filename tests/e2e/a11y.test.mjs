// Accessibility of every view with axe-core (pinned in package.json): the WCAG 2.0/2.1/2.2
// A and AA rules and axe's best practices find nothing in the linear lab (also with a field
// in error, a link with ignored parts, the glossary, the exercises, the share dialog, a
// dark colour scheme, a phone's width and an internal-error banner), in the transformer lab before, during
// (paused) and after a run, and in both labs' embed mode. And what axe does not check: the
// tabs follow the ARIA tabs pattern (one tab stop, arrow keys move and select); a run is read
// out at a sensible rate; plot text is large enough, in presentation mode too.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { startServer, launch, openPage } from './harness.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22a', 'wcag22aa', 'best-practice'];

/** axe's violations on the page as it is now: [{rule, impact, nodes: [selector]}].
 * (Evaluated through the DevTools protocol, which the page's CSP does not govern.) */
async function violations(page) {
  if (!(await page.evaluate(() => typeof globalThis.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (tags) => {
    const r = await globalThis.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({ rule: v.id, impact: v.impact, nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' ')) }));
  }, TAGS);
}

/** Checks one view after `arrive()`; the views' findings are reported together. */
function auditor(page) {
  const found = {};
  return {
    async view(name, arrive) {
      await arrive();
      const v = await violations(page);
      if (v.length) found[name] = v;
    },
    assertClean() {
      assert.deepEqual(found, {}, `axe violations by view:\n${JSON.stringify(found, null, 1)}`);
    },
  };
}

const linearDrawn = (page) => page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 90_000 });

test('axe finds nothing in the linear lab, its error and notice states, the glossary, exercises, share dialog and a phone width', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, server.url);
    const audit = auditor(page);
    await audit.view('linear lab', () => linearDrawn(page));
    await audit.view('a field in error', async () => {
      await page.fill('#f-pretrain-steps', '-5');
      await page.waitForSelector('#f-pretrain-steps-error:not([hidden])');
    });
    await page.fill('#f-pretrain-steps', '2000');
    await audit.view('glossary', async () => {
      await page.click('#glossary-open');
      await page.waitForSelector('#glossary:not([hidden])');
    });
    await page.click('#glossary-close');
    await audit.view('exercises', async () => {
      await page.click('#exercises-open');
      await page.waitForSelector('#exercises:not([hidden]) #exercise-list article');
      await page.click('#exercise-list article button');
      await page.waitForSelector('body.exercise-active');
    });
    await page.click('#exercises-open');
    await audit.view('share dialog', async () => {
      await page.click('#share-open');
      await page.waitForSelector('#share-dialog[open]');
    });
    await page.keyboard.press('Escape');
    await audit.view('internal-error banner', async () => {
      await page.evaluate(() => globalThis.__overtrainPanic('a test of the banner'));
      await page.waitForSelector('#fatal:not([hidden])');
    });
    await audit.view('a link with ignored parts', async () => {
      await page.goto(`${server.url}#lab=linear&no.such.field=3`);
      await linearDrawn(page);
      await page.waitForSelector('#url-notice:not([hidden])');
    });
    await audit.view('a link opening one lab with a field of the other in error', async () => {
      await page.goto(`${server.url}#lab=linear&tx.model.d_model=30&tx.model.n_head=4`);
      await linearDrawn(page);
      await page.waitForSelector('#other-lab-error:not([hidden])');
    });
    await audit.view('dark colour scheme', async () => {
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.reload();
      await linearDrawn(page);
    });
    await page.emulateMedia({ colorScheme: 'light' });
    await audit.view('phone width', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(server.url);
      await linearDrawn(page);
    });
    audit.assertClean();
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('axe finds nothing in the transformer lab before, during and after a run, nor in embed mode', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, server.url);
    const audit = auditor(page);
    await audit.view('transformer lab, before a run', async () => {
      await page.click('#tab-transformer');
      await page.waitForSelector('#tx-plots figure.plot:not([hidden])', { timeout: 60_000 });
      await page.selectOption('#tx-preset', 'micro');
      await page.selectOption('#tx-backend', 'cpu');
      await page.waitForFunction(() => /parameters/.test(document.getElementById('tx-estimate').textContent));
    });
    // Everything live regions say during the run (what a screen reader reads out).
    await page.evaluate(() => {
      globalThis.__spoken = [];
      const LIVE = '[aria-live], [role=status], [role=alert]';
      new MutationObserver((records) => {
        for (const r of records) {
          const region = (r.target.nodeType === 1 ? r.target : r.target.parentElement)?.closest(LIVE);
          if (region && !region.hidden && region.textContent.trim()) globalThis.__spoken.push({ id: region.id, text: region.textContent.trim() });
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await audit.view('transformer lab, during a run (paused)', async () => {
      await page.click('#tx-start');
      await page.waitForFunction(() => Number(document.getElementById('tx-progress').value) > 0.05, null, { timeout: 120_000 });
      await page.click('#tx-pause');
      await page.waitForFunction(() => document.body.dataset.experiment === 'paused', null, { timeout: 60_000 });
    });
    await audit.view('transformer lab, after a run', async () => {
      await page.click('#tx-pause');
      await page.waitForFunction(() => document.body.dataset.experiment === 'done', null, { timeout: 200_000 });
    });
    // The run was read out at a sensible rate: start, pause, resume, progress at most every
    // 20 s, and the end — never the step-by-step status or a plot.
    const spoken = await page.evaluate(() => globalThis.__spoken);
    const announced = [...new Set(spoken.filter((s) => s.id === 'tx-announce').map((s) => s.text))];
    assert.deepEqual(announced.filter((t) => !/^\d+% done/.test(t)).slice(0, 3), ['Experiment started.', 'Paused.', 'Resumed.']);
    assert.match(announced.at(-1), /^Done in /);
    assert.ok(spoken.every((s) => s.id !== 'tx-status' && !/figure|plot/.test(s.id)), JSON.stringify(spoken.slice(0, 5)));
    assert.ok(spoken.length < 25, `${spoken.length} announcements: ${JSON.stringify(spoken.slice(0, 8))}`);
    for (const lab of ['linear', 'transformer']) {
      await audit.view(`${lab} embed`, async () => {
        await page.goto(`${server.url}#lab=${lab}&embed=1&plots=finetuned`);
        await page.reload();
        const plots = lab === 'linear' ? '#plots' : '#tx-plots';
        await page.waitForSelector(`${plots} figure.plot[data-plot=finetuned]:not([hidden]) svg`, { timeout: 90_000 });
      });
    }
    audit.assertClean();
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('the lab tabs are one tab stop; the arrow keys, Home and End move between them and select', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page } = await openPage(browser, server.url);
    await linearDrawn(page);
    const tabStops = () => page.$$eval('[role=tab]', (tabs) => tabs.map((t) => t.tabIndex));
    assert.deepEqual(await tabStops(), [0, -1]);
    await page.focus('#tab-linear');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-transformer');
    assert.equal(await page.getAttribute('#tab-transformer', 'aria-selected'), 'true');
    assert.equal(await page.isVisible('#transformer-lab'), true);
    assert.deepEqual(await tabStops(), [-1, 0]);
    await page.keyboard.press('ArrowRight'); // wraps around
    assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-linear');
    await page.keyboard.press('End');
    assert.equal(await page.getAttribute('#tab-transformer', 'aria-selected'), 'true');
    await page.keyboard.press('Home');
    assert.equal(await page.getAttribute('#tab-linear', 'aria-selected'), 'true');
    assert.equal(await page.isVisible('#linear-lab'), true);
    // Tab from the selected tab leaves the tab list for the next control.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'exercises-open');
  } finally {
    await browser.close();
    await server.close();
  }
});

/** The smallest text of the visible plots of `selector`, in CSS px as drawn on screen. */
const smallestPlotText = (page, selector) => page.$$eval(`${selector} figure.plot:not([hidden]) .svg svg`, (svgs) => Math.min(...svgs.flatMap((svg) => {
  const scale = svg.getBoundingClientRect().width / (svg.viewBox.baseVal?.width || svg.width.baseVal.value);
  return [...svg.querySelectorAll('text')].filter((t) => t.textContent.trim()).map((t) => parseFloat(getComputedStyle(t).fontSize) * scale);
})));

test('plot text is at least 12 px at 1400 px, and at least 18 px on a 1280 × 720 projector in presentation mode (toggle and link)', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, server.url);
    await linearDrawn(page);
    const normal = await smallestPlotText(page, '#plots');
    assert.ok(normal >= 12, `default view: ${normal.toFixed(1)} px`);
    await page.setViewportSize({ width: 1280, height: 720 });
    const drawn = () => page.evaluate(() => Number(document.getElementById('plots').dataset.rendered));
    const before = await drawn();
    await page.click('#present-toggle');
    assert.equal(await page.getAttribute('#present-toggle', 'aria-pressed'), 'true');
    await page.waitForFunction((n) => Number(document.getElementById('plots').dataset.rendered) > n, before);
    assert.match(page.url(), /[#&]present=1/);
    const projected = await smallestPlotText(page, '#plots');
    assert.ok(projected >= 18, `presentation mode, linear lab: ${projected.toFixed(1)} px`);
    // The transformer lab's (recorded) plots too.
    await page.click('#tab-transformer');
    await page.waitForSelector('#tx-plots figure.plot:not([hidden]) svg', { timeout: 60_000 });
    const tx = await smallestPlotText(page, '#tx-plots');
    assert.ok(tx >= 18, `presentation mode, transformer lab: ${tx.toFixed(1)} px`);
    // A link opens in it; the toggle leaves it.
    const link = page.url();
    const other = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await other.goto(link);
    await other.waitForFunction(() => document.body.classList.contains('presentation'));
    assert.equal(await other.getAttribute('#present-toggle', 'aria-pressed'), 'true');
    await other.click('#present-toggle');
    assert.doesNotMatch(other.url(), /present=1/);
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
