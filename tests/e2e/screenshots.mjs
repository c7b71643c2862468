// The README's screenshots (docs/screenshots/), taken in headless Chromium from dist/:
// the linear lab on a phone (390 × 844), an exercise docked beside its plot (1400 × 900),
// the worksheet in print emulation, and presentation mode on a 1280 × 720 projector. Not a test: `node tests/e2e/screenshots.mjs`
// after building the site.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launch } from './harness.mjs';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
const rendered = (page) => page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 90_000 });

const server = await startServer();
const browser = await launch({ webgpu: false });
try {
  // A phone: the introduction, the settings closed behind their button, the first plot.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await phone.goto(server.url);
  await rendered(phone);
  await phone.screenshot({ path: path.join(OUT, 'phone.png') });

  // An exercise beside its plot: "Set up the lab", then an answer checked.
  const wide = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await wide.goto(`${server.url}#exercise=inflection`);
  await rendered(wide);
  await wide.click('button[data-setup=inflection]');
  await wide.waitForFunction(() => document.body.dataset.linear === 'done', null, { timeout: 90_000 });
  await wide.waitForTimeout(2800); // the highlight fades
  const answer = await wide.evaluate(async () => {
    const wasm = await import('./www/pkg/overtrain.js');
    return wasm.exercise_expected('inflection', 'linear', globalThis.__overtrainLinearResults()).answer;
  });
  await wide.fill('#answer-inflection', answer);
  await wide.click('button[data-check=inflection]');
  await wide.$eval('#plot-linear-finetuned', (f) => f.scrollIntoView({ block: 'start' }));
  await wide.screenshot({ path: path.join(OUT, 'exercise.png') });

  // The worksheet, as printed (its first page and a half).
  const sheet = await browser.newPage({ viewport: { width: 800, height: 1100 } });
  await sheet.goto(`${server.url}#exercise=inflection`);
  await sheet.evaluate(() => { window.print = () => { document.body.dataset.printed = '1'; }; });
  await sheet.click('#worksheet-print');
  await sheet.waitForFunction(() => document.body.dataset.printed === '1', null, { timeout: 120_000 });
  await sheet.emulateMedia({ media: 'print' });
  await sheet.evaluate(() => window.scrollTo(0, 0));
  await sheet.screenshot({ path: path.join(OUT, 'worksheet.png') });

  // Presentation mode, as a 1280 × 720 projector shows it.
  const projector = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await projector.goto(`${server.url}#present=1`);
  await rendered(projector);
  await projector.$eval('#plot-linear-finetuned', (f) => f.scrollIntoView({ block: 'start' }));
  await projector.screenshot({ path: path.join(OUT, 'presentation.png') });
} finally {
  await browser.close();
  await server.close();
}
