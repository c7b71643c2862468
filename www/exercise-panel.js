// The Exercises panel: one card per exercise of www/exercises.js, with its question, a
// "Set up the lab" button and an answer checked against the student's own run.
import { EXERCISES } from './exercises.js';

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

/**
 * Fills `list` with the exercises. `setup(ex)` applies an exercise's set-up to its lab;
 * `results(ex)` is that lab's last run's results, or null.
 */
export function buildExercises(list, { setup, results }) {
  for (const ex of EXERCISES) {
    const art = el('article', { id: `exercise-${ex.id}` }, el('h3', { textContent: ex.title }), el('p', { textContent: ex.question }));
    const setupBtn = el('button', { type: 'button', textContent: 'Set up the lab' });
    setupBtn.dataset.setup = ex.id;
    setupBtn.addEventListener('click', () => setup(ex));
    const answer = el('fieldset', {}, el('legend', { textContent: 'Your answer' }));
    let read;
    if (ex.answer.kind === 'number') {
      const input = el('input', { type: 'number', id: `answer-${ex.id}` });
      answer.append(el('label', { htmlFor: input.id, textContent: ex.answer.label }), input);
      read = () => input.value;
    } else {
      ex.answer.options.forEach((opt, i) => {
        const input = el('input', { type: 'radio', name: `answer-${ex.id}`, id: `answer-${ex.id}-${i}`, value: opt });
        answer.append(el('label', { htmlFor: input.id }, input, opt));
      });
      read = () => answer.querySelector('input:checked')?.value ?? '';
    }
    const checkBtn = el('button', { type: 'button', textContent: 'Check my answer' });
    checkBtn.dataset.check = ex.id;
    const feedback = el('p', { className: 'feedback' });
    feedback.setAttribute('aria-live', 'polite');
    checkBtn.addEventListener('click', () => {
      const run = results(ex);
      let out;
      if (!run) out = { correct: false, text: 'Run the lab first: there are no results to check against yet.' };
      else if (read() === '') out = { correct: false, text: 'Give an answer first.' };
      else out = ex.check(run, read());
      feedback.textContent = out.text;
      feedback.className = `feedback ${out.correct ? 'correct' : 'wrong'}`;
      art.dataset.result = out.correct ? 'correct' : 'wrong';
    });
    art.append(setupBtn, answer, checkBtn, feedback);
    list.append(art);
  }
}
