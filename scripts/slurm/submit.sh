#!/usr/bin/env bash
# Runs an overtrain experiment on a Slurm cluster: N shards as a job array, then the merge
# as a job that starts when every shard has succeeded.
#   scripts/slurm/submit.sh CONFIG.json N OUTDIR [path/to/overtrain]
# OUTDIR (on a filesystem every node sees) gets parts/part-K.json, parts/checkpoints/,
# the logs, and results.json with plots/ once the merge job is done. Prints the two job
# ids (array, merge).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="$(realpath "${1:?usage: submit.sh CONFIG.json N OUTDIR [overtrain]}")"
shards="${2:?usage: submit.sh CONFIG.json N OUTDIR [overtrain]}"
out="${3:?usage: submit.sh CONFIG.json N OUTDIR [overtrain]}"
bin="$(realpath "${4:-$(command -v overtrain || echo "${CARGO_TARGET_DIR:-$here/../../target}/release/overtrain")}")"
[ -x "$bin" ] || { echo "error: no overtrain binary at $bin (cargo build --release)" >&2; exit 2; }
"$bin" experiment --config "$config" --plan --shard "0/$shards" > /dev/null  # checks both
mkdir -p "$out/parts"
out="$(realpath "$out")"
export OVERTRAIN="$bin" CONFIG="$config" PARTS="$out/parts" RESULTS="$out/results.json"
array=$(cd "$out" && sbatch --parsable --export=ALL --array="0-$((shards - 1))" "$here/experiment.sbatch")
array="${array%%;*}"
merge=$(cd "$out" && sbatch --parsable --export=ALL --dependency="afterok:$array" "$here/merge.sbatch")
echo "$array ${merge%%;*}"
