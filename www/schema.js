// The field schema of both labs' configs, exported by the wasm (`field_schema()`): groups
// of fields with a plain-language label, help, kind and allowed range, and the transformer
// lab's presets. It drives both forms (www/controls.js), the URL state (www/state.js) and
// the preset list. Plus the few helpers every user of it needs.
import * as wasm from './pkg/overtrain.js';

/** {linear: [group], transformer: [group], presets: [{name, label, config}]}. */
export function loadSchema() {
  if (typeof wasm.field_schema === 'function') return JSON.parse(wasm.field_schema());
  return legacySchema();
}

/** Every field of one lab's groups, by path. */
export function fieldMap(groups) {
  return new Map(groups.flatMap((g) => g.fields).map((f) => [f.path, f]));
}

/** The allowed range of a field as the forms show it, e.g. "(0, 10]", "≥ 1"; or null. */
export function rangeText(field) {
  const { min, max } = field;
  if (min == null && max == null) return null;
  const lo = field.min_open ? '(' : '[';
  let text;
  if (min != null && max != null) text = `${lo}${min}, ${max}]`;
  else if (min != null) text = `${field.min_open ? '>' : '≥'} ${min}`;
  else text = `≤ ${max}`;
  if (field.kind === 'list') return `each in ${text}`;
  if (field.kind === 'int') return `${text}, whole numbers`;
  return text;
}

// TEMPORARY: the schema as the page knew it before the wasm exported one (removed when
// field_schema() lands).
function legacySchema() {
  const linear = [
    { title: 'Model and tasks', fields: [
      { path: 'seed', label: 'Seed', kind: 'int', min: 0, help: 'Seeds the random task directions and the noise.' },
      { path: 'dim', label: 'Dimension d', kind: 'int', min: 1, max: 256, slider: [2, 64, 1], help: 'Number of task directions (input = output size).' },
      { path: 'hidden', label: 'Hidden width h', kind: 'int', min: 1, max: 256, slider: [1, 64, 1] },
      { path: 'basis', label: 'Task basis', kind: 'choice', values: ['random', 'identity'], help: 'Shared singular vectors U, V: random rotations, or the identity (every direction independent).' },
      { path: 'init_scale', label: 'Init scale ε', kind: 'number', min: 0, max: 1, help: 'Small balanced start W₁ = W₂ = εI: what makes learning one direction at a time.' },
    ] },
    { title: 'Pre-training (gradient descent on A_pre)', fields: [
      { path: 'pretrain.spectrum', label: 'Spectrum s', kind: 'spectrum', values: ['power', 'flat', 'values'], help: 'Strength of each direction of A_pre.' },
      { path: 'pretrain.lr', label: 'Learning rate η_pt', kind: 'number', min: 0, min_open: true, max: 10, slider: [0.005, 0.2, 0.005] },
      { path: 'pretrain.steps', label: 'Steps T', kind: 'int', min: 1, max: 100000, slider: [100, 5000, 100] },
      { path: 'pretrain.checkpoint_every', label: 'Checkpoint every', kind: 'int', min: 1, help: 'Each checkpoint is perturbed and fine-tuned.' },
    ] },
    { title: 'Fine-tuning (on A_ft, from every checkpoint)', fields: [
      { path: 'finetune.spectrum', label: 'Spectrum f', kind: 'spectrum', values: ['power', 'flat', 'values'], help: 'Strength of each direction of A_ft (same directions as A_pre).' },
      { path: 'finetune.lrs', label: 'Learning rates η_ft', kind: 'list', help: 'Comma-separated; one curve each.' },
      { path: 'finetune.steps', label: 'Steps K', kind: 'int', min: 1, max: 10000, slider: [10, 1000, 10] },
      { path: 'finetune.l2', label: 'Pull to pre-trained λ', kind: 'list', help: 'Comma-separated; λ‖θ − θ₀‖² keeps the model near its checkpoint.' },
    ] },
    { title: 'Gaussian perturbation', fields: [
      { path: 'perturb.gammas', label: 'Noise scales γ', kind: 'list', help: 'Comma-separated; W ← W + γZ, Z standard normal.' },
      { path: 'perturb.samples', label: 'Draws M', kind: 'int', min: 1, max: 1000, slider: [1, 200, 1] },
    ] },
  ];
  const configs = JSON.parse(wasm.experiment_presets());
  const labels = { micro: 'Micro (seconds)', quick: 'Quick (minutes)', paper: 'Paper-like (about 20 minutes on a CPU)' };
  const presets = ['micro', 'quick', 'paper'].map((name) => ({ name, label: labels[name], config: configs[name] }));
  const choices = { 'pretrain.protocol': ['independent', 'wsd'], 'model.norm': ['layernorm', 'rmsnorm'], 'model.mlp': ['gelu', 'swiglu'], 'model.pos': ['learned', 'rope'], 'finetune.task': ['shifted', 'code', 'facts', 'arithmetic', 'user'] };
  const transformer = [];
  const top = { title: 'Experiment', fields: [] };
  transformer.push(top);
  for (const [key, value] of Object.entries(configs.quick)) {
    if (key === 'schema_version') continue;
    const field = (path, k, v) => ({
      path, label: k.replace(/_/g, ' '), help: null, min: null, max: null, min_open: false, slider: null,
      kind: choices[path] ? 'choice' : typeof v === 'boolean' ? 'bool' : Array.isArray(v) ? 'list' : path === 'finetune.user_text' ? 'text' : Number.isInteger(v) ? 'int' : 'number',
      values: choices[path] ?? null,
    });
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      transformer.push({ title: key, fields: Object.entries(value).map(([k, v]) => field(`${key}.${k}`, k, v)) });
    } else top.fields.push(field(key, key, value));
  }
  return { linear, transformer, presets };
}
