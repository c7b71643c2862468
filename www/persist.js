// The transformer lab's experiments, kept in this browser (IndexedDB): one record per
// experiment, {id, created, label, config (JSON text), backend, status: 'running' | 'done'
// | 'cancelled' | 'failed', budgets, finished, results (JSON text or null), checkpoints
// ([Uint8Array] of safetensors)}, written as it runs. A record left 'running' by a reload
// is an interrupted experiment the page offers to resume. Also the "Saved in this
// browser" list that shows, resumes and deletes them.
//
// `config` and `results` stay JSON text, unlike the objects the page works with: records
// saved by earlier versions of the page hold text and must stay readable, and a record's
// results are the very file the "Results JSON" button downloads (the wasm's
// experiment_results_json, the CLI's format).

const DB = 'overtrain';
const STORE = 'experiments';

function openDb() {
  return new Promise((resolve, reject) => {
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

export const store = {
  /** Saves a record (new without `id`); resolves to its id. */
  put: (record) => withStore('readwrite', (s) => s.put(record)),
  all: () => withStore('readonly', (s) => s.getAll()),
  get: (id) => withStore('readonly', (s) => s.get(id)),
  remove: (id) => withStore('readwrite', (s) => s.delete(id)),
};

/** A new record of an experiment about to start. */
export function newRecord({ label, config, backend, budgets }) {
  return { created: Date.now(), label, config, backend, status: 'running', budgets, finished: 0, results: null, checkpoints: [] };
}

/**
 * Writes one running experiment's record, in order: each `save(change)` merges the change
 * and queues a write of the whole record (the first write gives it its id).
 */
export class RecordWriter {
  constructor(record, onError) {
    this.record = record;
    this.onError = onError;
    this.written = Promise.resolve();
  }
  save(change = {}) {
    Object.assign(this.record, change);
    this.written = this.written
      .then(() => store.put({ ...this.record }))
      .then((id) => { this.record.id = id; })
      .catch((e) => this.onError(e));
    return this.written;
  }
}

/**
 * Fills `list` (a <ul>) with the saved experiments, newest first: each with Show (when it
 * has results), Resume (unfinished, when nothing runs) and Delete (not the running one).
 * `running`: the id of the record being written now, or null; `busy`: whether an
 * experiment runs; `onShow(record)`, `onResume(record)`; `relist()` after a deletion.
 */
export async function listSaved(list, { running, busy, onShow, onResume, relist }) {
  let records;
  try {
    records = await store.all();
  } catch {
    list.textContent = 'This browser does not keep data for this page.';
    return;
  }
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
    const unfinished = rec.status !== 'done' && !isRunning;
    const what = rec.status === 'done' ? 'done' : unfinished ? 'unfinished' : 'running';
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
    if (!isRunning) {
      button('Delete', 'delete', async () => {
        await store.remove(rec.id);
        relist();
      });
    }
    list.append(li);
  }
}
