#!/usr/bin/env bash
# Soak benchmark (not a test): 10,000 training steps of a small model with `overtrain
# train` on the CPU, its resident memory (VmRSS) sampled every second; prints the RSS
# once training runs (3 s in, after the time probe and the allocations), the largest and
# the last, so a leak shows as growth.
# Usage: bench/soak.sh [steps (default 10000)]
source "$(dirname "$0")/../scripts/common.sh"
cd "$ROOT"
steps="${1:-10000}"
cargo build --release --quiet
dir="$(mktemp -d)"
cat > "$dir/train.json" <<JSON
{"model": {"n_layer": 1, "d_model": 16, "n_head": 2, "d_ff": 64, "ctx": 32},
 "batch": 8, "steps": $steps, "eval_every": 1000, "eval_batches": 2}
JSON
"$TARGET_DIR/release/overtrain" train --backend cpu --config "$dir/train.json" --out "$dir/run" 2> "$dir/stderr" &
pid=$!
samples=()
while kill -0 "$pid" 2> /dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2> /dev/null || true)
  [ -n "$rss" ] && samples+=("$rss")
  sleep 1
done
wait "$pid"
python3 - "${samples[@]}" <<'PY'
import sys
kb = [int(x) for x in sys.argv[1:]][3:]
if not kb:
    sys.exit("too few samples: the run ended within 3 seconds")
print(f"RSS over {len(kb)} s of training: at the start {kb[0]/1024:.1f} MiB, largest "
      f"{max(kb)/1024:.1f} MiB, last {kb[-1]/1024:.1f} MiB (growth {(kb[-1]-kb[0])/1024:+.1f} MiB)")
PY
tail -c 300 "$dir/stderr" | tr '\r' '\n' | tail -2
