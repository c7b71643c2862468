#!/usr/bin/env bash
# Benchmark (not a test): training tokens/s of `overtrain train --backend cpu` on its default
# config (the 35k-parameter model, batch 32 × 64 bytes) against the same model and optimizer
# in JAX + optax on the CPU (bench/jax_train.py, the whole step jit-compiled), in one run,
# alternating, and prints medians and the ratio overtrain/JAX.
#   overtrain: the whole process (start-up, data, training, its held-out evaluations, writing
#              the run folder), tokens = steps × 32 × 64, one thread (the CPU path's own);
#   JAX:       STEPS steps timed after 20 warm-up steps (compilation excluded), with XLA's
#              default threads, and restricted to one core (taskset -c 0 plus XLA's
#              single-thread flags); its whole-process time is printed too.
# usage: bench/train_vs_jax.sh [RUNS (default 5)] [STEPS (default 300)]
#   OVERTRAIN_BASE=path/to/another/overtrain adds that binary to every round (before/after).
#   JAX_PYTHON=python3 uses an existing Python with jax and optax; otherwise they are installed with pip
#   into bench/out/jax-venv (the CPU wheel).
source "$(dirname "$0")/../scripts/common.sh"
cd "$ROOT"
runs="${1:-5}"
steps="${2:-300}"
mkdir -p bench/out/train_vs_jax
out=bench/out/train_vs_jax
cargo build --release --quiet --bin overtrain
if [ -z "${JAX_PYTHON:-}" ]; then
  JAX_PYTHON=bench/out/jax-venv/bin/python
  if ! "$JAX_PYTHON" -c 'import jax, optax' 2> /dev/null; then
    say "installing jax (CPU wheel) into bench/out/jax-venv (pip)"
    python3 -m venv bench/out/jax-venv
    bench/out/jax-venv/bin/pip install -q jax optax
  fi
fi
"$TARGET_DIR/release/overtrain" train --print-default-config |
  python3 -c "import json,sys; c=json.load(sys.stdin); c['steps']=$steps; c['eval_every']=min(c['eval_every'], $steps); json.dump(c, sys.stdout)" \
    > "$out/train.json"

say "machine"
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$JAX_PYTHON" -c 'import jax, numpy; print("jax", jax.__version__, "numpy", numpy.__version__)'

now() { date +%s.%N; }
# overtrain_run NAME BINARY: one whole-process run, appends "NAME seconds" to the results.
overtrain_run() {
  local t0 t1
  t0=$(now)
  "$2" train --config "$out/train.json" --out "$out/run-$1" --backend cpu 2> "$out/$1.stderr" > /dev/null ||
    die "$2 failed: $(tail -c 300 "$out/$1.stderr")"
  t1=$(now)
  echo "$1 $(python3 -c "print(round($t1 - $t0, 3))")" >> "$out/results.txt"
}
# jax_run NAME [taskset/env prefix...]: appends "NAME steady_s whole_s" to the results.
jax_run() {
  local name="$1" t0 t1 json
  shift
  t0=$(now)
  json=$("$@" "$JAX_PYTHON" bench/jax_train.py --steps "$steps")
  t1=$(now)
  echo "$name $(echo "$json" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["ms_per_step"] * j["steps"] / 1e3)') $(python3 -c "print(round($t1 - $t0, 3))")" >> "$out/results.txt"
}

: > "$out/results.txt"
per_round=3
[ -n "${OVERTRAIN_BASE:-}" ] && per_round=4
say "$runs rounds of $steps steps, alternating"
for i in $(seq "$runs"); do
  overtrain_run overtrain "$TARGET_DIR/release/overtrain"
  [ -n "${OVERTRAIN_BASE:-}" ] && overtrain_run overtrain_base "$OVERTRAIN_BASE"
  jax_run jax env
  jax_run jax_1thread env XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" taskset -c 0
  echo "round $i: $(tail -n "$per_round" "$out/results.txt" | tr '\n' ';')" >&2
done

python3 - "$out/results.txt" "$steps" <<'PY'
import statistics, sys
steps = int(sys.argv[2])
tokens = steps * 32 * 64
rows = {}
for line in open(sys.argv[1]):
    name, *secs = line.split()
    rows.setdefault(name, []).append([float(s) for s in secs])
med = {name: [statistics.median(col) for col in zip(*r)] for name, r in rows.items()}
print(f"\n{tokens} tokens per run ({steps} steps of 32 × 64), medians of {len(rows['overtrain'])} runs:\n")
print("| implementation | median s | tokens/s |")
print("|---|---|---|")
for name in ["overtrain", "overtrain_base"]:
    if name in med:
        s = med[name][0]
        print(f"| `{name}` train --backend cpu, whole process, 1 thread | {s:.2f} | {tokens / s:,.0f} |")
for name, what in [("jax", "all cores"), ("jax_1thread", "1 core")]:
    s, whole = med[name]
    print(f"| JAX jit, {what}, {steps} steps after warm-up | {s:.2f} | {tokens / s:,.0f} |")
    print(f"| JAX jit, {what}, whole process (import, compile, warm-up) | {whole:.2f} | {tokens / whole:,.0f} |")
# Speed ratios (tokens/s of overtrain over the other), from the medians and, more robust
# on a shared machine whose load changes between rounds, the median of each round's ratio.
print()
ours = [r[0] for r in rows["overtrain"]]
for name in ["jax", "jax_1thread", "overtrain_base"]:
    if name in rows:
        theirs = [r[0] for r in rows[name]]
        paired = statistics.median(t / o for t, o in zip(theirs, ours))
        print(f"overtrain / {name} tokens/s: {med[name][0] / med['overtrain'][0]:.2f}× (medians), "
              f"{paired:.2f}× (median of the rounds' ratios)")
PY
