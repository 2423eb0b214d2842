#!/bin/bash
# Start a one-node SLURM cluster on this machine (munged, slurmctld, slurmd), for tests.
#
# Installs nothing (see install_slurm.sh). Runs as root without systemd or cgroups:
# process tracking by /proc, no task plugin, no accounting. The node is this host
# (`hostname -s`, at 127.0.0.1) with all its CPUs in one partition, `debug`.
# Idempotent: when `sinfo` already shows a usable node, it does nothing. It writes
# /etc/slurm/slurm.conf (where sbatch looks by default) only when that file is
# missing or was written by this script; it never replaces another cluster's config.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by ttgen tests/slurm/start_cluster.sh"
LOG_DIR=/var/log/slurm
WAIT_SECONDS=${TTGEN_SLURM_WAIT:-60}

node_state() {
    # The node's state (idle, mix, alloc, down*, ...), empty when the controller does not answer.
    sinfo --noheader --Node --format='%t' 2>/dev/null | head -n 1 || true
}

usable() {
    case "$(node_state)" in
        idle* | mix* | alloc* | comp*) return 0 ;;
        *) return 1 ;;
    esac
}

if usable; then
    echo "start_cluster.sh: SLURM is already running (node $(node_state))"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "start_cluster.sh: SLURM is not running and starting it needs root" >&2
    exit 1
fi
for cmd in munged slurmctld slurmd sinfo; do
    if ! command -v "$cmd" >/dev/null; then
        echo "start_cluster.sh: $cmd not found; install SLURM first (tests/slurm/install_slurm.sh)" >&2
        exit 1
    fi
done

host=$(hostname -s)
cpus=$(nproc)
# slurmd drains a node that has less memory than slurm.conf claims: stay below what is there.
mem=$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)

if [[ -e $CONF ]] && ! grep -qxF "$MARK" "$CONF"; then
    echo "start_cluster.sh: $CONF exists and was not written by this script; not touching it" >&2
    exit 1
fi
mkdir -p /etc/slurm "$LOG_DIR" /var/spool/slurmctld /var/spool/slurmd
cat >"$CONF" <<CONF
$MARK
ClusterName=ttgen-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# munge: a key owned by the munge user, then the daemon as that user.
if [[ ! -s /etc/munge/munge.key ]]; then
    mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge
chown munge:munge /run/munge
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
fi

if ! pgrep -x slurmctld >/dev/null; then
    slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
    slurmd
fi

for ((i = 0; i < WAIT_SECONDS; i++)); do
    if usable; then
        echo "start_cluster.sh: SLURM is up (node $host $(node_state), partition debug)"
        exit 0
    fi
    state=$(node_state)
    if [[ $state == down* || $state == drain* ]]; then
        scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
    fi
    sleep 1
done
echo "start_cluster.sh: the node did not become idle within ${WAIT_SECONDS}s (state: '$(node_state)')" >&2
tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
exit 1
