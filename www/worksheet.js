// The worksheet a teacher prints: every exercise with the plot of its set-up and, on a
// page of its own at the end, an answer key — both computed here from the same runs by
// the wasm (each linear set-up from the default settings, `exercise_setup` + `run_linear`;
// the transformer exercise on the recorded Quick run shipped with the site), so the key
// is what those plots show, never a stored answer. The layout is style.css's @media print.
import { exercise_setup, exercise_expected, render_experiment_plots, render_linear_plots, run_linear } from './pkg/overtrain.js';
import { allExercises } from './exercise-panel.js';

const svgNode = (text) => document.importNode(new DOMParser().parseFromString(text, 'image/svg+xml').documentElement, true);
/** A paint of the page, so that a status line shows before the wasm keeps the thread busy. */
const frame = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

/** The recorded run of preset `name` (www/recorded/, built by scripts/common.sh), or null. */
async function recorded(name) {
  try {
    const res = await fetch(new URL(`./recorded/${name}.json`, import.meta.url));
    return res.ok ? await res.json() : null;
  } catch {
    return null;
  }
}

/** The run of exercise `ex` the worksheet shows: {lab, results} or null. */
async function runOf(ex, defaults) {
  if (ex.lab === 'linear') return { lab: 'linear', results: run_linear(exercise_setup(ex.id, defaults)) };
  const results = await recorded(ex.preset);
  return results && { lab: 'transformer', results };
}

/**
 * Puts each exercise's plot into its card and fills the answer key; `status(text)` says
 * how far it got. Resolves to the number of exercises with a plot.
 */
export async function prepareWorksheet({ defaults, status }) {
  const key = document.getElementById('answer-key-list');
  key.replaceChildren();
  let drawn = 0;
  for (const ex of allExercises()) {
    status(`Preparing the worksheet: ${ex.title}…`);
    await frame();
    const card = document.getElementById(`exercise-${ex.id}`);
    const box = card.querySelector('.worksheet-plot');
    const item = document.createElement('li');
    const title = document.createElement('b');
    title.textContent = `${ex.title}: `;
    item.append(title);
    const run = await runOf(ex, structuredClone(defaults));
    if (!run) {
      box.replaceChildren('(No recorded run of this preset ships with this site: run it in the lab.)');
      item.append('run the lab: no recorded run to compute the answer from.');
      key.append(item);
      continue;
    }
    const plots = run.lab === 'linear'
      ? render_linear_plots(run.results, { width: 640, height: 400, show_theory: false })
      : render_experiment_plots(run.results, null);
    const svg = plots.find(([name]) => name === ex.plot)?.[1];
    box.replaceChildren(...(svg ? [svgNode(svg)] : []));
    drawn += svg ? 1 : 0;
    const expected = exercise_expected(ex.id, run.lab, run.results);
    if (expected.error) item.append(`no answer from this run: ${expected.error}`);
    else {
      const within = expected.tolerance ? ` (±${expected.tolerance} steps)` : '';
      item.append(`${expected.answer}${within} — ${expected.because}.`);
    }
    key.append(item);
  }
  document.getElementById('answer-key').hidden = false;
  document.body.classList.add('worksheet-ready');
  status('Worksheet ready: print it (or save it as PDF) with your browser.');
  return drawn;
}
