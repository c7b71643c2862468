// Completed and unfinished transformer experiments, kept in this browser (IndexedDB):
// {id, created, label, config (JSON text), backend, status: 'running' | 'done' |
// 'cancelled' | 'failed', budgets, finished, results (JSON text or null), checkpoints
// ([Uint8Array] of safetensors)}. A record left 'running' by a reload is an interrupted
// experiment the page offers to resume.

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
