// URL state, embed mode and the share dialog in headless Chromium.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';

const value = (page, id) => page.$eval(id, (e) => e.value);

test('the hash sets every lab\'s fields, follows edits, and ignores bad parts without injecting them', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, `${server.url}#lab=linear&dim=8&pretrain.steps=300&finetune.lrs=0.02,0.05&finetune.spectrum.kind=flat&finetune.spectrum.value=0.5&tx.model.d_model=24&tx.finetune.lrs=0.002,0.004&tx.pretrain.protocol=wsd`);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    assert.equal(await value(page, '#f-dim'), '8');
    assert.equal(await value(page, '#f-pretrain-steps'), '300');
    assert.equal(await value(page, '#f-finetune-lrs'), '0.02, 0.05');
    assert.equal(await value(page, '#f-finetune-spectrum-kind'), 'flat');
    assert.equal(await value(page, '#x-model-d_model'), '24');
    assert.equal(await value(page, '#x-finetune-lrs'), '0.002, 0.004');
    assert.equal(await value(page, '#x-pretrain-protocol'), 'wsd');
    assert.equal(await page.isHidden('#url-notice'), true);
    // An edit is written back into the hash.
    await page.fill('#f-dim', '9');
    await page.waitForFunction(() => /(^#|&)dim=9(&|$)/.test(location.hash));
    assert.match(await page.evaluate(() => location.hash), /tx\.model\.d_model=24/);
    // Bad parts: named in a notice as text; nothing is inserted or run.
    await page.goto(`${server.url}#lab=transformer&dim=%3Cimg%20src%3Dx%20onerror%3Dwindow.__pwned%3D1%3E&%3Cb%3Enonsense%3C%2Fb%3E=1&tx.model.n_head=two`);
    // (A hash-only navigation: the page applies it on hashchange.)
    await page.waitForSelector('#url-notice:not([hidden])');
    const notice = await page.textContent('#url-notice');
    assert.match(notice, /dim/);
    assert.match(notice, /<b>nonsense<\/b>/, 'shown as text');
    assert.match(notice, /tx\.model\.n_head/);
    assert.equal(await page.$$eval('#url-notice *', (e) => e.length), 0, 'no markup inside the notice');
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.isHidden('#transformer-lab'), false, 'lab=transformer opens that lab');
    assert.equal(await value(page, '#f-dim'), '20', 'a malformed value keeps the default (20)');
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(problems.foreignRequests, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a link that opens one lab with a bad field of the other names it above the labs, with a button to it', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, `${server.url}#lab=linear&dim=8`);
    await page.waitForFunction(() => document.body.dataset.linear === 'done', null, { timeout: 60_000 });
    assert.equal(await page.isHidden('#other-lab-error'), true, 'no error: nothing shown');
    // The linear lab's field in error while the link opens the transformer lab.
    await page.evaluate(() => { location.hash = 'lab=transformer&finetune.lrs'; });
    await page.waitForSelector('#other-lab-error:not([hidden])');
    assert.equal(await page.isHidden('#linear-lab'), true);
    assert.match(await page.textContent('#other-lab-error'), /^The Linear lab has a field to fix: finetune\.lrs: must not be empty/);
    // Its button opens that lab at the field; fixing the field takes the message away.
    await page.click('#other-lab-error button');
    assert.equal(await page.isHidden('#linear-lab'), false);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'f-finetune-lrs');
    assert.equal(await page.isHidden('#other-lab-error'), true, 'the lab shown holds the error itself');
    await page.click('#tab-transformer');
    assert.equal(await page.isHidden('#other-lab-error'), false, 'still in error: named again from the other tab');
    await page.click('#tab-linear');
    await page.fill('#f-finetune-lrs', '0.05');
    await page.waitForFunction(() => document.body.dataset.linear === 'done', null, { timeout: 60_000 });
    await page.click('#tab-transformer');
    assert.equal(await page.isHidden('#other-lab-error'), true, 'fixed: nothing to name');
    // And the other way round: a transformer field in error, the linear lab shown.
    await page.evaluate(() => { location.hash = 'lab=linear&tx.model.d_model=30&tx.model.n_head=4'; });
    await page.waitForSelector('#other-lab-error:not([hidden])');
    assert.match(await page.textContent('#other-lab-error'), /^The Transformer lab has a field to fix: .*model\.d_model/);
    assert.deepEqual(problems.pageErrors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('embed mode fits a 400×300 iframe without scrollbars, and the share snippet reproduces the state', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, `${server.url}#dim=8&pretrain.steps=400&finetune.lrs=0.03`);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    await page.click('#share-open');
    await page.waitForSelector('#share-dialog[open]');
    const link = await value(page, '#share-link');
    assert.match(link, /dim=8/);
    assert.doesNotMatch(link, /embed=1/);
    await page.selectOption('#share-plot', 'perturbed');
    const snippet = await value(page, '#share-snippet');
    assert.match(snippet, /^<iframe src="[^"]+embed=1[^"]*plots=perturbed[^"]*" width="640" height="460"/);
    // A blog post with the snippet, its iframe squeezed to 400×300.
    const post = await browser.newPage();
    await post.setContent(`<!doctype html><body style="margin:0">${snippet.replace('width="640" height="460"', 'width="400" height="300"')}</body>`);
    const frame = await (await post.waitForSelector('iframe')).contentFrame();
    await frame.waitForFunction(() => document.body.classList.contains('embed') && Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    const fit = await frame.evaluate(() => {
      const fig = document.querySelector('figure[data-plot=perturbed]').getBoundingClientRect();
      const visible = [...document.querySelectorAll('#linear-lab figure.plot')].filter((f) => f.getBoundingClientRect().height > 0).length;
      const el = document.scrollingElement;
      return { sh: el.scrollHeight, ch: el.clientHeight, sw: el.scrollWidth, cw: el.clientWidth, bottom: fig.bottom, right: fig.right, w: innerWidth, h: innerHeight, visible, header: document.querySelector('header').getBoundingClientRect().height };
    });
    assert.ok(fit.sh <= fit.ch && fit.sw <= fit.cw, `no scrollbars: ${JSON.stringify(fit)}`);
    assert.ok(fit.bottom <= fit.h + 1 && fit.right <= fit.w + 1, `the plot fits: ${JSON.stringify(fit)}`);
    assert.equal(fit.visible, 1, 'only the chosen plot');
    assert.equal(fit.header, 0, 'no page chrome');
    assert.equal(await frame.$eval('#f-pretrain-steps', (e) => e.value), '400', 'the embedded state is the shared one');
    // The strip's control works inside the embed.
    assert.equal(await frame.isVisible('#f-pretrain-steps'), true);
    // The shared link opens the same configuration.
    const other = await browser.newPage();
    await other.goto(link);
    await other.waitForFunction(() => document.getElementById('f-dim')?.value === '8');
    assert.equal(await other.$eval('#f-finetune-lrs', (e) => e.value), '0.03');
    assert.deepEqual(problems.foreignRequests, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
