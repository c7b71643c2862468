#!/usr/bin/env bash
# Re-runs a recorded preset (docs/results/NAME/results.json) with the CLI on the CPU and
# checks that every number matches the record (the wall time aside). Not part of the test
# command for `paper` (16 minutes on a 2-core machine); Quick is also checked by
# tests/recorded.rs, Schedules by tests/recorded.rs too. Usage: scripts/reproduce.sh NAME (quick, paper,
# scaling, schedules, mitigations) [experiment options, e.g.
# --threads 2]; or scripts/reproduce.sh NAME --shards N: the preset in N shards (one after
# another, sharing checkpoints) and `overtrain merge`.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
name="${1:?usage: scripts/reproduce.sh quick|paper|scaling|schedules|mitigations [--threads N]}"
shift
record="docs/results/$name/results.json"
[ -f "$record" ] || die "no record at $record"
cargo build --release --quiet
bin="$TARGET_DIR/release/overtrain"
out="$(mktemp -d)/results.json"
say "running the $name preset on the CPU (the record took $(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["elapsed_s"]))' "$record") s)"
start=$(date +%s.%N)
if [ "${1:-}" = "--shards" ]; then
  n="${2:?--shards N}"
  dir="$(dirname "$out")"
  for k in $(seq 0 $((n - 1))); do
    "$bin" experiment --preset "$name" --shard "$k/$n" \
      --checkpoints "$dir/checkpoints" --out "$dir/part-$k.json"
  done
  "$bin" merge --out "$out" "$dir"/part-*.json
else
  "$bin" experiment --preset "$name" --backend cpu --out "$out" "$@"
fi
say "took $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
python3 - "$record" "$out" <<'PY'
import json, sys
want, got = (json.load(open(p)) for p in sys.argv[1:3])
def strip(v):
    """Every wall time out (a sweep's sections have their own)."""
    if isinstance(v, dict):
        v.pop("elapsed_s", None)
        for x in v.values():
            strip(x)
    elif isinstance(v, list):
        for x in v:
            strip(x)
for r in (want, got):
    strip(r)
bad = [k for k in want if want[k] != got.get(k)]
if bad or set(want) != set(got):
    sys.exit(f"differs from the record in: {', '.join(bad) or 'its fields'}")
print(f"reproduced number for number: every field but elapsed_s ({len(json.dumps(want))} bytes)")
PY
