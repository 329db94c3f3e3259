#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm.py (and CI). Run as root.
#
#   bash tests/cluster/setup_slurm.sh      # idempotent: installs, configures, starts what is missing
#   bash tests/cluster/teardown_slurm.sh   # stops only the daemons this script started
#
# Installs slurm-wlm + munge with apt when they are missing, writes /etc/slurm/slurm.conf and gres.conf
# for one node `localhost` (this machine's CPUs, its memory minus a margin, one fake GPU), starts munged,
# slurmctld and slurmd, and waits until `sinfo` shows the node idle. No slurmdbd: `sacct` does not work
# here, so workflows must query job states with squeue (profiles/slurm sets slurm-status-command: squeue;
# MinJobAge=300 keeps finished jobs visible to squeue for 5 minutes).
#
# The config must live at /etc/slurm/slurm.conf: the executor plugin's job step drops SLURM_* variables
# (SLURM_CONF included) before its inner `srun`. A slurm.conf this script did not write is never
# overwritten. Every blocking step runs under `timeout`, so a missing network fails loudly, never hangs.
set -euo pipefail

STATE=/run/humanrecon-slurm          # pid files of the daemons started here (read by teardown_slurm.sh)
CONF=/etc/slurm/slurm.conf
MARK="# written by humanrecon tests/cluster/setup_slurm.sh"
MEM_MARGIN_MB=${HUMANRECON_SLURM_MEM_MARGIN_MB:-1024}

log() { echo "setup_slurm: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "must run as root (installs packages, writes /etc/slurm, starts daemons)"

# ---- packages --------------------------------------------------------------------------------------
missing=()
for exe in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$exe" > /dev/null || missing+=("$exe")
done
if ((${#missing[@]})); then
    command -v apt-get > /dev/null || die "missing ${missing[*]} and no apt-get to install slurm-wlm + munge"
    log "installing slurm-wlm munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    timeout 180 apt-get update -qq || die "apt-get update failed or timed out (no network?)"
    timeout 600 apt-get install -y -qq --no-install-recommends slurm-wlm munge > /dev/null \
        || die "apt-get install slurm-wlm munge failed or timed out"
fi

# ---- configuration ---------------------------------------------------------------------------------
cpus=$(nproc)
total_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
real_mb=$((total_mb - MEM_MARGIN_MB))
((real_mb > 1000)) || die "only ${total_mb} MB of memory"

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$STATE"
new_conf=$(cat <<EOF
$MARK
# One-node test cluster; see the script for why each setting is what it is.
ClusterName=humanrecon-test
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mb Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
)
new_gres="NodeName=localhost Name=gpu File=/dev/null"

if [[ -e $CONF ]] && ! grep -qxF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to overwrite a real site config"
fi
changed=0
if [[ ! -e $CONF ]] || [[ "$(cat "$CONF")" != "$new_conf" ]]; then
    printf '%s\n' "$new_conf" > "$CONF"
    changed=1
fi
if [[ ! -e /etc/slurm/gres.conf ]] || [[ "$(cat /etc/slurm/gres.conf)" != "$new_gres" ]]; then
    printf '%s\n' "$new_gres" > /etc/slurm/gres.conf
    changed=1
fi

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2> /dev/null; }

# A config change while our daemons run: restart them (only ours).
if ((changed)); then
    for d in slurmd slurmctld; do
        if [[ -e $STATE/started-$d ]] && alive "$STATE/$d.pid"; then
            log "config changed: stopping $d to restart it"
            kill "$(cat "$STATE/$d.pid")" || true
            for _ in $(seq 50); do alive "$STATE/$d.pid" || break; sleep 0.2; done
        fi
    done
fi

# ---- munge -----------------------------------------------------------------------------------------
if ! timeout 10 munge -n < /dev/null 2> /dev/null | timeout 10 unmunge > /dev/null 2>&1; then
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    log "starting munged"
    timeout 30 runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge/munged.log)"
    cp /run/munge/munged.pid "$STATE/munged.pid"
    touch "$STATE/started-munged"
    for _ in $(seq 50); do
        timeout 10 munge -n < /dev/null 2> /dev/null | timeout 10 unmunge > /dev/null 2>&1 && break
        sleep 0.2
    done
fi
timeout 10 munge -n < /dev/null | timeout 10 unmunge > /dev/null || die "munge credentials do not round-trip"

# ---- slurmctld, slurmd -----------------------------------------------------------------------------
if ! alive "$STATE/slurmctld.pid"; then
    log "starting slurmctld"
    rm -f "$STATE/slurmctld.pid"
    # -c: start from a clean job state (this is a throwaway test cluster)
    timeout 30 slurmctld -c || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
    touch "$STATE/started-slurmctld"
fi
for _ in $(seq 150); do timeout 10 scontrol ping 2> /dev/null | grep -q "is UP" && break; sleep 0.2; done
timeout 10 scontrol ping | grep -q "is UP" || die "slurmctld does not answer (see /var/log/slurm/slurmctld.log)"

if ! alive "$STATE/slurmd.pid"; then
    log "starting slurmd"
    rm -f "$STATE/slurmd.pid"
    timeout 30 slurmd -N localhost || die "slurmd did not start (see /var/log/slurm/slurmd.log)"
    touch "$STATE/started-slurmd"
fi

# ---- wait for the node -----------------------------------------------------------------------------
state=""
for _ in $(seq 150); do
    state=$(timeout 10 sinfo -h -n localhost -o %t 2> /dev/null || true)
    [[ $state == idle || $state == mix || $state == alloc ]] && break
    sleep 0.2
done
if [[ $state != idle && $state != mix && $state != alloc ]]; then
    timeout 10 scontrol show node localhost >&2 || true
    tail -n 20 /var/log/slurm/slurmd.log /var/log/slurm/slurmctld.log >&2 || true
    die "node localhost is '${state:-unknown}', not idle"
fi
log "node localhost is $state (CPUs=$cpus RealMemory=${real_mb}MB, gpu:1); partition debug"
