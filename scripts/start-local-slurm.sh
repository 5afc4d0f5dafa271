#!/usr/bin/env bash
# Start a single-node SLURM (slurmctld + slurmd + munge) on this machine, for tests and
# trying the SLURM profile. Installs Debian's packages if missing, declares two (fake) GPUs
# so the GPU request path is exercised without one (two: the folds of a run train side by
# side, as on a GPU node), waits until the node is idle.
# Idempotent: running it again with everything up only checks. Needs root.
# Stop with scripts/stop-local-slurm.sh.
set -euo pipefail

STATE=${SPECTSTAGE_SLURM_STATE:-/var/lib/spectstage-slurm}
NODE=$(hostname -s)

if [ "$(id -u)" -ne 0 ]; then
    echo "start-local-slurm: needs root (installs packages, starts daemons)" >&2
    exit 3
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    # Keep package scripts from starting services: there is no systemd here.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
fi

mkdir -p "$STATE"/{spool,state,log} /etc/slurm /run/munge /etc/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /etc/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged --force
fi

mem_mib=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat >/etc/slurm/slurm.conf.new <<CONF
# Written by spectstage scripts/start-local-slurm.sh: one node, two fake GPUs.
ClusterName=spectstage
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job without --mem takes the whole node and jobs run one at a time.
DefMemPerCPU=500
# squeue must still list finished jobs when Snakemake asks (no accounting database here).
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
GresTypes=gpu
StateSaveLocation=${STATE}/state
SlurmdSpoolDir=${STATE}/spool
SlurmctldPidFile=${STATE}/slurmctld.pid
SlurmdPidFile=${STATE}/slurmd.pid
SlurmctldLogFile=${STATE}/log/slurmctld.log
SlurmdLogFile=${STATE}/log/slurmd.log
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=${mem_mib} Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# Without File= slurmd drops the GPU and drains the node.
printf 'AutoDetect=off\nName=gpu File=/dev/null\nName=gpu File=/dev/zero\n' >/etc/slurm/gres.conf
changed=0
if ! cmp -s /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf 2>/dev/null; then
    mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf
    changed=1
else
    rm /etc/slurm/slurm.conf.new
fi

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ "$changed" = 1 ]; then
    for d in slurmd slurmctld; do
        if running "$STATE/$d.pid"; then kill "$(cat "$STATE/$d.pid")"; sleep 1; fi
    done
fi
running "$STATE/slurmctld.pid" || slurmctld
running "$STATE/slurmd.pid" || slurmd

for _ in $(seq 1 60); do
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
    case "$state" in
        idle*|mix*|alloc*) echo "local SLURM ready: node $NODE ($state), partition main, 2 GPUs"; exit 0 ;;
        drain*|down*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
done
echo "start-local-slurm: node $NODE did not become idle; see $STATE/log/" >&2
exit 1
