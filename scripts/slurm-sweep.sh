#!/bin/bash
# A real SLURM run of the README's job-array recipe ("Past one machine"): a single-node SLURM
# (slurmctld and slurmd on this machine, munge for authentication), a small sweep split into 4
# shards as a job array, the merge as a job that depends on the array, and a byte-for-byte
# comparison of the merged file with the unsharded run.
#
#   sudo scripts/slurm-sweep.sh                  # or: cargo test --release --test slurm_sweep -- --ignored
#
# Needs root (it installs `slurm-wlm munge` with apt-get when they are missing, and slurmd runs as
# root). Environment:
#   ISOLSIM   the isolsim binary (default: target/release/isolsim, built with cargo if missing)
#   WORKDIR   the working directory (default: a new temporary directory, removed on success)
#   TIMEOUT   seconds to wait for the jobs (default: 900)
# Daemons that are not running are started with a configuration under WORKDIR and stopped on exit.
# Prints the job ids and times, then on success:
#   slurm-sweep: merged file equals the unsharded run (N units)
set -euo pipefail

readonly SHARDS=4
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
timeout=${TIMEOUT:-900}

say() { printf 'slurm-sweep: %s\n' "$*"; }
die() {
    printf 'slurm-sweep: error: %s\n' "$*" >&2
    exit 1
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# --- Prerequisites ---------------------------------------------------------------------------

if [[ $(id -u) -ne 0 ]]; then
    die "must run as root: it starts munged, slurmctld and slurmd (and installs slurm-wlm munge if missing)"
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null ||
    ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || die "slurm-wlm and munge are missing, and there is no apt-get to install them"
    say "installing slurm-wlm munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq slurm-wlm munge >/dev/null || die "apt-get install slurm-wlm munge failed"
fi

isolsim=${ISOLSIM:-$root/target/release/isolsim}
if [[ ! -x $isolsim ]]; then
    [[ -z ${ISOLSIM:-} ]] || die "ISOLSIM=$ISOLSIM is not an executable file"
    say "building $isolsim"
    (cd "$root" && cargo build --release --bin isolsim) || die "cargo build --release failed"
fi
isolsim=$(realpath "$isolsim")

created_workdir=
if [[ -n ${WORKDIR:-} ]]; then
    mkdir -p "$WORKDIR"
    work=$(realpath "$WORKDIR")
else
    work=$(mktemp -d /tmp/slurm-sweep.XXXXXX)
    created_workdir=1
fi

# --- Cleanup: stop what this script started --------------------------------------------------

started_munged=
started_slurmctld=
started_slurmd=
ok=

stop_pid() { # NAME PID: SIGTERM, then wait up to 15 s for the process to go
    local name=$1 pid=$2 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    printf 'slurm-sweep: %s (pid %s) did not stop on SIGTERM; sending SIGKILL\n' "$name" "$pid" >&2
    kill -9 "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    [[ -z $started_slurmd ]] || stop_pid slurmd "$started_slurmd"
    [[ -z $started_slurmctld ]] || stop_pid slurmctld "$started_slurmctld"
    [[ -z $started_munged ]] || stop_pid munged "$started_munged"
    if [[ -n $ok && -n $created_workdir ]]; then
        rm -rf "$work"
    elif [[ -z $ok ]]; then
        printf 'slurm-sweep: FAILED (exit %s); files kept in %s\n' "$rc" "$work" >&2
        [[ $rc -ne 0 ]] || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- munge -----------------------------------------------------------------------------------

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

if ! munge_works; then
    if [[ ! -s /etc/munge/munge.key ]]; then
        say "creating /etc/munge/munge.key"
        runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key ||
            die "mungekey --create failed"
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    say "starting munged"
    runuser -u munge -- munged </dev/null >"$work/munged.out" 2>&1 ||
        die "munged did not start: $(cat "$work/munged.out")"
    started_munged=$(cat /run/munge/munged.pid)
    for ((i = 0; i < 50; i++)); do
        munge_works && break
        sleep 0.1
    done
    munge_works || die "munge -n | unmunge still fails after starting munged"
fi

# --- slurm.conf: one node, this machine, its CPUs as slurmd -C sees them -----------------------

conf_dir=$work/slurm
mkdir -p "$conf_dir/state" "$conf_dir/spool"
export SLURM_CONF=$conf_dir/slurm.conf
host=$(hostname -s)
node_line=$(slurmd -C | head -n 1)
[[ $node_line == NodeName=* ]] || die "unexpected output of slurmd -C: $node_line"
node=${node_line#NodeName=}
node=${node%% *}
if [[ ! -f $SLURM_CONF ]]; then
    cat >"$SLURM_CONF" <<EOF
# Written by scripts/slurm-sweep.sh: a single-node cluster on $host.
ClusterName=isolsim
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$conf_dir/state
SlurmdSpoolDir=$conf_dir/spool
SlurmctldPidFile=$conf_dir/slurmctld.pid
SlurmdPidFile=$conf_dir/slurmd.pid
SlurmctldLogFile=$conf_dir/slurmctld.log
SlurmdLogFile=$conf_dir/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
DependencyParameters=kill_invalid_depend
$node_line State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
fi

# --- slurmctld and slurmd --------------------------------------------------------------------

running() { # PIDFILE: does it name a live process?
    [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

if ! running "$conf_dir/slurmctld.pid"; then
    say "starting slurmctld"
    slurmctld -D -f "$SLURM_CONF" </dev/null >"$conf_dir/slurmctld.out" 2>&1 &
    started_slurmctld=$!
fi
for ((i = 0; i < 300; i++)); do
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    [[ -z $started_slurmctld ]] || kill -0 "$started_slurmctld" 2>/dev/null ||
        die "slurmctld exited: $(tail -n 20 "$conf_dir/slurmctld.out" "$conf_dir/slurmctld.log" 2>/dev/null)"
    sleep 0.1
done
scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld does not answer (see $conf_dir/slurmctld.log)"

if ! running "$conf_dir/slurmd.pid"; then
    say "starting slurmd"
    slurmd -D -f "$SLURM_CONF" </dev/null >"$conf_dir/slurmd.out" 2>&1 &
    started_slurmd=$!
fi
state=
for ((i = 0; i < 300; i++)); do
    state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
    [[ $state == idle || $state == mixed || $state == allocated ]] && break
    [[ -z $started_slurmd ]] || kill -0 "$started_slurmd" 2>/dev/null ||
        die "slurmd exited: $(tail -n 20 "$conf_dir/slurmd.out" "$conf_dir/slurmd.log" 2>/dev/null)"
    sleep 0.1
done
[[ $state == idle || $state == mixed || $state == allocated ]] ||
    die "node $node is '$state', not idle (see $conf_dir/slurmd.log)"
say "$(sinfo -V), node $node: $(scontrol show node "$node" | grep -o 'CPUTot=[0-9]*'), $state"

# --- The sweep and the job array, as in the README -------------------------------------------

cd "$work"
# The recipe calls `isolsim`: put the binary under test first on the PATH the jobs inherit.
# A reused WORKDIR: start from no results (the daemons' state may stay).
rm -rf parts results.jsonl unsharded.jsonl unsharded.jsonl.lock slurm-*.out
mkdir -p bin parts
ln -sf "$isolsim" bin/isolsim
export PATH=$work/bin:$PATH

# 3 points x 2 protocols x 2 seeds = 12 units of about a second each.
cat >sweep.toml <<'EOF'
[sweep]
name = "slurm-small"
protocols = ["broadcast", "deferred"]
seeds = [1, 2]

[set]
run.duration_us = 200000
run.isolated = 1
run.activity.generators = 1

[grid]
run.cpus = [3, 4, 6]
EOF
isolsim sweep sweep.toml --dry-run | sed -n 1p

cat >sweep.sbatch <<EOF
#!/bin/bash
#SBATCH --job-name=isolsim-sweep
#SBATCH --array=1-$SHARDS
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
# Each task runs one shard; --resume makes a requeued task continue where it stopped.
isolsim sweep sweep.toml --jobs "\$SLURM_CPUS_PER_TASK" --resume \\
    --shard "\$SLURM_ARRAY_TASK_ID/$SHARDS" --out "parts/part-\$SLURM_ARRAY_TASK_ID.jsonl"
EOF

t0=$(now)
jobid=$(sbatch --parsable sweep.sbatch) || die "sbatch sweep.sbatch failed"
jobid=${jobid%%;*}
mergeid=$(sbatch --parsable --job-name=isolsim-merge --dependency="afterok:$jobid" \
    --wrap 'isolsim merge parts/part-*.jsonl --out results.jsonl') || die "sbatch of the merge failed"
mergeid=${mergeid%%;*}
say "submitted array job $jobid (tasks 1-$SHARDS) and merge job $mergeid (afterok:$jobid)"

for ((i = 0; ; i++)); do
    left=$(squeue -h -j "$jobid,$mergeid" -o %i 2>/dev/null | wc -l)
    [[ $left -eq 0 ]] && break
    ((i < timeout * 2)) || die "jobs $jobid and $mergeid not done after $timeout s: $(squeue -j "$jobid,$mergeid")"
    sleep 0.5
done
t1=$(now)

# One line per job (each array task, then the merge) from scontrol: state, exit code, times.
field() { grep -o "\\b$1=[^ ]*" <<<"$2" | head -n 1 | cut -d= -f2-; }
failed=
report() {
    local line id state code start end run
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        id=$(field JobId "$line")
        if [[ -n $(field ArrayTaskId "$line") ]]; then id="$(field ArrayJobId "$line")_$(field ArrayTaskId "$line")"; fi
        state=$(field JobState "$line")
        code=$(field ExitCode "$line")
        start=$(field StartTime "$line")
        end=$(field EndTime "$line")
        run=$(field RunTime "$line")
        printf '  job %-8s %-14s %-10s exit %-4s start %s end %s elapsed %s\n' \
            "$id" "$(field JobName "$line")" "$state" "$code" "${start#*T}" "${end#*T}" "$run"
        [[ $state == COMPLETED && $code == 0:0 ]] || failed+=" $id"
    done < <(scontrol -o show job "$1" | awk '{ t = 0
        for (i = 1; i <= NF; i++) if ($i ~ /^ArrayTaskId=/) t = substr($i, 13)
        print t "\t" $0 }' | sort -n -k1,1 | cut -f2-)
}
report "$jobid"
report "$mergeid"
say "array and merge: $(secs "$t0" "$t1") s wall, submit to merge done"
if [[ -n $failed ]]; then
    for f in slurm-*.out; do
        if [[ -s $f ]]; then
            printf -- '--- %s\n' "$f" >&2
            cat "$f" >&2
        fi
    done
    die "jobs that did not complete with exit 0:$failed"
fi

parts=(parts/part-*.jsonl)
((${#parts[@]} == SHARDS)) || die "expected $SHARDS parts, found ${#parts[@]}"
for p in "${parts[@]}"; do
    printf '  %s: %s units\n' "$p" "$(wc -l <"$p")"
done
[[ -s results.jsonl ]] || die "the merge job wrote no results.jsonl"

# --- The unsharded run, directly, and the comparison ----------------------------------------

t2=$(now)
isolsim sweep sweep.toml --jobs 2 --out unsharded.jsonl || die "the unsharded sweep failed"
t3=$(now)
say "unsharded run (--jobs 2, no SLURM): $(secs "$t2" "$t3") s"

cmp results.jsonl unsharded.jsonl || die "the merged file differs from the unsharded run ($work)"
units=$(wc -l <results.jsonl)
ok=1
say "merged file equals the unsharded run ($units units)"
