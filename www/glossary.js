// The page's words for students: the glossary panel (index.html, #glossary) and the links
// to it from captions and controls, and failures said in one plain sentence with their
// technical details behind a disclosure. Text only: nothing here is parsed as HTML.

/** The glossary entry (index.html, #glossary-…) of each word the wasm's captions use. */
const TERM_OF = {
  inflection: 'inflection',
  sensitivity: 'sensitivity',
  sensitive: 'sensitivity',
  'tokens per parameter': 'tokens-per-parameter',
  'synthetic language': 'synthetic-language',
  γ: 'gamma',
  η: 'eta',
  η_ft: 'eta',
  λ: 'lambda',
};

/** The controls whose meaning the glossary explains, by lab and field path. */
const CONTROL_TERMS = {
  linear: { 'perturb.gammas': 'gamma', 'finetune.lrs': 'eta', 'finetune.l2': 'lambda' },
  transformer: {
    'perturb.gammas': 'gamma',
    'finetune.lrs': 'eta',
    'finetune.l2': 'lambda',
    'finetune.task': 'tasks',
    'pretrain.budgets': 'tokens-per-parameter',
  },
};

function termLink(id, words) {
  const a = document.createElement('a');
  a.href = `#glossary-${id}`;
  a.className = 'term';
  a.dataset.term = id;
  a.textContent = words;
  return a;
}

/**
 * `text` as nodes, with the first mention of each glossary term as a link to it: terms
 * marked [[id|words]] (the page's fixed texts) and the wasm's words for them (captions).
 */
export function glossaryText(text) {
  const out = [];
  const seen = new Set();
  // \b only knows ASCII letters: the Greek letters are matched on their own.
  const pattern = /\[\[([a-z-]+)\|([^\]]+)\]\]|\b(inflection|sensitivity|sensitive|tokens per parameter|synthetic language)\b|(η_ft|γ|η|λ)/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    const words = m[2] ?? m[3] ?? m[4];
    const id = m[1] ?? TERM_OF[words];
    if (seen.has(id) && !m[1]) continue; // the wasm's later mentions stay plain text
    out.push(text.slice(last, m.index));
    out.push(seen.has(id) ? words : termLink(id, words));
    seen.add(id);
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

/** Adds "What is …?" links to the glossary under the controls it explains. */
export function linkControls(form, lab) {
  for (const [path, id] of Object.entries(CONTROL_TERMS[lab])) {
    const r = form.rows.get(path);
    if (!r) continue;
    const term = document.getElementById(`glossary-${id}`)?.querySelector('dfn')?.textContent ?? id;
    // A line of its own under the field's help (which stays the schema's text).
    const line = document.createElement('div');
    line.className = 'glossary-link';
    line.append(termLink(id, `What is ${term === 'fine-tuning tasks' ? 'a fine-tuning task' : term}?`));
    r.row.insertBefore(line, r.error);
  }
}

/** Opens the glossary at a term: shown, scrolled to, highlighted and focused. */
export function openTerm(id) {
  const panel = document.getElementById('glossary');
  panel.hidden = false;
  document.getElementById('glossary-open')?.setAttribute('aria-expanded', 'true');
  const entry = document.getElementById(`glossary-${id}`) ?? panel;
  entry.scrollIntoView({ block: 'center' });
  entry.classList.remove('highlight');
  void entry.offsetWidth; // restart the highlight's animation
  entry.classList.add('highlight');
  entry.focus({ preventScroll: true });
}

/**
 * Wires the glossary: its button (aria-expanded) and every link to a term, anywhere in
 * the page. A term link opens the panel instead of following its #fragment, which would
 * replace the URL hash that holds the page's state.
 */
export function wireGlossary() {
  const button = document.getElementById('glossary-open');
  const panel = document.getElementById('glossary');
  button.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    button.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) panel.scrollIntoView({ block: 'start' });
  });
  document.getElementById('glossary-close').addEventListener('click', () => {
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    button.focus();
  });
  document.addEventListener('click', (e) => {
    const a = e.target.closest?.('a[href^="#glossary-"]');
    if (!a) return;
    e.preventDefault();
    openTerm(a.getAttribute('href').slice('#glossary-'.length));
  });
}

/**
 * Fills `box` with one plain sentence and, when there are technical details (a raw
 * adapter error), a <details> disclosure holding them.
 */
export function plainWithDetails(box, sentence, details) {
  box.replaceChildren(sentence);
  if (!details) return;
  const d = document.createElement('details');
  d.className = 'technical';
  const s = document.createElement('summary');
  s.textContent = 'Details';
  const pre = document.createElement('p');
  pre.textContent = details;
  d.append(s, pre);
  box.append(' ', d);
}
