// The field schema the wasm exports (`field_schema()`) drives both labs' forms: every field
// is shown once, with the schema's label, help and allowed range, and the preset list is
// the schema's.
import { test } from './bounded.mjs';
import assert from 'node:assert/strict';
import { startServer, launch, openPage } from './harness.mjs';

/** The interval a field allows, as a reader writes it: "(0, 10]", "[1, 1 000 000]" (thousands
 * apart by a narrow no-break space). */
const num = (x) => x.toLocaleString('en-US', { maximumFractionDigits: 20 }).replace(/,/g, '\u202f');
const interval = (f) => `${f.min_open ? '(' : '['}${num(f.min)}, ${num(f.max)}]`;

test('labels, help and ranges from field_schema() are shown in both labs\' forms', async () => {
  const server = await startServer();
  const browser = await launch({ webgpu: false });
  try {
    const { page, problems } = await openPage(browser, server.url);
    await page.waitForFunction(() => Number(document.getElementById('plots').dataset.rendered || 0) > 0, null, { timeout: 60_000 });
    // The schema as the page's own wasm module gives it.
    const schema = await page.evaluate(async () => {
      const wasm = await import(new URL('./www/pkg/overtrain.js', location.href));
      await wasm.default(); // the page may still be loading it: initialise (once) before use
      return wasm.field_schema();
    });
    for (const [lab, form] of [['linear', '#controls'], ['transformer', '#tx-controls']]) {
      const fields = schema[lab].flatMap((g) => g.fields);
      assert.ok(fields.length > 10, `${lab}: the schema has its fields`);
      const shown = await page.$$eval(`${form} .field[data-field]`, (rows) => rows.map((r) => ({
        path: r.dataset.field,
        label: r.querySelector('label').textContent,
        labelFor: r.querySelector('label').htmlFor,
        control: r.querySelector('input, select, textarea')?.id,
        help: r.querySelector('.help')?.textContent ?? null,
        range: r.querySelector('.range')?.textContent ?? null,
      })));
      const byPath = new Map(shown.map((s) => [s.path, s]));
      const legends = await page.$$eval(`${form} fieldset > legend`, (ls) => ls.map((l) => l.textContent));
      for (const g of schema[lab]) assert.ok(legends.includes(g.title), `${lab}: group "${g.title}" is shown`);
      let ranged = 0;
      for (const f of fields) {
        const row = byPath.get(f.path);
        assert.ok(row, `${lab}: ${f.path} has a control`);
        assert.equal(row.label, f.label, `${lab}: ${f.path} is labelled as the schema says`);
        assert.equal(row.labelFor, row.control, `${lab}: ${f.path}'s label belongs to its control`);
        if (f.help) assert.equal(row.help, f.help, `${lab}: ${f.path}'s help`);
        if (f.min != null && f.max != null) {
          ranged++;
          assert.ok(row.range?.includes(interval(f)), `${lab}: ${f.path} shows its range ${interval(f)}, got ${row.range}`);
        }
      }
      assert.ok(ranged > 0, `${lab}: some field has a range`);
    }
    // A transformer field's label is plain language, not its config key.
    const dff = schema.transformer.flatMap((g) => g.fields).find((f) => f.path === 'model.d_ff');
    assert.notEqual(await page.textContent('label[for="x-model-d_ff"]'), 'd ff');
    assert.equal(await page.textContent('label[for="x-model-d_ff"]'), dff.label);
    // The preset list is the schema's.
    // (Named without the schema's rough time; the selected one gets this machine's time.)
    const options = await page.$$eval('#tx-preset option', (os) => os.map((o) => [o.value, o.textContent]));
    assert.deepEqual(options.map(([v]) => v), schema.presets.map((p) => p.name));
    options.forEach(([, text], i) => assert.ok(text.startsWith(schema.presets[i].label.replace(/\s*\(.*$/, '')), text));
    assert.ok(options.every(([, text]) => !/\((seconds|minutes)\)/.test(text)), 'no fixed times');
    assert.deepEqual(problems, { consoleErrors: [], pageErrors: [], foreignRequests: [] });
  } finally {
    await browser.close();
    await server.close();
  }
});
