#!/usr/bin/env bash
# Stops the daemons tests/cluster/setup_slurm.sh started (slurmd, slurmctld, munged), and only those:
# each is identified by the pid file setup recorded under /run/humanrecon-slurm. Safe to run twice.
set -uo pipefail

STATE=/run/humanrecon-slurm
log() { echo "teardown_slurm: $*" >&2; }

[[ -d $STATE ]] || exit 0

# Jobs still queued or running on the test cluster go first (only when the controller is ours).
if [[ -e $STATE/started-slurmctld ]] && command -v scancel > /dev/null; then
    timeout 10 scancel --user "$(id -un)" 2> /dev/null || true
fi

for d in slurmd slurmctld munged; do
    [[ -e $STATE/started-$d ]] || continue
    pidfile=$STATE/$d.pid
    if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2> /dev/null; then
        pid=$(cat "$pidfile")
        log "stopping $d (pid $pid)"
        kill "$pid" 2> /dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2> /dev/null; then
            log "$d (pid $pid) ignored SIGTERM; killing it"
            kill -9 "$pid" 2> /dev/null || true
        fi
    fi
    rm -f "$STATE/started-$d" "$pidfile"
done
exit 0
