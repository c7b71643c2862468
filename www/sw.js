// The service worker that makes the page work offline after one visit. build_site
// (scripts/common.sh) copies it to the site's root (a worker's scope is its folder and
// below, and the page is the root's index.html) and fills in the build's version and its
// list of files.
//
// Every file of one build is precached in one cache named by that build's version, and
// served from it; so a page always gets the JS, the wasm and the recorded runs of one
// build — never a new JS with a stale wasm. A new build is a new sw.js (its version
// differs): the browser installs it beside the old one, it precaches the new build, and it
// takes over only when the page asks (www/offline.js: at once when nothing would be lost,
// else when the reader presses "Update"); then the old build's cache is deleted.
const VERSION = '__BUILD_VERSION__';
const FILES = __BUILD_FILES__;
const CACHE = `overtrain-${VERSION}`;

self.addEventListener('install', (event) => {
  // `cache: 'reload'`: the files from the server, never from the HTTP cache.
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES.map((f) => new Request(f, { cache: 'reload' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith('overtrain-') && k !== CACHE).map((k) => caches.delete(k)))));
});

self.addEventListener('message', (event) => {
  if (event.data === 'activate') self.skipWaiting();
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // The page is one document whatever its query (`?workers=N`) or hash.
    const key = request.mode === 'navigate' ? new URL('index.html', self.registration.scope).href : request;
    const hit = await cache.match(key, { ignoreSearch: true });
    return hit ?? fetch(request);
  })());
});
