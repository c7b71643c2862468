#!/usr/bin/env bash
# A real end-to-end run of the Slurm scripts (scripts/slurm/) on a single-node Slurm that
# this script installs from Debian's packages (slurm-wlm, munge), configures on 127.0.0.1,
# starts and stops itself: a micro experiment in N shards (job array) and the merge job
# (afterok), then a check that the merged results equal an unsharded run, number for
# number; then preemption: a longer experiment in 2 shards, one of them requeued by Slurm
# while it runs (SIGTERM, as preemption and time limits do) after it finished some units,
# which goes on from its part when it starts again (--requeue, --resume in
# scripts/slurm/experiment.sbatch), and again the merge equals the unsharded run. Needs
# root (apt-get, the daemons). Usage: scripts/slurm-local.sh [N (default 3)];
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
# Waits until none of the given jobs is queued or running (at most 5 minutes).
wait_jobs() {
  for i in $(seq 600); do
    [ "$(squeue -h -j "$1" 2>/dev/null | wc -l)" -eq 0 ] && return 0
    sleep 0.5
  done
  squeue; die "jobs $1 still queued after 5 minutes"
}

# Checks that merged results ($2) equal the unsharded run of config $1, number for number.
equals_unsharded() {
  "$bin" experiment --config "$1" --backend cpu --out "$work/whole.json" 2> /dev/null
  python3 - "$work/whole.json" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for r in (a, b):
    r.pop("elapsed_s")
bad = [k for k in a if a[k] != b.get(k)]
if bad:
    sys.exit(f"the merged results differ in: {', '.join(bad)}")
print(f"merged results of {len(json.load(open(sys.argv[2]))['budgets'])} budgets equal the unsharded run, number for number")
PY
}

say "submitting $shards shards and the merge (scripts/slurm/submit.sh)"
read -r array merge < <("$ROOT/scripts/slurm/submit.sh" "$config" "$shards" "$work/run" "$bin")
echo "job array $array, merge job $merge"
wait_jobs "$array,$merge"
sacct_state=$(scontrol show job "$merge" 2>/dev/null | grep -o 'JobState=[A-Z]*' || true)
echo "merge job: ${sacct_state:-finished}"
ls "$work/run" "$work/run/parts"
[ -f "$work/run/results.json" ] || { cat "$work/run"/*.log; die "no merged results"; }

say "the unsharded run, for comparison"
equals_unsharded "$config" "$work/run/results.json"

say "preemption: a running shard requeued by Slurm resumes from its part"
# 12 fine-tuning units of about 1 s each (debug build, 2 threads): shard 0 runs for several
# seconds, saving its part after every unit.
long="$work/long.json"
cat > "$long" <<'JSON'
{"batch": 4, "eval_batches": 2,
 "model": {"n_layer": 1, "d_model": 8, "n_head": 2, "d_ff": 16, "ctx": 8},
 "pretrain": {"budgets": [16384, 32768]},
 "perturb": {"gammas": [0.5, 2.0], "draws": 2},
 "finetune": {"lrs": [0.001, 0.003], "l2": [0.0], "steps": 20000, "seeds": 3}}
JSON
read -r parray pmerge < <("$ROOT/scripts/slurm/submit.sh" "$long" 2 "$work/preempt" "$bin")
part="$work/preempt/parts/part-0.json"
units() { python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["units"]))' "$part" 2>/dev/null || echo 0; }
for i in $(seq 600); do [ "$(units)" -ge 2 ] && break; sleep 0.1; done
before=$(units)
[ "$before" -ge 2 ] || die "shard 0 saved no units to requeue after"
scontrol requeue "${parray}_0"
echo "requeued shard 0 (job ${parray}_0) after $before saved units"
# A requeued job waits before it may start again (its earliest start is set about two
# minutes ahead); once it is back in the queue, make it eligible now.
for i in $(seq 150); do
  scontrol show job "${parray}_0" 2>/dev/null | grep -q 'JobState=PENDING' && break
  sleep 0.2
done
scontrol update JobId="${parray}_0" StartTime=now
wait_jobs "$parray,$pmerge"
log=$(ls "$work/preempt"/overtrain-shard-*_0.log)
grep -q 'stopped (SIGTERM)' "$log" || { cat "$log"; die "shard 0 did not stop on SIGTERM with its part saved"; }
grep -E 'resuming shard 0/2: [0-9]+ of its units finished, kept' "$log" || { cat "$log"; die "shard 0 did not resume from its part"; }
[ -f "$work/preempt/results.json" ] || { cat "$work/preempt"/*.log; die "no merged results after the preemption"; }
equals_unsharded "$long" "$work/preempt/results.json"
say "done; stopping the daemons"
