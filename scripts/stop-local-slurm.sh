#!/usr/bin/env bash
# Stop the daemons started by scripts/start-local-slurm.sh (by their PID files).
set -u
STATE=${SPECTSTAGE_SLURM_STATE:-/var/lib/spectstage-slurm}
for d in slurmd slurmctld; do
    if [ -s "$STATE/$d.pid" ] && kill -0 "$(cat "$STATE/$d.pid")" 2>/dev/null; then
        kill "$(cat "$STATE/$d.pid")" && echo "stopped $d"
    fi
done
if [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
    kill "$(cat /run/munge/munged.pid)" && echo "stopped munged"
fi
exit 0
