// The plots' figures, and the numbers behind every plot, as columns per checkpoint (linear
// lab) or per budget (transformer lab): shown as an HTML table under each plot (built with
// textContent only) and exported as CSV (www/exports.js).
import { glossaryText } from './glossary.js';

/**
 * An empty <figure> for plot `name` of lab `lab` ('linear' | 'tx'): the SVG holder and a
 * caption {title, axes}. The caption has two parts: `axes`, fixed text about what is
 * always true (what the axes and marks are), and a paragraph that `setCaption` fills with
 * what this run shows (the wasm's words, computed from the results). The plot's image
 * is described by both (aria-describedby), so a screen reader hears what a reader sees.
 */
/**
 * The size the wasm draws charts at, and presentation mode. The page shows charts two to a
 * row, each about 460 px wide at 1400 px: drawn 400 wide, their smallest text (13 px in the
 * chart's style) stays at 12 px or more on screen. Presentation mode (a projector, one
 * chart to a row, about 800 px wide at 1280 × 720) draws them 640 wide with its larger
 * text, which shows at 18 px or more.
 */
export function plotOptions(presentation) {
  return presentation ? { width: 640, height: 400, presentation: true } : { width: 400, height: 340 };
}

export function plotFigure(name, spec, lab = 'linear') {
  const fig = document.createElement('figure');
  fig.className = 'plot';
  fig.dataset.plot = name;
  const id = `${lab}-${name}`;
  fig.id = `plot-${id}`;
  const svg = document.createElement('div');
  svg.className = 'svg';
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', spec.title);
  svg.setAttribute('aria-describedby', `cap-${id} axes-${id}`);
  const cap = document.createElement('figcaption');
  const b = document.createElement('b');
  b.textContent = spec.title;
  const shows = document.createElement('p');
  shows.className = 'shows';
  shows.id = `cap-${id}`;
  shows.textContent = 'Not run yet.';
  const axes = document.createElement('p');
  axes.className = 'axes';
  axes.id = `axes-${id}`;
  axes.append(...glossaryText(spec.axes));
  cap.append(b, shows, axes);
  fig.append(svg, cap);
  return fig;
}

/**
 * Puts the wasm's caption of a run ({text, shows_effect}) under its figure: what this
 * run's numbers show. `shows_effect` (true, false, or null for plots without an effect to
 * show) is kept on the figure for styling and tests; words of the glossary link to it.
 */
export function setCaption(fig, caption, prefix = '') {
  const p = fig.querySelector('p.shows');
  const text = caption?.text ?? '';
  // After a prefix ("The recorded run: "), the caption's first sentence goes on lower-case.
  p.replaceChildren(...glossaryText(prefix ? `${prefix}${text.charAt(0).toLowerCase()}${text.slice(1)}` : text));
  const effect = caption?.shows_effect;
  if (effect === true || effect === false) fig.dataset.showsEffect = String(effect);
  else delete fig.dataset.showsEffect;
}

/** {header: [...], rows: [[...]]} of a linear-lab plot. */
export function linearTable(name, r) {
  const cols = [['step', r.steps]];
  if (name === 'sensitivity') {
    cols.push(['pretrain_loss', r.pretrain_loss]);
    for (const p of r.perturb) cols.push([`sensitivity_gamma_${p.gamma}`, p.sensitivity]);
  } else if (name === 'perturbed') {
    for (const p of r.perturb) {
      cols.push([`perturbed_loss_gamma_${p.gamma}`, p.mean_loss], [`se_gamma_${p.gamma}`, p.mean_loss_se], [`expected_gamma_${p.gamma}`, p.expected_loss]);
    }
  } else if (name === 'finetuned') {
    for (const f of r.finetune) {
      cols.push([`pretrain_loss_lr_${f.lr}_l2_${f.l2}`, f.pretrain_loss], [`finetune_loss_lr_${f.lr}_l2_${f.l2}`, f.finetune_loss]);
    }
  } else if (name === 'singular_values') {
    const k = r.singular_values[0]?.length ?? 0;
    for (let i = 0; i < k; i++) cols.push([`direction_${i + 1}`, r.singular_values.map((s) => s[i])]);
  }
  return { header: cols.map((c) => c[0]), rows: r.steps.map((_, i) => cols.map((c) => c[1][i])) };
}

/**
 * {header, rows} of a transformer-lab plot. A sweep's: each value's rows in turn, led by
 * the lever's value (a column the union of every value's columns, empty where a value has
 * none); its `inflection` plot's from `inflections` (the wasm's experiment_inflections).
 */
export function experimentTable(name, r, inflections = null) {
  if (name === 'inflection') return inflectionTable(inflections);
  if (!r.sweep) return oneTable(name, r);
  const lever = r.sweep.field;
  const tables = r.sweep.sections.map((section) => oneTable(name, section));
  const header = [...new Set(tables.flatMap((t) => t.header))];
  const rows = tables.flatMap((t, i) => t.rows.map((row) => [sweepValue(r.sweep.values[i]), ...header.map((h) => row[t.header.indexOf(h)] ?? null)]));
  return { header: [lever, ...header], rows };
}

/** A sweep's value in a cell: a number, a name, or a list's entries apart by spaces. */
const sweepValue = (v) => (Array.isArray(v) ? v.join(' ') : String(v));

/** The inflection plot's table: per value of the lever, its parameters and each family's
 * inflection budget ("none" when its curve has none within the budgets). */
function inflectionTable(inf) {
  if (!inf) return { header: [], rows: [] };
  const header = [inf.field, 'parameters', ...inf.families.map((f) => `inflection_tokens ${f.label}`)];
  const rows = inf.values.map((v, i) => [sweepValue(v), inf.parameters[i], ...inf.families.map((f) => f.budgets[i] ?? 'none')]);
  return { header, rows };
}

/** {header, rows} of a plot of one experiment. */
function oneTable(name, r) {
  const cols = [['budget_tokens', r.budgets]];
  if (name === 'base') cols.push(['pretrain_ppl', r.base.pretrain_ppl]);
  if (name === 'perturbed') {
    for (const p of r.perturb) {
      cols.push([`gamma_${p.gamma}_ppl_mean`, p.pretrain_ppl_mean], [`gamma_${p.gamma}_ppl_std`, p.pretrain_ppl_std], [`gamma_${p.gamma}_change`, p.change_mean]);
    }
  }
  if (name === 'finetuned_change') for (const f of r.finetune) cols.push([`lr_${f.lr}_l2_${f.l2}_pretrain_change`, f.pretrain_change]);
  if (name === 'finetuned') {
    for (const f of r.finetune) {
      const t = `lr_${f.lr}_l2_${f.l2}`;
      cols.push([`${t}_pretrain_ppl`, f.pretrain_ppl], [`${t}_pretrain_ppl_std`, f.pretrain_ppl_std], [`${t}_id_ppl`, f.id_ppl], [`${t}_id_ppl_std`, f.id_ppl_std]);
    }
  }
  if (name === 'tuned') {
    for (const t of r.tuned) cols.push([`l2_${t.l2}_lr`, t.lr], [`l2_${t.l2}_pretrain_ppl`, t.pretrain_ppl], [`l2_${t.l2}_id_ppl`, t.id_ppl]);
  }
  return { header: cols.map((c) => c[0]), rows: r.budgets.map((_, i) => cols.map((c) => c[1][i])) };
}

const cell = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : String(v));

/** A <details> holding the table, for keyboard and screen-reader users. */
export function tableView({ header, rows }, caption) {
  const details = document.createElement('details');
  details.className = 'table-view';
  const summary = document.createElement('summary');
  summary.textContent = 'Table of the numbers';
  const wrap = document.createElement('div');
  wrap.className = 'table-wrap';
  const table = document.createElement('table');
  const cap = document.createElement('caption');
  cap.textContent = caption;
  const thead = document.createElement('thead');
  const tr = document.createElement('tr');
  for (const h of header) { const th = document.createElement('th'); th.scope = 'col'; th.textContent = h; tr.append(th); }
  thead.append(tr);
  const tbody = document.createElement('tbody');
  for (const row of rows) {
    const r = document.createElement('tr');
    for (const v of row) { const td = document.createElement('td'); td.textContent = cell(v); r.append(td); }
    tbody.append(r);
  }
  table.append(cap, thead, tbody);
  wrap.append(table);
  details.append(summary, wrap);
  return details;
}
