// The field schema of both labs' configs, exported by the wasm (`field_schema()`): groups
// of fields with a plain-language label, help, kind and allowed range, and the transformer
// lab's presets. It drives both forms (www/controls.js), the URL state (www/state.js) and
// the preset list.
import { field_schema } from './pkg/overtrain.js';

/** {linear: [group], transformer: [group], presets: [{name, label, config}]}. */
export function loadSchema() {
  return field_schema();
}

/** The allowed range of a field as the forms show it, e.g. "(0, 10]", "≥ 1"; or null. */
export function rangeText(field) {
  if (field.min == null && field.max == null) return null;
  const min = numberText(field.min);
  const max = numberText(field.max);
  const lo = field.min_open ? '(' : '[';
  let text;
  if (field.min != null && field.max != null) text = `${lo}${min}, ${max}]`;
  else if (field.min != null) text = `${field.min_open ? '>' : '≥'} ${min}`;
  else text = `≤ ${max}`;
  if (field.kind === 'list') return `each in ${text}`;
  if (field.kind === 'int') return `${text}, whole numbers`;
  return text;
}

/** A bound as a reader writes it, thousands apart by a narrow space: 10 000 000 000, 0.005. */
export function numberText(x) {
  return x == null ? '' : x.toLocaleString('en-US', { maximumFractionDigits: 20 }).replace(/,/g, '\u202f');
}
