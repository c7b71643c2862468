// The transformer lab's experiments, kept in this browser (IndexedDB): one record per
// experiment, {id, created, label, config (JSON text), backend, status: 'running' | 'done'
// | 'cancelled' | 'failed', budgets, finished, results (JSON text or null), checkpoints
// ([Uint8Array] of safetensors)}, written as it runs. A record left 'running' by a reload
// is an interrupted experiment the page offers to resume. Also the "Saved in this
// browser" list that shows, resumes and deletes them.
//
// Storage can fail: no IndexedDB, one that throws on open (some private windows), a full
// quota. The labs run all the same; a writer stops at its first failed write and says so
// once (`onError`), and what it wrote before stays whole: every write is one transaction of
// the whole record, so a record read back is always a complete earlier state of its run.
//
// Two tabs share this store. The tab running a record holds a Web Lock named by the
// record's `owner` (a random token written with it) for as long as it writes there, so
// another tab lists it as "running in another tab" — not as interrupted, with no Resume or
// Delete — until the lock is released (the run ends, or its tab closes: then it becomes
// resumable, and only by the one tab that takes its lock). Tabs tell each other of writes
// on a BroadcastChannel, so every tab's list stays current.
//
// `config` and `results` stay JSON text, unlike the objects the page works with: records
// saved by earlier versions of the page hold text and must stay readable, and a record's
// results are the very file the "Results JSON" button downloads (the wasm's
// experiment_results_json, the CLI's format).

const DB = 'overtrain';
const STORE = 'experiments';

function openDb() {
  return new Promise((resolve, reject) => {
    if (!globalThis.indexedDB) throw new DOMException('this browser has no IndexedDB', 'NotSupportedError');
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'id', autoIncrement: true });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function withStore(mode, fn) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req?.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

/** Tells the other tabs of this page that the store changed. */
const channel = globalThis.BroadcastChannel ? new BroadcastChannel('overtrain-saved') : null;
const changed = (value) => { channel?.postMessage('changed'); return value; };

/** Calls `fn()` whenever another tab changes the store. */
export function onChangedElsewhere(fn) {
  channel?.addEventListener('message', () => fn());
}

export const store = {
  /** Saves a record (new without `id`); resolves to its id. */
  put: (record) => withStore('readwrite', (s) => s.put(record)).then(changed),
  all: () => withStore('readonly', (s) => s.getAll()),
  get: (id) => withStore('readonly', (s) => s.get(id)),
  remove: (id) => withStore('readwrite', (s) => s.delete(id)).then(changed),
};

/** Why this browser keeps nothing for the page, from a failed IndexedDB call. */
export function storageProblem(e) {
  if (e?.name === 'QuotaExceededError') return 'the browser\'s storage for this page is full';
  return 'this browser does not let the page keep data (a private window, or site data blocked)';
}

/** A new record of an experiment about to start. */
export function newRecord({ label, config, backend, budgets }) {
  const owner = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return { created: Date.now(), owner, label, config, backend, status: 'running', budgets, finished: 0, results: null, checkpoints: [] };
}

// --- Which tab runs a record: Web Locks ---

const locks = globalThis.navigator?.locks ?? null;

/** The name of the lock held by the tab that runs `record` (records saved before owners
 * existed: by their id). */
export const lockName = (record) => (record.owner ? `overtrain-run-${record.owner}` : `overtrain-record-${record.id}`);

/**
 * Takes lock `name` if no tab holds it: resolves to a function that releases it, or to
 * null when another tab holds it. Without Web Locks (a page not served from a secure
 * context) there is nothing to take: every record counts as free.
 */
export function takeLock(name) {
  if (!locks) return Promise.resolve(() => {});
  return new Promise((resolve) => {
    locks.request(name, { ifAvailable: true }, (lock) => {
      if (!lock) { resolve(null); return undefined; }
      return new Promise((release) => resolve(release));
    }).catch(() => resolve(() => {}));
  });
}

/** The names of the locks any tab of this page holds now. */
async function heldLocks() {
  if (!locks) return new Set();
  try {
    return new Set((await locks.query()).held.map((l) => l.name));
  } catch {
    return new Set();
  }
}

/** Locks another tab holds that this tab waits for, to list their records again when
 * that tab's run ends or it closes. */
const awaited = new Set();
function whenReleased(name, fn) {
  if (!locks || awaited.has(name)) return;
  awaited.add(name);
  locks.request(name, () => { awaited.delete(name); setTimeout(fn); }).catch(() => awaited.delete(name));
}

/**
 * Writes one running experiment's record, in order: each `save(change)` merges the change
 * and queues a write of the whole record (the first write gives it its id), after `ready`
 * (the run's lock taken). At the first failed write `onError(e)` is called, once, and
 * nothing more is written: the stored record stays the last complete one.
 */
export class RecordWriter {
  constructor(record, onError, ready = Promise.resolve()) {
    this.record = record;
    this.onError = onError;
    this.failed = null;
    this.written = ready.then(() => undefined);
  }
  save(change = {}) {
    Object.assign(this.record, change);
    this.written = this.written.then(async () => {
      if (this.failed) return;
      try {
        this.record.id = await store.put({ ...this.record });
      } catch (e) {
        this.failed = e;
        this.onError(e);
      }
    });
    return this.written;
  }
}

/**
 * Fills `list` (a <ul>) with the saved experiments, newest first: each with Show (when it
 * has results), Resume (unfinished, when nothing runs) and Delete (neither this tab's
 * running one nor one another tab runs). `running`: the id of the record being written
 * now, or null; `busy`: whether an experiment runs; `onShow(record)`, `onResume(record)`;
 * `relist()` after a change; `onUnavailable(e)` when the store cannot be read.
 */
export async function listSaved(list, { running, busy, onShow, onResume, relist, onUnavailable }) {
  let records;
  try {
    records = await store.all();
  } catch (e) {
    list.textContent = `Nothing is kept: ${storageProblem(e)}.`;
    onUnavailable?.(e);
    return;
  }
  const held = await heldLocks();
  list.replaceChildren();
  if (!records.length) {
    const li = document.createElement('li');
    li.textContent = 'Nothing yet: finished and interrupted experiments appear here.';
    list.append(li);
  }
  for (const rec of records.reverse()) {
    const li = document.createElement('li');
    li.dataset.saved = String(rec.id);
    li.dataset.status = rec.status;
    const isRunning = running != null && running === rec.id;
    const elsewhere = rec.status === 'running' && !isRunning && held.has(lockName(rec));
    if (elsewhere) whenReleased(lockName(rec), relist);
    const unfinished = rec.status !== 'done' && !isRunning && !elsewhere;
    const what = rec.status === 'done' ? 'done' : unfinished ? 'unfinished' : elsewhere ? 'running in another tab' : 'running';
    if (elsewhere) li.dataset.status = 'elsewhere';
    const text = document.createElement('div');
    text.textContent = `${new Date(rec.created).toLocaleString()} · ${rec.label} · ${rec.finished}/${rec.budgets} budgets · ${what}`;
    li.append(text);
    const button = (label, action, onClick) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.dataset.action = action;
      b.addEventListener('click', onClick);
      li.append(b);
    };
    if (rec.results) button('Show', 'show', () => onShow(rec));
    if (unfinished && !busy) button('Resume', 'resume', () => onResume(rec));
    if (!isRunning && !elsewhere) {
      button('Delete', 'delete', async () => {
        // Not while another tab has just resumed it.
        const release = await takeLock(lockName(rec));
        try {
          if (release) await store.remove(rec.id);
        } catch {
          // Not removed: the list shows it still.
        } finally {
          release?.();
        }
        relist();
      });
    }
    list.append(li);
  }
}
