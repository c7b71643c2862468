#!/usr/bin/env bash
# A real end-to-end run of the Slurm scripts (scripts/slurm/) on a single-node Slurm that
# this script installs from Debian's packages (slurm-wlm, munge), configures on 127.0.0.1,
# starts and stops itself: a micro experiment in N shards (job array) and the merge job
# (afterok), then a check that the merged results equal an unsharded run, number for
# number. Needs root (apt-get, the daemons). Usage: scripts/slurm-local.sh [N (default 3)];
# OVERTRAIN_BIN=path uses that binary instead of building the release one.
source "$(dirname "$0")/common.sh"
cd "$ROOT"
# The daemons (munged, slurmctld, slurmd) live in /usr/sbin, which a non-login shell's or a
# container's PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
shards="${1:-3}"
apt_install slurm-wlm munge
for daemon in munged slurmctld slurmd; do
  command -v "$daemon" > /dev/null || die "$daemon not found (packages munge, slurm-wlm)"
done
if [ -n "${OVERTRAIN_BIN:-}" ]; then
  bin="$(realpath "$OVERTRAIN_BIN")"
else
  cargo build --release --quiet
  bin="$TARGET_DIR/release/overtrain"
fi
work="$(mktemp -d /tmp/overtrain-slurm.XXXXXX)"
conf="$work/etc"
mkdir -p "$conf" "$work/state" "$work/spool" "$work/log" "$work/munge"
chmod 711 "$work/munge"

cleanup() {
  [ -n "${SLURMD_PID:-}" ] && kill "$SLURMD_PID" 2>/dev/null
  [ -n "${SLURMCTLD_PID:-}" ] && kill "$SLURMCTLD_PID" 2>/dev/null
  [ -n "${MUNGED_PID:-}" ] && kill "$MUNGED_PID" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup EXIT

say "munge: a fresh key, the daemon in the background"
dd if=/dev/urandom bs=1 count=1024 of="$work/munge/munge.key" status=none
chmod 400 "$work/munge/munge.key"
mkdir -p /run/munge
munged --foreground --force --key-file="$work/munge/munge.key" \
  --socket="$work/munge/munge.socket" --pid-file="$work/munge/munged.pid" \
  --log-file="$work/log/munged.log" --seed-file="$work/munge/seed" 2> "$work/log/munged.err" &
MUNGED_PID=$!

cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat > "$conf/slurm.conf" <<CONF
ClusterName=overtrain-local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$conf/slurm.conf"

say "slurmctld and slurmd on 127.0.0.1"
for i in $(seq 50); do [ -S "$work/munge/munge.socket" ] && break; sleep 0.1; done
slurmctld -D -c -f "$SLURM_CONF" > "$work/log/slurmctld.out" 2>&1 &
SLURMCTLD_PID=$!
sleep 1
slurmd -D -f "$SLURM_CONF" > "$work/log/slurmd.out" 2>&1 &
SLURMD_PID=$!
for i in $(seq 100); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1)
  [ "$state" = "idle" ] && break
  sleep 0.3
done
[ "$state" = "idle" ] || { tail -20 "$work"/log/*; die "the node did not come up (state '$state')"; }
sinfo

config="$work/experiment.json"
cat > "$config" <<'JSON'
{"batch": 4, "eval_batches": 2,
 "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
 "pretrain": {"budgets": [640, 1280, 2560]},
 "perturb": {"gammas": [0.5, 2.0], "draws": 2},
 "finetune": {"lrs": [0.001, 0.003], "l2": [0.0], "steps": 10, "seeds": 2}}
JSON
say "submitting $shards shards and the merge (scripts/slurm/submit.sh)"
read -r array merge < <("$ROOT/scripts/slurm/submit.sh" "$config" "$shards" "$work/run" "$bin")
echo "job array $array, merge job $merge"
for i in $(seq 600); do
  left=$(squeue -h -j "$array,$merge" 2>/dev/null | wc -l)
  [ "$left" -eq 0 ] && break
  sleep 0.5
done
squeue
sacct_state=$(scontrol show job "$merge" 2>/dev/null | grep -o 'JobState=[A-Z]*' || true)
echo "merge job: ${sacct_state:-finished}"
ls "$work/run" "$work/run/parts"
[ -f "$work/run/results.json" ] || { cat "$work/run"/*.log; die "no merged results"; }

say "the unsharded run, for comparison"
"$bin" experiment --config "$config" --backend cpu --out "$work/whole.json" 2> /dev/null
python3 - "$work/whole.json" "$work/run/results.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for r in (a, b):
    r.pop("elapsed_s")
bad = [k for k in a if a[k] != b.get(k)]
if bad:
    sys.exit(f"the merged results differ in: {', '.join(bad)}")
print(f"merged results of {len(json.load(open(sys.argv[2]))['budgets'])} budgets equal the unsharded run, number for number")
PY
say "done; stopping the daemons"
