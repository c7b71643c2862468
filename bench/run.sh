#!/usr/bin/env bash
# Benchmark (not a test): one full linear-lab recompute on the default config, natively
# (the CLI), in headless Chromium (wasm in the page's worker) and in a straightforward
# numpy implementation, on this machine, in one run. Prints medians.
# usage: bench/run.sh [N]
source "$(dirname "$0")/../scripts/common.sh"
cd "$ROOT"
N="${1:-11}"
python3 -c 'import numpy' 2>/dev/null || { say "installing numpy (pip)"; python3 -m pip install -q numpy; }
cargo build --release --bin overtrain 2>/dev/null
build_site >/dev/null 2>&1
(cd tests/e2e && npm ci --no-audit --no-fund --silent)
mkdir -p bench/out
"$TARGET_DIR/release/overtrain" linear --print-default-config > bench/out/default.json

say "machine"
echo "$(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"

say "native (overtrain CLI, release), $N runs"
for i in $(seq "$N"); do
  "$TARGET_DIR/release/overtrain" linear --config bench/out/default.json --out bench/out/native.json 2>/dev/null
  python3 -c 'import json; print(json.load(open("bench/out/native.json"))["elapsed_ms"])'
done | sort -g | awk '{a[NR]=$1} END {printf "{\"native_median_ms\": %.1f}\n", a[int((NR+1)/2)]}'

say "numpy, $N runs each"
python3 bench/linear_numpy.py bench/out/default.json --repeat "$N" --dtype float32
python3 bench/linear_numpy.py bench/out/default.json --repeat "$N" --dtype float64

say "headless Chromium (wasm, Web Worker), $N recomputes"
node bench/browser.mjs "$N"
