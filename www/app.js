// The page's entry point: loads the wasm and the field schema, starts the shared worker
// pool, builds the two labs, and wires the tabs, the URL state, embed mode, the share
// dialog, the glossary, the controls' panel on narrow screens and the exercises.
import init, { default_linear_config, exercise_setup } from './pkg/overtrain.js';
import { loadSchema } from './schema.js';
import { Runner } from './runner.js';
import { LinearLab } from './linear-lab.js';
import { TransformerLab } from './transformer-lab.js';
import { encodeState, decodeState, ignoredNotice } from './state.js';
import { shareDialog } from './share.js';
import { activate, buildExercises, exerciseById } from './exercise-panel.js';
import { prepareWorksheet } from './worksheet.js';
import { wireGlossary } from './glossary.js';
import { registerOffline } from './offline.js';

const $ = (id) => document.getElementById(id);

function fatal(message) {
  $('fatal').hidden = false;
  $('fatal').textContent = `Internal error: ${message}. Your settings are kept; reload the page to continue.`;
}
globalThis.__overtrainPanic = (message) => fatal(message);

/** Resolves when the linear lab has drawn its first plots, or after `ms` (a link that waits
 * for "Run" draws nothing by itself). */
function firstPlotOr(ms) {
  return new Promise((resolve) => {
    const watch = new MutationObserver(() => { watch.disconnect(); resolve(); });
    watch.observe($('plots'), { attributes: true, attributeFilter: ['data-rendered'] });
    setTimeout(() => { watch.disconnect(); resolve(); }, ms);
  });
}

async function main() {
  // The service worker's install downloads the whole build: started after the first plot,
  // it does not delay it (about 0.1 s here when started with the page).
  firstPlotOr(10_000).then(() => registerOffline({ notice: (message, label, action) => {
    const box = $('update-notice');
    box.querySelector('.message').textContent = message;
    const button = box.querySelector('button');
    button.textContent = label;
    button.onclick = action;
    box.hidden = false;
  } }));
  await init();
  const schema = loadSchema();
  const defaults = default_linear_config();
  const runner = new Runner({ fatal });
  let currentLab = 'linear';
  let applying = false;
  let embed = null; // {plots, controls} in embed mode
  let presenting = false; // presentation mode (`present=1`)
  let linear = null;
  let lab = null;

  /** The current lab's plots, as the share dialog offers them: "after fine-tuning" first. */
  const sharedPlots = () => {
    const names = Object.keys(currentLab === 'transformer' ? lab.figures : linear.figures);
    return ['finetuned', ...names.filter((n) => n !== 'finetuned')];
  };

  // The whole state in the URL hash (www/state.js): read on load and on hashchange,
  // rewritten (replaceState, no history spam) after every valid change.
  const syncHash = () => {
    if (applying || !linear || !lab) return;
    const linearConfig = linear.config();
    const transformer = lab.config();
    if (!linearConfig || !transformer) return;
    const page = { backend: currentLab === 'linear' ? $('f-backend').value : $('tx-backend').value, preset: $('tx-preset').value };
    if (presenting) page.present = '1';
    if (embed) Object.assign(page, { embed: '1', plots: embed.plots.join(','), controls: embed.controls.join(',') });
    const hash = encodeState({ lab: currentLab, linear: linearConfig, transformer, page }, { linear: defaults, transformer: txDefaults });
    if (location.hash.slice(1) !== hash) history.replaceState(null, '', `#${hash}`);
    shareDialog.update(location.href, sharedPlots());
  };
  linear = new LinearLab({ runner, schema, defaults, onChange: syncHash });
  lab = new TransformerLab({ runner, schema, fatal, onChange: syncHash });
  globalThis.__overtrainLab = lab;
  globalThis.__overtrainLinearResults = () => linear.results;
  const txDefaults = lab.presets.quick ?? schema.presets[0].config;
  const decode = (hash) => decodeState(hash, { linear: defaults, transformer: txDefaults, schema });

  // The two labs, as tabs.
  const show = (which) => {
    currentLab = which;
    for (const [tab, panel, name] of [['tab-linear', 'linear-lab', 'linear'], ['tab-transformer', 'transformer-lab', 'transformer']]) {
      const on = name === which;
      $(tab).setAttribute('aria-selected', String(on));
      // Roving tabindex (the ARIA tabs pattern): Tab reaches the selected tab only, the
      // arrow keys move between tabs.
      $(tab).tabIndex = on ? 0 : -1;
      $(panel).hidden = !on;
    }
    otherLabError();
    syncHash();
  };
  // A field in error in the lab that is not shown (a link can open one lab with a bad field
  // of the other; its tab keeps it out of sight): named above the labs, with a button to it,
  // kept in sync as fields change and tabs switch.
  const otherLabError = () => {
    const other = currentLab === 'linear' ? { lab: 'transformer', name: 'Transformer lab', controls: 'tx-controls' } : { lab: 'linear', name: 'Linear lab', controls: 'controls' };
    const errors = [...$(other.controls).querySelectorAll('.field .error')].filter((e) => !e.hidden && e.textContent.trim()).map((e) => e.textContent.trim());
    const box = $('other-lab-error');
    box.hidden = errors.length === 0;
    box.querySelector('.message').textContent = errors.length ? `The ${other.name} has ${errors.length === 1 ? 'a field' : `${errors.length} fields`} to fix: ${errors.join('; ')}` : '';
    box.dataset.lab = other.lab;
  };
  $('other-lab-error').querySelector('button').addEventListener('click', () => {
    const which = $('other-lab-error').dataset.lab;
    show(which);
    $(which === 'linear' ? 'controls' : 'tx-controls').querySelector('[aria-invalid=true]')?.focus();
  });
  const watchErrors = new MutationObserver(otherLabError);
  for (const id of ['controls', 'tx-controls']) watchErrors.observe($(id), { subtree: true, attributes: true, attributeFilter: ['hidden', 'aria-invalid'], childList: true, characterData: true });
  $('tab-linear').addEventListener('click', () => show('linear'));
  $('tab-transformer').addEventListener('click', () => show('transformer'));
  document.querySelector('[role=tablist]').addEventListener('keydown', (e) => {
    const order = ['linear', 'transformer'];
    const i = order.indexOf(currentLab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: order.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    const which = order[(next + order.length) % order.length];
    show(which);
    $(`tab-${which}`).focus();
  });

  // Presentation mode, for a projector: larger text everywhere, plots redrawn with larger
  // text and thicker lines; in the URL, so that a link or an embed opens in it.
  const present = (on) => {
    presenting = on;
    document.body.classList.toggle('presentation', on);
    $('present-toggle').setAttribute('aria-pressed', String(on));
    linear.setPresentation(on);
    lab.setPresentation(on);
  };
  $('present-toggle').addEventListener('click', () => { present(!presenting); syncHash(); });

  /** Applies a link's state; `atLoad`: the page's own address as it opened (only then may
   * `embed=1` turn the page into an embed: a live page whose address gains it later stays a
   * page, and goes on following its address). */
  const apply = (hash, atLoad = false) => {
    applying = true;
    const state = decode(hash);
    present(state.page.present === '1');
    linear.setConfig(state.linear);
    if (state.page.backend) $('f-backend').value = state.page.backend;
    lab.setState({ config: state.transformer, preset: state.page.preset, backend: state.page.backend });
    applying = false;
    show(state.lab);
    const box = $('url-notice');
    box.hidden = state.ignored.length === 0;
    box.textContent = ignoredNotice(state.ignored);
    if (state.page.embed === '1' && atLoad) enterEmbed(state);
  };
  const enterEmbed = (state) => {
    const figures = state.lab === 'transformer' ? lab.figures : linear.figures;
    const rows = linear.controls.rows;
    const plots = (state.page.plots ?? '').split(',').filter((n) => Object.hasOwn(figures, n));
    const paths = (state.page.controls ?? '').split(',').filter((p) => rows.get(p)?.field);
    embed = { plots: plots.length ? plots : ['finetuned'], controls: state.lab === 'linear' ? (paths.length ? paths : ['pretrain.steps']) : [] };
    document.body.classList.add('embed');
    for (const [name, fig] of Object.entries(figures)) fig.classList.toggle('embed-hidden', !embed.plots.includes(name));
    const strip = $('embed-strip');
    strip.hidden = false;
    for (const p of embed.controls) strip.querySelector('.strip-controls').append(rows.get(p).row);
    const full = new URL(location.href);
    full.hash = full.hash.replace(/&?embed=1/, '');
    strip.querySelector('a').href = full.href;
    syncHash();
  };
  // Counts the hashes applied (load and every change), for tests to wait on.
  const applied = () => { document.body.dataset.hashApplied = String(Number(document.body.dataset.hashApplied || 0) + 1); };
  window.addEventListener('hashchange', () => {
    if (!embed) { apply(location.hash); linear.update(); applied(); }
  });
  $('share-open').addEventListener('click', () => shareDialog.open(location.href, sharedPlots()));

  // Guided exercises: set a lab up, show its plot, then check an answer against the
  // student's own run (the wasm's exercises, www/exercise-panel.js).
  const openExercises = (open) => {
    $('exercises').hidden = !open;
    $('exercises-open').setAttribute('aria-expanded', String(open));
    if (!open) activate(null);
  };
  $('exercises-open').addEventListener('click', () => openExercises($('exercises').hidden));
  $('exercises-all').addEventListener('click', () => { activate(null); $('exercises').scrollIntoView(); });
  /** Scrolls to an exercise's plot and highlights it, so that question and plot are on
   * one screen (beside each other on a wide one: the panel docks, style.css). */
  const showPlot = (ex) => {
    const figures = ex.lab === 'linear' ? linear.figures : lab.figures;
    const fig = figures[ex.plot];
    // A transformer plot is hidden until there is a run to draw: then Start is the goal.
    const target = fig && !fig.hidden ? fig : $('tx-start');
    target.scrollIntoView({ block: 'start' });
    if (target !== fig) return;
    fig.tabIndex = -1;
    fig.focus({ preventScroll: true });
    fig.classList.remove('highlight');
    void fig.offsetWidth; // restart the animation
    fig.classList.add('highlight');
  };
  buildExercises($('exercise-list'), {
    setup: (ex) => {
      show(ex.lab);
      if (ex.lab === 'linear') {
        linear.setConfig(exercise_setup(ex.id, structuredClone(defaults)));
        linear.update();
      } else {
        lab.setState({ config: structuredClone(lab.presets[ex.preset]), preset: ex.preset });
      }
      showPlot(ex);
    },
    results: (ex) => (ex.lab === 'linear' ? linear.results : lab.results),
  });
  $('worksheet-print').addEventListener('click', async () => {
    const say = (text) => { $('worksheet-status').textContent = text; };
    $('worksheet-print').disabled = true;
    try {
      await prepareWorksheet({ defaults, status: say });
      window.print();
    } catch (e) {
      say(`The worksheet could not be prepared: ${e?.message ?? e}`);
    } finally {
      $('worksheet-print').disabled = false;
    }
  });
  wireGlossary();
  wireSettingsPanels();

  // (Read before applying: the page rewrites the hash, and `exercise` is not kept in it.)
  const wanted = exerciseById(decode(location.hash).page.exercise ?? '');
  apply(location.hash, true);
  if (wanted) { openExercises(true); $(`exercise-${wanted.id}`).scrollIntoView(); }
  linear.update();
  applied();
}

/**
 * The labs' settings on a narrow screen (a phone): a panel the reader opens with its
 * "Settings" button (aria-expanded), closed at first, so that the plots and the run's
 * buttons come first. On a wide screen the settings are a column beside the plots and the
 * button is not shown (style.css).
 */
function wireSettingsPanels() {
  const narrow = matchMedia('(max-width: 900px)');
  for (const button of document.querySelectorAll('.controls-toggle')) {
    const section = button.closest('.controls');
    const set = (open) => {
      section.classList.toggle('collapsed', !open);
      button.setAttribute('aria-expanded', String(open));
    };
    button.addEventListener('click', () => set(section.classList.contains('collapsed')));
    set(!narrow.matches);
    narrow.addEventListener('change', (e) => set(!e.matches));
  }
}

main().catch((e) => fatal(e?.message ?? String(e)));
