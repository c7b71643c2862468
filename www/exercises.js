// Guided exercises for a classroom: each has a question, a set-up (a config change applied
// to a lab), and an answer check computed from the run the student made — not from a
// stored answer, so it holds for any seed. Pure functions; the page builds the panel.

const byLr = (r, lr, l2 = 0) => r.finetune.find((f) => f.lr === lr && f.l2 === l2);

/** 'earlier', 'later' or 'at the same step', comparing two inflection points. */
function direction(small, large) {
  if (small == null || large == null) return null;
  return large < small ? 'earlier' : large > small ? 'later' : 'at the same step';
}

export const EXERCISES = [
  {
    id: 'inflection',
    lab: 'linear',
    title: 'Find the inflection point',
    question: 'Every checkpoint is fine-tuned with η_ft = 0.01. After how many pre-training steps is the pre-training loss after fine-tuning lowest? Read it off the "After fine-tuning" plot and enter the step.',
    setup: (c) => ({ ...c, finetune: { ...c.finetune, lrs: [0.01], l2: [0] } }),
    answer: { kind: 'number', label: 'Pre-training step' },
    check(r, answer) {
      const curve = byLr(r, 0.01);
      if (!curve) return { correct: false, text: 'Run the set-up first: this run has no η_ft = 0.01 curve.' };
      const want = curve.inflection_step;
      if (want == null) return { correct: false, text: 'This run has no clear inflection for η_ft = 0.01 (the curve keeps falling, or its rise is within the noise): pre-train longer.' };
      const tolerance = 2 * r.config.pretrain.checkpoint_every;
      const correct = Math.abs(Number(answer) - want) <= tolerance;
      return { correct, text: correct ? `Yes: the minimum is at step ${want}. Past it, more pre-training makes the fine-tuned model worse.` : `Not quite: look for the lowest point of the curve in the upper panel of the "After fine-tuning" plot (the ring marks it) (within ±${tolerance} steps).` };
    },
  },
  {
    id: 'gamma',
    lab: 'linear',
    title: 'How does the noise scale move it?',
    question: 'The set-up perturbs every checkpoint with noise of two scales, γ = 0.05 and γ = 0.1. With the larger noise, does the perturbed loss turn upward earlier or later in pre-training?',
    setup: (c) => ({ ...c, perturb: { ...c.perturb, gammas: [0.05, 0.1], samples: Math.max(c.perturb.samples, 100) } }),
    answer: { kind: 'choice', options: ['earlier', 'later', 'at the same step'] },
    check(r, answer) {
      const small = r.perturb.find((p) => p.gamma === 0.05)?.inflection_step;
      const large = r.perturb.find((p) => p.gamma === 0.1)?.inflection_step;
      const want = direction(small, large);
      if (!want) return { correct: false, text: 'Run the set-up first: this run lacks an inflection for one of the two γ.' };
      const correct = answer === want;
      return { correct, text: correct ? `Yes: ${want} (step ${large} against ${small}). Larger perturbations expose the growing sensitivity sooner.` : 'Not quite: compare where the two curves of the perturbation plot bottom out.' };
    },
  },
  {
    id: 'lr',
    lab: 'linear',
    title: 'How does the fine-tuning learning rate move it?',
    question: 'The set-up fine-tunes every checkpoint with η_ft = 0.01 and with η_ft = 0.03. With the larger learning rate, does the pre-training loss after fine-tuning bottom out earlier or later?',
    setup: (c) => ({ ...c, finetune: { ...c.finetune, lrs: [0.01, 0.03], l2: [0] } }),
    answer: { kind: 'choice', options: ['earlier', 'later', 'at the same step'] },
    check(r, answer) {
      const want = direction(byLr(r, 0.01)?.inflection_step, byLr(r, 0.03)?.inflection_step);
      if (!want) return { correct: false, text: 'Run the set-up first: this run lacks an inflection for one of the two learning rates.' };
      const correct = answer === want;
      return { correct, text: correct ? `Yes: ${want}. A larger fine-tuning step moves further along the sensitive directions, so overtraining starts to hurt sooner.` : 'Not quite: compare the rings on the two curves of the "After fine-tuning" plot.' };
    },
  },
  {
    id: 'l2',
    lab: 'linear',
    title: 'Does pulling toward the pre-trained weights help, and at what cost?',
    question: 'The set-up fine-tunes with η_ft = 0.03 without (λ = 0) and with (λ = 1) a pull toward the pre-trained weights. At the last checkpoint, what does the pull do?',
    setup: (c) => ({ ...c, finetune: { ...c.finetune, lrs: [0.03], l2: [0, 1] } }),
    answer: { kind: 'choice', options: ['less forgetting, worse fine-tuning', 'less forgetting, better fine-tuning', 'more forgetting, better fine-tuning', 'more forgetting, worse fine-tuning'] },
    check(r, answer) {
      const free = byLr(r, 0.03, 0);
      const pulled = byLr(r, 0.03, 1);
      if (!free || !pulled) return { correct: false, text: 'Run the set-up first: this run lacks λ = 0 or λ = 1 at η_ft = 0.03.' };
      const last = r.steps.length - 1;
      const forgetting = pulled.pretrain_loss[last] < free.pretrain_loss[last] ? 'less forgetting' : 'more forgetting';
      const fit = pulled.finetune_loss[last] > free.finetune_loss[last] ? 'worse fine-tuning' : 'better fine-tuning';
      const want = `${forgetting}, ${fit}`;
      const correct = answer === want;
      return { correct, text: correct ? `Yes: ${want}. The pull keeps the model near what it knew, at the price of learning the new task less well.` : 'Not quite: compare the solid and dashed curves at the right end of both panels of "After fine-tuning".' };
    },
  },
  {
    id: 'overtrain',
    lab: 'transformer',
    title: 'Does a longer-trained transformer fine-tune worse?',
    question: 'Run the Quick preset (a few minutes). After fine-tuning with learning rate 0.003, is the pre-training perplexity of the model pre-trained on the most tokens higher than that of the best budget?',
    preset: 'quick',
    setup: (c) => c,
    answer: { kind: 'choice', options: ['yes: the longest pre-training is not the best', 'no: the longest pre-training is the best'] },
    check(r, answer) {
      const f = r.finetune.find((c) => c.lr === 0.003 && c.l2 === 0);
      if (!f || r.budgets.length < 3) return { correct: false, text: 'Run the set-up first and let it finish.' };
      const values = f.pretrain_ppl.filter((v) => v != null);
      const worse = f.pretrain_ppl.at(-1) > Math.min(...values);
      const want = worse ? 'yes: the longest pre-training is not the best' : 'no: the longest pre-training is the best';
      const correct = answer === want;
      return { correct, text: correct ? (worse ? 'Yes: catastrophic overtraining — past a point, more pre-training tokens gave a worse model after fine-tuning.' : 'Right for this run: here the longest pre-training was still the best.') : 'Not quite: look at the right end of the upper panel of "After fine-tuning".' };
    },
  },
];

export const exerciseById = (id) => EXERCISES.find((e) => e.id === id);
