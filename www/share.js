// The "Share / Embed" dialog: the link to the current state, and a ready <iframe> snippet
// that embeds chosen plots of it in a blog post (embed=1: plots and a compact control strip
// only, sized to the frame). Values are set as text, never as HTML.

function el(tag, props = {}) {
  return Object.assign(document.createElement(tag), props);
}

/** The iframe snippet for a page URL (its hash holds the state) and one plot. */
export function embedSnippet(href, plot) {
  const url = new URL(href);
  const hash = url.hash.replace(/^#/, '').split('&').filter((p) => !/^(embed|plots|controls)=/.test(p));
  hash.push('embed=1', `plots=${plot}`);
  url.hash = hash.join('&');
  const src = url.href.replace(/"/g, '%22');
  return `<iframe src="${src}" width="640" height="460" style="border:0;max-width:100%" title="overtrain: catastrophic overtraining, live" loading="lazy"></iframe>`;
}

class ShareDialog {
  #build() {
    const d = el('dialog', { className: 'share', id: 'share-dialog' });
    d.setAttribute('aria-labelledby', 'share-title');
    const title = el('h2', { id: 'share-title', textContent: 'Share or embed this simulation' });
    const link = el('input', { id: 'share-link', readOnly: true });
    const plot = el('select', { id: 'share-plot' });
    const snippet = el('textarea', { id: 'share-snippet', readOnly: true });
    const copy = (input) => () => { input.select(); navigator.clipboard?.writeText(input.value).catch(() => {}); };
    const buttons = el('div', { className: 'buttons' });
    buttons.append(
      el('button', { type: 'button', textContent: 'Copy link', onclick: copy(link) }),
      el('button', { type: 'button', textContent: 'Copy snippet', onclick: copy(snippet) }),
      el('button', { type: 'button', textContent: 'Close', onclick: () => d.close() }),
    );
    const label = (text, input) => el('label', { textContent: text, htmlFor: input.id });
    d.append(title,
      label('Link to exactly these settings', link), link,
      label('Plot to embed', plot), plot,
      label('Paste into your blog post (HTML)', snippet), snippet,
      el('p', { className: 'hint', textContent: 'The embedded simulator runs in the reader\'s browser, loads nothing from other sites, and offers a link to the full page.' }),
      buttons);
    plot.addEventListener('change', () => { snippet.value = embedSnippet(this.href, plot.value); });
    document.body.append(d);
    Object.assign(this, { d, link, plot, snippet });
  }

  /** Keeps an open dialog in step with the page's state; `plots`: the current lab's plot
   * names, the one to offer first first. */
  update(href, plots) {
    this.href = href;
    if (!this.d?.open) return;
    this.#fill(plots);
  }

  #fill(names) {
    if ([...this.plot.options].map((o) => o.value).join() !== names.join()) {
      this.plot.replaceChildren(...names.map((n) => el('option', { value: n, textContent: n })));
    }
    const url = new URL(this.href);
    url.hash = url.hash.replace(/^#/, '').split('&').filter((p) => !/^(embed|plots|controls)=/.test(p)).join('&');
    this.link.value = url.href;
    this.snippet.value = embedSnippet(this.href, this.plot.value);
  }

  open(href, plots) {
    if (!this.d) this.#build();
    this.href = href;
    this.#fill(plots);
    this.d.showModal();
  }
}

export const shareDialog = new ShareDialog();
