// Offline after one visit: registers the service worker (the site's sw.js, from
// www/sw.js) and applies a new build when one is installed. It applies at once when the
// reader has not touched the page yet (the reload loses nothing: the state is in the URL,
// saved runs in IndexedDB); otherwise it offers an "Update" button, so that a reload never
// interrupts a run or what the reader is doing.

/** `notice(message, actionLabel, action)`: shows a notice with one button. */
export function registerOffline({ notice }) {
  const sw = navigator.serviceWorker;
  // Not on file:// or where the browser has no service workers (some private modes).
  if (!sw || !window.isSecureContext) return;
  let touched = false;
  for (const type of ['pointerdown', 'keydown', 'input']) addEventListener(type, () => { touched = true; }, { once: true, capture: true });
  let asked = false;
  sw.addEventListener('controllerchange', () => { if (asked) location.reload(); });
  const apply = (worker) => { asked = true; worker.postMessage('activate'); };
  const offer = (worker) => {
    if (!touched && !['running', 'paused'].includes(document.body.dataset.experiment)) apply(worker);
    else notice('A new version of overtrain is ready. Your settings are in the address and your saved runs are kept.', 'Update now', () => apply(worker));
  };
  sw.register('sw.js').then((reg) => {
    // A new build found: installed beside the one that serves this page (only when a
    // build already serves it; the first install needs no reload).
    const watched = new Set();
    const watch = (worker) => {
      if (!worker || watched.has(worker)) return;
      watched.add(worker);
      worker.addEventListener('statechange', () => {
        if (worker.state === 'installed' && sw.controller) offer(worker);
      });
    };
    if (reg.waiting && sw.controller) offer(reg.waiting);
    watch(reg.installing);
    reg.addEventListener('updatefound', () => watch(reg.installing));
  }).catch(() => {
    // No service worker (storage blocked, a host that serves sw.js wrongly): the page works
    // as before, online only.
  });
}
