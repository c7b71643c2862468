// node:test's `test`, each test bounded by its own timeout: a hung test (a wait that never
// resolves, a page that stopped answering) fails with its name after TEST_TIMEOUT_MS and
// the rest of its file and of the suite still runs. The slowest test, a hash-fuzz seed,
// takes about 45 s alone on 2 cores (95 s on a loaded machine). Every e2e file imports
// `test` from here.
import { test as nodeTest, before, after } from 'node:test';

export const TEST_TIMEOUT_MS = 240_000;

export function test(name, options, fn) {
  if (typeof options === 'function') [options, fn] = [{}, options];
  return nodeTest(name, { timeout: TEST_TIMEOUT_MS, ...options }, fn);
}

export { before, after };
