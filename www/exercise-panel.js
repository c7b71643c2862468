// The Exercises panel: one card per exercise of the wasm (`exercises()`, the Rust
// src/exercises.rs: the page keeps no copy of a question, a set-up or an answer), with its
// question, a "Set up the lab" button, and an answer checked by the wasm against the
// student's own run (`check_exercise`: the expected answer is computed from that run by
// the one significance rule, never stored). A card being worked on is "active": on a wide
// screen the panel docks beside the plots, showing it (style.css).
import { exercises, check_exercise } from './pkg/overtrain.js';

function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

let listed = null;
/** The exercises, as the wasm lists them: [{id, lab, title, question, answer, preset,
 * look, plot}] (asked once the wasm is loaded). */
export const allExercises = () => (listed ??= exercises());
export const exerciseById = (id) => allExercises().find((e) => e.id === id);

/** The active card (or none): the panel docks beside the plots with it. */
export function activate(id) {
  for (const art of document.querySelectorAll('#exercise-list article')) art.classList.toggle('active', art.id === `exercise-${id}`);
  document.body.classList.toggle('exercise-active', Boolean(id));
}

/**
 * Fills `list` with the exercises. `setup(ex)` applies an exercise's set-up to its lab and
 * shows its plot; `results(ex)` is that lab's results on show, or null.
 */
export function buildExercises(list, { setup, results }) {
  for (const ex of allExercises()) {
    const art = el('article', { id: `exercise-${ex.id}` }, el('h3', { textContent: ex.title }), el('p', { className: 'question', textContent: ex.question }));
    art.dataset.lab = ex.lab;
    art.dataset.plot = ex.plot;
    const setupBtn = el('button', { type: 'button', textContent: 'Set up the lab' });
    setupBtn.dataset.setup = ex.id;
    setupBtn.addEventListener('click', () => { activate(ex.id); setup(ex); });
    const answer = el('fieldset', {}, el('legend', { textContent: 'Your answer' }));
    let read;
    if (ex.answer.kind === 'number') {
      const input = el('input', { type: 'number', id: `answer-${ex.id}`, inputMode: 'numeric' });
      answer.append(el('label', { htmlFor: input.id, textContent: ex.answer.label }), input);
      read = () => input.value;
    } else {
      // Each option on its own line, its radio button inside its label: they never wrap apart.
      ex.answer.options.forEach((opt, i) => {
        const input = el('input', { type: 'radio', name: `answer-${ex.id}`, id: `answer-${ex.id}-${i}`, value: opt });
        answer.append(el('label', { htmlFor: input.id, className: 'option' }, input, el('span', { textContent: opt })));
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
      else {
        try {
          out = check_exercise(ex.id, ex.lab, run, read());
        } catch (e) {
          out = { correct: false, text: `These results cannot be checked: ${e?.message ?? e}` };
        }
      }
      feedback.textContent = out.text;
      feedback.className = `feedback ${out.correct ? 'correct' : 'wrong'}`;
      art.dataset.result = out.correct ? 'correct' : 'wrong';
    });
    const buttons = el('div', { className: 'buttons' }, setupBtn, checkBtn);
    // The worksheet (print) puts the set-up's plot here and the key at the end (www/worksheet.js).
    const sheetPlot = el('div', { className: 'worksheet-plot' });
    art.append(answer, buttons, feedback, sheetPlot);
    list.append(art);
  }
}
