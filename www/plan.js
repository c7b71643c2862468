// An experiment's units of work as the page sees them, to order them over the worker pool
// and to estimate the time of a run on N workers. The wasm's ExperimentSchedule decides
// which units exist and when each is ready, and the results never depend on the order the
// units run in (each is a pure function of its input); this module only mirrors the plan's
// shape and each unit's work (src/experiment/plan.rs: `plan`, `Unit::work`, `Unit::needs`)
// to choose among the ready units, so a drift from the Rust side could cost time, never
// change a number. tests/e2e/plan.test.mjs checks the mirror against the wasm.
//
// Units, as the schedule writes them: {kind: 'stable' | 'pretrain' | 'perturb' |
// 'finetune', budget, l2?, lr?, seed?}.

const KIND_ORDER = { stable: 0, pretrain: 1, perturb: 2, finetune: 3 };
/** Evaluation costs about a third of a training step per batch (plan.rs EVAL_COST). */
const EVAL_COST = 1 / 3;

/** A unit's name: `pretrain/2`, `finetune/2/l2-0/lr-1/seed-2` (plan.rs `Unit::id`). */
export function unitKey(u) {
  return u.kind === 'finetune' ? `finetune/${u.budget}/l2-${u.l2}/lr-${u.lr}/seed-${u.seed}` : `${u.kind}/${u.budget}`;
}

/** Compares two units in the plan's order (budget by budget; stable, pre-training,
 * perturbation, then fine-tuning by λ, learning rate and seed). */
export function planOrder(a, b) {
  return a.budget - b.budget || KIND_ORDER[a.kind] - KIND_ORDER[b.kind]
    || (a.l2 ?? 0) - (b.l2 ?? 0) || (a.lr ?? 0) - (b.lr ?? 0) || (a.seed ?? 0) - (b.seed ?? 0);
}

const tokensPerStep = (c) => c.batch * c.model.ctx;
const budgetSteps = (c, b) => Math.ceil(c.pretrain.budgets[b] / tokensPerStep(c));
const decaySteps = (total, fraction) => Math.min(Math.max(Math.round(total * fraction), 1), Math.max(total, 1));
const branchAt = (c, b) => budgetSteps(c, b) - decaySteps(budgetSteps(c, b), c.pretrain.decay_fraction);

/** A unit's work in training-step equivalents (plan.rs `Unit::work`). */
export function unitWork(c, u) {
  const evals = c.eval_batches * EVAL_COST;
  switch (u.kind) {
    case 'stable':
      return Math.max(0, branchAt(c, u.budget) - (u.budget === 0 ? 0 : branchAt(c, u.budget - 1)));
    case 'pretrain': {
      const s = budgetSteps(c, u.budget);
      return (c.pretrain.protocol === 'wsd' ? decaySteps(s, c.pretrain.decay_fraction) : s) + evals;
    }
    case 'perturb':
      return c.perturb.gammas.length * c.perturb.draws * evals;
    default:
      return c.finetune.steps + 2 * evals;
  }
}

/** The unit `u` starts from, or null (plan.rs `Unit::needs`). */
export function unitNeeds(c, u) {
  if (u.kind === 'stable') return u.budget === 0 ? null : { kind: 'stable', budget: u.budget - 1 };
  if (u.kind === 'pretrain') return c.pretrain.protocol === 'wsd' ? { kind: 'stable', budget: u.budget } : null;
  return { kind: 'pretrain', budget: u.budget };
}

/**
 * The work from the start of unit `u` to the end of the longest chain of units that need
 * it, in training-step equivalents (its "bottom level"): wsd's stable phase b leads to the
 * next stable phase and to budget b's decay, a pre-trained model to its perturbation and
 * fine-tuning runs.
 */
export function unitLevel(c, u) {
  const work = unitWork(c, u);
  const b = u.budget;
  switch (u.kind) {
    case 'stable': {
      const decay = unitLevel(c, { kind: 'pretrain', budget: b });
      let chain = 0;
      // The stable phases after this one, iteratively (a long chain of budgets).
      for (let next = b + 1, before = 0; next < c.pretrain.budgets.length; next++) {
        before += unitWork(c, { kind: 'stable', budget: next });
        chain = Math.max(chain, before + unitWork(c, { kind: 'pretrain', budget: next }) + after(c));
      }
      return work + Math.max(decay, chain);
    }
    case 'pretrain':
      return work + after(c);
    default:
      return work;
  }
}

/** The longest unit that starts from a pre-trained model. */
function after(c) {
  const perturb = unitWork(c, { kind: 'perturb', budget: 0 });
  const f = c.finetune;
  const finetune = f.l2.length * f.lrs.length * f.seeds > 0 ? unitWork(c, { kind: 'finetune', budget: 0 }) : 0;
  return Math.max(perturb, finetune);
}

/** Every unit of config `c` a run still has to do, in plan order; `skip`: budgets already
 * finished (a resumed run), whose units are not run again — except wsd's stable phases. */
export function planUnits(c, skip = 0) {
  const units = [];
  const f = c.finetune;
  for (let budget = 0; budget < c.pretrain.budgets.length; budget++) {
    if (c.pretrain.protocol === 'wsd') units.push({ kind: 'stable', budget });
    if (budget < skip) continue;
    units.push({ kind: 'pretrain', budget }, { kind: 'perturb', budget });
    for (let l2 = 0; l2 < f.l2.length; l2++) {
      for (let lr = 0; lr < f.lrs.length; lr++) {
        for (let seed = 0; seed < f.seeds; seed++) units.push({ kind: 'finetune', budget, l2, lr, seed });
      }
    }
  }
  return units;
}

/**
 * Which ready unit an idle worker takes: the one with the longest chain of work ahead
 * (`unitLevel`) when that chain is long enough to end the run last (its level × `workers` ≥
 * 0.9 × the work not started yet — so the largest pre-training runs and wsd's chain of
 * stable phases start early and the workers finish together), else the first in the plan's
 * order (so budgets finish, and partial results come, in order and early). One worker takes
 * them in the plan's order, as one worker always did. `ready`: entries {unit, level};
 * `remaining`: the work of every unit not started yet (ready or not).
 */
export function pickUnit(ready, remaining, workers) {
  let first = ready[0];
  let longest = ready[0];
  for (const e of ready) {
    if (planOrder(e.unit, first.unit) < 0) first = e;
    if (e.level > longest.level || (e.level === longest.level && planOrder(e.unit, longest.unit) < 0)) longest = e;
  }
  return workers > 1 && longest.level * workers >= 0.9 * remaining ? longest : first;
}

/**
 * The time of a run of config `c` on `workers` workers, in training-step equivalents of
 * one worker: the units handed out by `pickUnit` as they become ready, each taking its work
 * (a list-scheduling simulation; the page's overheads are not in it). `skip` as in
 * `planUnits`.
 */
export function makespan(c, workers, skip = 0) {
  const units = planUnits(c, skip).map((unit) => ({ unit, key: unitKey(unit), need: unitNeeds(c, unit), work: unitWork(c, unit), level: unitLevel(c, unit) }));
  let remaining = units.reduce((s, u) => s + u.work, 0);
  if (workers <= 1 || units.length > 20000) {
    if (workers <= 1) return remaining;
    // Too many units to simulate cheaply: the bound of the longest chain and an even split.
    return Math.max(remaining / workers, ...units.filter((u) => !u.need).map((u) => u.level));
  }
  const done = new Set();
  let waiting = units;
  const running = []; // {u, end}
  let t = 0;
  while (waiting.length || running.length) {
    while (running.length < workers) {
      const ready = waiting.filter((u) => !u.need || done.has(unitKey(u.need)));
      if (!ready.length) break;
      const u = pickUnit(ready, remaining, workers);
      waiting = waiting.filter((w) => w !== u);
      remaining -= u.work;
      running.push({ u, end: t + u.work });
    }
    running.sort((a, b) => a.end - b.end);
    const next = running.shift();
    t = next.end;
    done.add(next.u.key);
  }
  return t;
}
