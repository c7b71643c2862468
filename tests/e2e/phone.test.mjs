// The page on a phone (390 × 844): every plot of both labs can be scrolled into view and is
// the element on top at its centre (nothing covers it), the settings are a panel the reader
// opens (aria-expanded), Start stays reachable, nothing is wider than the screen, and an
// embed fits a phone-width post.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch } from './harness.mjs';

const PHONE = { width: 390, height: 844 };

/** For each figure of `selector`: scrolled to its centre, is its image on top there? */
async function plotsOnTop(page, selector) {
  return page.$$eval(selector, (figs) => figs.map((fig) => {
    const svg = fig.querySelector('.svg');
    svg.scrollIntoView({ block: 'center' });
    const r = svg.getBoundingClientRect();
    const [x, y] = [r.left + r.width / 2, r.top + r.height / 2];
    const top = document.elementFromPoint(x, y);
    return { plot: fig.dataset.plot, onTop: Boolean(top && svg.contains(top)), width: r.width, visible: x > 0 && x < innerWidth && y > 0 && y < innerHeight };
  }));
}

const noWiderThanScreen = (page) => page.evaluate(() => document.documentElement.scrollWidth <= innerWidth);

test('at 390 × 844 every plot of both labs is reachable and on top, and the settings are a panel to open', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage({ viewport: PHONE, isMobile: true, hasTouch: true });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server.url);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 90_000 });
    // The settings start closed, behind their button; it opens and closes them.
    const toggle = '#linear-lab .controls-toggle';
    assert.equal(await page.getAttribute(toggle, 'aria-expanded'), 'false');
    assert.equal(await page.isVisible('#f-pretrain-steps'), false);
    assert.ok(await noWiderThanScreen(page), 'nothing wider than the screen');
    const linear = await plotsOnTop(page, '#plots figure.plot');
    assert.equal(linear.length, 4);
    for (const p of linear) assert.ok(p.onTop && p.visible && p.width > 300, JSON.stringify(p));
    await page.click(toggle);
    assert.equal(await page.getAttribute(toggle, 'aria-expanded'), 'true');
    assert.equal(await page.isVisible('#f-pretrain-steps'), true);
    // A bad value opens nothing new but shows its error next to the control.
    await page.fill('#f-pretrain-steps', '-5');
    await page.waitForSelector('#f-pretrain-steps-error:not([hidden])');
    await page.fill('#f-pretrain-steps', '2000');

    // The transformer lab: the recorded Quick run is drawn; Start stays in reach.
    await page.click('#tab-transformer');
    await page.waitForSelector('#tx-plots figure.plot:not([hidden])', { timeout: 60_000 });
    assert.equal(await page.getAttribute('#transformer-lab .controls-toggle', 'aria-expanded'), 'false');
    const tx = await plotsOnTop(page, '#tx-plots figure.plot:not([hidden])');
    assert.equal(tx.length, 5);
    for (const p of tx) assert.ok(p.onTop && p.visible && p.width > 300, JSON.stringify(p));
    // Scrolled to the last plot, Start/Pause/Cancel are still on screen (they stick).
    const buttons = await page.$$eval('#tx-start, #tx-pause, #tx-cancel', (bs) => bs.map((b) => {
      const r = b.getBoundingClientRect();
      return r.top >= 0 && r.bottom <= innerHeight && document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === b;
    }));
    assert.deepEqual(buttons, [true, true, true]);
    assert.ok(await noWiderThanScreen(page), 'nothing wider than the screen');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('an embed fits a phone-width post (360 px): no horizontal scrolling, the plot on top', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const page = await browser.newPage({ viewport: { width: 360, height: 460 } });
    for (const [hash, plots] of [['lab=linear&embed=1&plots=finetuned', '#plots'], ['lab=transformer&embed=1&plots=finetuned', '#tx-plots']]) {
      await page.goto(`${server.url}#${hash}`);
      await page.waitForSelector(`${plots} figure.plot[data-plot=finetuned]:not([hidden]) svg`, { timeout: 90_000 });
      assert.ok(await noWiderThanScreen(page), `${hash}: nothing wider than the frame`);
      const [shown] = await plotsOnTop(page, `${plots} figure.plot[data-plot=finetuned]`);
      assert.ok(shown.onTop, `${hash}: ${JSON.stringify(shown)}`);
      if (plots === '#tx-plots') {
        // The transformer embed says what a run will cost, where it is, and what it shows.
        for (const id of ['#tx-estimate', '#tx-status', '#tx-plots figure[data-plot=finetuned] figcaption .shows']) {
          assert.ok(await page.isVisible(id), `${hash}: ${id} is shown`);
        }
      }
      await page.goto('about:blank');
    }
  } finally {
    await browser.close();
    await server.close();
  }
});
