"""Per-command CPU accounting for benchmarks/make_demo.py ($SPECTSTAGE_CPU_LOG).

Snakemake's `benchmark:` files sample a job's CPU time with psutil, twice a second for
15 s and then every 30 s, so a job's last seconds (and every job's spawned helpers that
end between samples) go uncounted: a 30 s ingest job read 7.6 CPU s. A process knows its
own CPU exactly at exit (getrusage: itself and its finished, waited-for children). When
the variable names a file, each `spectstage` command appends one JSON line to it;
otherwise nothing happens.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time

VARIABLE = "SPECTSTAGE_CPU_LOG"


def record(command: str, labels: dict, started: float) -> None:
    """Append {command, labels, user_s, sys_s, wall_s} to $SPECTSTAGE_CPU_LOG, if set."""
    path = os.environ.get(VARIABLE)
    if not path:
        return
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = {
        "command": command,
        **{k: v for k, v in labels.items() if v is not None},
        "user_s": round(own.ru_utime + children.ru_utime, 3),
        "sys_s": round(own.ru_stime + children.ru_stime, 3),
        "wall_s": round(time.perf_counter() - started, 3),
    }
    # One short write in append mode: lines of parallel jobs on one machine do not interleave.
    try:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")
    except OSError as err:  # accounting must never fail the command it measures
        logging.getLogger(__name__).warning("%s=%s: not written (%s)", VARIABLE, path, err)
