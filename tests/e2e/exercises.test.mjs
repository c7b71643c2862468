// The guided exercises, all from the wasm (src/exercises.rs through `exercises`,
// `exercise_setup`, `exercise_expected`, `check_exercise`; the page keeps no copy): on each
// exercise's own set-up run, a right answer computed from the run is accepted and a wrong
// one refused — in Node on the built wasm, and in the page, where "Set up the lab" also
// brings the exercise's plot into view with its caption computed from the run.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, launch, openPage } from './harness.mjs';

const pkg = new URL('../../dist/www/pkg/', import.meta.url);
const wasm = await import(new URL('overtrain.js', pkg));
wasm.initSync({ module: fs.readFileSync(new URL('overtrain_bg.wasm', pkg)) });
const quick = JSON.parse(fs.readFileSync(new URL('../../dist/www/recorded/quick.json', import.meta.url)));

/** A wrong answer to `ex` given the right one: another option, or a step far off. */
function wrongAnswer(ex, expected) {
  if (ex.answer.kind === 'choice') return ex.answer.options.find((o) => o !== expected.answer);
  return String(Number(expected.answer) + 3 * expected.tolerance);
}

test('every exercise: on its set-up, the answer computed from the run is accepted and a wrong one refused', () => {
  const list = wasm.exercises();
  assert.deepEqual(list.map((e) => e.id), ['inflection', 'gamma', 'lr', 'l2', 'overtrain']);
  const defaults = wasm.default_linear_config();
  for (const ex of list) {
    const results = ex.lab === 'linear' ? wasm.run_linear(wasm.exercise_setup(ex.id, defaults)) : quick;
    const expected = wasm.exercise_expected(ex.id, ex.lab, results);
    assert.equal(expected.error, undefined, `${ex.id}: the set-up shows its effect (${expected.error})`);
    if (ex.answer.kind === 'choice') assert.ok(ex.answer.options.includes(expected.answer), `${ex.id}: ${expected.answer} is an option`);
    const right = wasm.check_exercise(ex.id, ex.lab, results, expected.answer);
    assert.equal(right.correct, true, `${ex.id}: ${expected.answer} → ${right.text}`);
    assert.match(right.text, /^Yes/);
    const wrong = wasm.check_exercise(ex.id, ex.lab, results, wrongAnswer(ex, expected));
    assert.equal(wrong.correct, false, `${ex.id}: a wrong answer is refused`);
    assert.match(wrong.text, /^Not quite/);
    assert.equal(wasm.check_exercise(ex.id, ex.lab, results, '').correct, false, 'no answer is not right');
  }
  // A transformer exercise has no linear set-up: it names a preset instead.
  assert.equal(wasm.exercise_setup('overtrain', defaults), null);
  assert.throws(() => wasm.exercise_setup('nonsense', defaults), (e) => e.kind === 'data');
});

test('a run that does not show the effect gives no answer rather than a wrong one', () => {
  const defaults = wasm.default_linear_config();
  // Stopped long before the minimum: the loss after fine-tuning only falls.
  const config = wasm.exercise_setup('inflection', defaults);
  config.pretrain.steps = 100;
  config.pretrain.checkpoint_every = 25;
  const results = wasm.run_linear(config);
  const expected = wasm.exercise_expected('inflection', 'linear', results);
  assert.match(expected.error, /no clear minimum/);
  for (const step of ['0', '50', '100']) assert.equal(wasm.check_exercise('inflection', 'linear', results, step).correct, false);
  // Its captions say so too: the fine-tuning plot does not claim the effect.
  const finetuned = wasm.linear_captions(results).find((c) => c.plot === 'finetuned');
  assert.equal(finetuned.shows_effect, false, finetuned.text);
  // Another exercise's run, or the other lab's, is not checked as if it were this one's.
  const other = wasm.run_linear(wasm.exercise_setup('l2', defaults));
  assert.match(wasm.check_exercise('lr', 'linear', other, 'earlier').text, /set-up/);
  assert.match(wasm.check_exercise('overtrain', 'linear', other, 'yes').text, /other lab/);
});

test('in the page, an exercise sets the lab up, shows its plot and checks the answer against the run', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, `${server.url}#exercise=lr`);
    await page.waitForSelector('#exercises:not([hidden])');
    const rendered = () => page.evaluate(() => Number(document.getElementById('plots').dataset.rendered || 0));
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    const before = await rendered();
    await page.click('button[data-setup=lr]');
    await page.waitForFunction((b) => Number(document.getElementById('plots').dataset.rendered || 0) > b, before, { timeout: 60_000 });
    assert.equal(await page.$eval('#f-finetune-lrs', (e) => e.value), '0.01, 0.03');
    // The plot is in view, highlighted, and the exercise docked beside it (a wide screen).
    const view = await page.$eval('#plot-linear-finetuned', (f) => {
      const r = f.getBoundingClientRect();
      return { top: r.top, highlighted: f.classList.contains('highlight'), inView: r.top > -2 && r.top < innerHeight / 2 };
    });
    assert.ok(view.inView && view.highlighted, JSON.stringify(view));
    const docked = await page.$eval('#exercise-lr', (a) => {
      const r = a.getBoundingClientRect();
      const plot = document.getElementById('plot-linear-finetuned').getBoundingClientRect();
      return { visible: r.width > 0 && r.top < innerHeight && r.bottom > 0, beside: r.left >= plot.right - 1 };
    });
    assert.deepEqual(docked, { visible: true, beside: true });
    // The answer comes from the run on screen, by the wasm's rule.
    const { right, captions } = await page.evaluate(async () => {
      const wasm = await import('./www/pkg/overtrain.js');
      const run = globalThis.__overtrainLinearResults();
      return { right: wasm.exercise_expected('lr', 'linear', run).answer, captions: wasm.linear_captions(run) };
    });
    const wrong = right === 'earlier' ? 'later' : 'earlier';
    await page.check(`#exercise-lr input[value="${wrong}"]`);
    await page.click('button[data-check=lr]');
    assert.equal(await page.$eval('#exercise-lr', (e) => e.dataset.result), 'wrong');
    await page.check(`#exercise-lr input[value="${right}"]`);
    await page.click('button[data-check=lr]');
    assert.equal(await page.$eval('#exercise-lr', (e) => e.dataset.result), 'correct');
    assert.match(await page.textContent('#exercise-lr .feedback'), /^Yes/);
    // Every caption is the wasm's for this run, and describes its plot's image.
    for (const c of captions) {
      const fig = await page.$eval(`#plot-linear-${c.plot}`, (f) => ({
        text: f.querySelector('p.shows').textContent,
        describedBy: f.querySelector('.svg').getAttribute('aria-describedby'),
        effect: f.dataset.showsEffect ?? null,
      }));
      assert.equal(fig.text, c.text, c.plot);
      assert.deepEqual(fig.describedBy.split(' '), [`cap-linear-${c.plot}`, `axes-linear-${c.plot}`]);
      assert.equal(fig.effect, c.shows_effect == null ? null : String(c.shows_effect));
    }
    // Glossary links in captions open the glossary at the term, without touching the state.
    const hash = await page.evaluate(() => location.hash);
    await page.click('#plot-linear-finetuned a.term[href="#glossary-inflection"]');
    await page.waitForSelector('#glossary:not([hidden])');
    assert.equal(await page.getAttribute('#glossary-open', 'aria-expanded'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'glossary-inflection');
    assert.equal(await page.evaluate(() => location.hash), hash);
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});

test('the worksheet: every exercise with its plot, and an answer key computed from those runs', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, `${server.url}#exercise=inflection`);
    await page.waitForSelector('#exercises:not([hidden])');
    await page.evaluate(() => { window.print = () => { document.body.dataset.printed = '1'; }; });
    await page.click('#worksheet-print');
    await page.waitForFunction(() => document.body.dataset.printed === '1', null, { timeout: 120_000 });
    assert.equal(await page.$$eval('#exercise-list .worksheet-plot svg', (s) => s.length), 5);
    const key = await page.$$eval('#answer-key-list li', (l) => l.map((li) => li.textContent));
    assert.equal(key.length, 5);
    for (const line of key) assert.doesNotMatch(line, /no answer/, line);
    await page.emulateMedia({ media: 'print' });
    const shown = await page.evaluate(() => ({
      labs: getComputedStyle(document.getElementById('linear-lab')).display,
      key: getComputedStyle(document.getElementById('answer-key')).display,
      cards: [...document.querySelectorAll('#exercise-list article')].filter((a) => getComputedStyle(a).display !== 'none').length,
    }));
    assert.deepEqual(shown, { labs: 'none', key: 'block', cards: 5 });
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
