#!/usr/bin/env bash
# Benchmark (not a test): training tokens/s of `overtrain train --backend cpu` on its default
# config (the 35k-parameter model, batch 32 × 64 bytes) against the same model and optimizer
# in JAX + optax on the CPU (bench/jax_train.py, the whole step jit-compiled), in one run,
# alternating, and prints medians and the ratio overtrain/JAX.
#   overtrain: the whole process (start-up, data, training, its held-out evaluations, writing
#              the run folder), tokens = steps × 32 × 64, on every core (--threads, its
#              default: the other threads join each step's products and attention) and on
#              one (--threads 1, taskset -c 0);
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
# Each binary's own default config (another binary may know other fields), for STEPS steps.
config_of() {
  "$1" train --print-default-config |
    python3 -c "import json,sys; c=json.load(sys.stdin); c['steps']=$steps; c['eval_every']=min(c['eval_every'], $steps); json.dump(c, sys.stdout)"
}
config_of "$TARGET_DIR/release/overtrain" > "$out/train.json"
[ -n "${OVERTRAIN_BASE:-}" ] && config_of "$OVERTRAIN_BASE" > "$out/train-base.json"

say "machine"
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$JAX_PYTHON" -c 'import jax, numpy; print("jax", jax.__version__, "numpy", numpy.__version__)'

now() { date +%s.%N; }
# overtrain_run NAME BINARY [ARGS...]: one whole-process run (ARGS: --threads N, or a
# taskset prefix through OVERTRAIN_PREFIX), appends "NAME seconds" to the results.
overtrain_run() {
  local name="$1" bin="$2" t0 t1
  shift 2
  t0=$(now)
  ${OVERTRAIN_PREFIX:-} "$bin" train --config "${OVERTRAIN_CONFIG:-$out/train.json}" --out "$out/run-$name" --backend cpu "$@" 2> "$out/$name.stderr" > /dev/null ||
    die "$bin failed: $(tail -c 300 "$out/$name.stderr")"
  t1=$(now)
  echo "$name $(python3 -c "print(round($t1 - $t0, 3))")" >> "$out/results.txt"
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
per_round=4
[ -n "${OVERTRAIN_BASE:-}" ] && per_round=5
say "$runs rounds of $steps steps, alternating"
for i in $(seq "$runs"); do
  overtrain_run overtrain "$TARGET_DIR/release/overtrain"
  OVERTRAIN_PREFIX="taskset -c 0" overtrain_run overtrain_1thread "$TARGET_DIR/release/overtrain" --threads 1
  [ -n "${OVERTRAIN_BASE:-}" ] && OVERTRAIN_CONFIG="$out/train-base.json" overtrain_run overtrain_base "$OVERTRAIN_BASE"
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
for name, what in [("overtrain", "all cores"), ("overtrain_1thread", "--threads 1, 1 core"), ("overtrain_base", "its default threads")]:
    if name in med:
        s = med[name][0]
        print(f"| `{name}` train --backend cpu, whole process, {what} | {s:.2f} | {tokens / s:,.0f} |")
for name, what in [("jax", "all cores"), ("jax_1thread", "1 core")]:
    s, whole = med[name]
    print(f"| JAX jit, {what}, {steps} steps after warm-up | {s:.2f} | {tokens / s:,.0f} |")
    print(f"| JAX jit, {what}, whole process (import, compile, warm-up) | {whole:.2f} | {tokens / whole:,.0f} |")
# Speed ratios (tokens/s of overtrain over the other), from the medians and, more robust
# on a shared machine whose load changes between rounds, the median of each round's ratio.
print()
for us, name in [("overtrain", "jax"), ("overtrain_1thread", "jax_1thread"), ("overtrain", "overtrain_base"), ("overtrain", "overtrain_1thread")]:
    if name in rows:
        ours = [r[0] for r in rows[us]]
        theirs = [r[0] for r in rows[name]]
        paired = statistics.median(t / o for t, o in zip(theirs, ours))
        print(f"{us} / {name} tokens/s: {med[name][0] / med[us][0]:.2f}× (medians), "
              f"{paired:.2f}× (median of the rounds' ratios)")
PY
