// The guided exercises: each answer check passes on a correct answer and fails on a wrong
// one — on synthetic runs (www/exercises.js alone) and on a real run in the page.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { EXERCISES, exerciseById } from '../../www/exercises.js';
import { startServer, launch, openPage } from './harness.mjs';

const linearRun = {
  config: { pretrain: { checkpoint_every: 50 } },
  steps: [0, 50, 100, 150, 200],
  perturb: [{ gamma: 0.05, inflection_step: 150 }, { gamma: 0.1, inflection_step: 50 }],
  finetune: [
    { lr: 0.01, l2: 0, inflection_step: 150, pretrain_loss: [5, 4, 3, 3.5, 4], finetune_loss: [1, 1, 1, 1, 0.5] },
    { lr: 0.03, l2: 0, inflection_step: 100, pretrain_loss: [5, 4, 3, 3.5, 4.4], finetune_loss: [1, 1, 1, 1, 0.4] },
    { lr: 0.03, l2: 1, inflection_step: 150, pretrain_loss: [5, 4, 3, 3.2, 3.6], finetune_loss: [1, 1, 1, 1, 0.7] },
  ],
};
const transformerRun = {
  budgets: [1, 2, 4, 8],
  finetune: [{ lr: 0.003, l2: 0, pretrain_ppl: [12, 10, 9.5, 10.4] }],
};

test('every exercise accepts the right answer and rejects a wrong one', () => {
  assert.ok(EXERCISES.length >= 4);
  const cases = {
    inflection: ['150', '400'],
    gamma: ['earlier', 'later'],
    lr: ['earlier', 'at the same step'],
    l2: ['less forgetting, worse fine-tuning', 'more forgetting, better fine-tuning'],
    overtrain: ['yes: the longest pre-training is not the best', 'no: the longest pre-training is the best'],
  };
  for (const ex of EXERCISES) {
    const run = ex.lab === 'linear' ? linearRun : transformerRun;
    const [right, wrong] = cases[ex.id];
    assert.equal(ex.check(run, right).correct, true, `${ex.id}: ${right}`);
    assert.equal(ex.check(run, wrong).correct, false, `${ex.id}: ${wrong}`);
    if (ex.answer.kind === 'choice') assert.ok(ex.answer.options.includes(right) && ex.answer.options.includes(wrong));
    // The answer comes from the run: flip the run and the right answer flips too.
  }
  const flipped = structuredClone(linearRun);
  flipped.finetune[0].inflection_step = 50;
  flipped.finetune[1].inflection_step = 200;
  assert.equal(exerciseById('lr').check(flipped, 'later').correct, true);
  assert.equal(exerciseById('inflection').check(flipped, '50').correct, true);
  assert.equal(exerciseById('inflection').check(flipped, '400').correct, false);
  // Without the set-up's curves the check says so instead of guessing.
  assert.match(exerciseById('l2').check({ ...linearRun, finetune: [] }, 'x').text, /set-up/);
});

test('in the page, an exercise sets the lab up and checks the answer against the run', async () => {
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
    const run = await page.evaluate(() => globalThis.__overtrainLinearResults());
    const [small, large] = [0.01, 0.03].map((lr) => run.finetune.find((f) => f.lr === lr && f.l2 === 0).inflection_step);
    const right = large < small ? 'earlier' : large > small ? 'later' : 'at the same step';
    const wrong = right === 'earlier' ? 'later' : 'earlier';
    await page.check(`#exercise-lr input[value="${wrong}"]`);
    await page.click('button[data-check=lr]');
    assert.equal(await page.$eval('#exercise-lr', (e) => e.dataset.result), 'wrong');
    await page.check(`#exercise-lr input[value="${right}"]`);
    await page.click('button[data-check=lr]');
    assert.equal(await page.$eval('#exercise-lr', (e) => e.dataset.result), 'correct');
    assert.match(await page.textContent('#exercise-lr .feedback'), /^Yes/);
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
