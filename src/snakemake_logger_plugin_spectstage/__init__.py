"""A compact Snakemake console for spectstage: one line per finished job, errors in full.

Snakemake's own console prints every input file of every job (hundreds of lines for the demo),
and `--quiet rules`, which hides them, hides failed jobs too. This handler (`--logger
spectstage`, set in profiles/default) prints instead

- `[done/total] <rule> <wildcards> done` per finished job (the progress and the stage running);
- for a failed job: its rule, log file(s) and their content - the `spectstage` error message
  naming the file and the problem (locally and on SLURM: logs live on the shared file system);
- everything else (job counts, warnings, Snakemake's own errors) as Snakemake prints it.

Dry runs, `--verbose` and `--printshellcmds` runs get Snakemake's full console unchanged.
Full detail always stays in results/logs/ and .snakemake/log/.
"""

from __future__ import annotations

import logging
import re
import sys
import textwrap
from pathlib import Path

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

HIDDEN = {LogEvent.JOB_INFO, LogEvent.JOB_STARTED, LogEvent.WORKFLOW_STARTED}
HIDDEN |= {LogEvent.RESOURCES_INFO, LogEvent.JOB_FINISHED}
# Scheduler steps (several per job) and set-up lines that say the same on every run.
CHATTER = ("Select jobs to execute", "Execute ", "Using shell:", "Conda environments: ignored")
MAX_LOG_LINES = 40  # of a failed job's log on the console; the file has all of it


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        from snakemake.logging import ColorizingTextHandler, DefaultFilter, DefaultFormatter

        s = self.common_settings
        self.full = s.dryrun or s.verbose or s.printshellcmds
        self.console = ColorizingTextHandler(
            nocolor=s.nocolor,
            stream=sys.stdout if s.stdout else sys.stderr,
            formatter=DefaultFormatter(s.quiet, s.show_failed_logs),
            filter=DefaultFilter(s.quiet, s.debug_dag, s.verbose, s.dryrun, s.printshellcmds),
        )
        self.jobs: dict[int, str] = {}  # jobid -> "rule wildcards", from the job's start
        self.last_finished = ""

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if self.full:
            self.console.handle(record)
        elif event == LogEvent.JOB_INFO:
            wildcards = " ".join(f"{k}={v}" for k, v in (record.wildcards or {}).items())
            self.jobs[record.jobid] = f"{record.rule_name} {wildcards}".strip()
        elif event == LogEvent.JOB_FINISHED:
            self.last_finished = self.jobs.get(record.job_id, record.getMessage())
        elif event == LogEvent.PROGRESS:
            self._print(f"[{record.done}/{record.total}] {self.last_finished} done")
        elif event == LogEvent.JOB_ERROR:
            self._print(job_error(record))
        elif event == LogEvent.RUN_INFO and isinstance(getattr(record, "stats", None), dict):
            self._print(job_counts(record.stats))
        elif event not in HIDDEN and not str(record.msg).startswith(CHATTER):
            self.console.handle(record)

    def _print(self, text: str) -> None:
        self.console.stream.write(text + "\n")
        self.console.flush()

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True  # filtering happens in the inner console handler

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False


def job_counts(stats: dict) -> str:
    """`46 jobs: 16 check_batch_*, 16 ingest_batch_*, 1 cohort_table, ...` (numbered rules
    counted together), wrapped at 100 characters."""
    counts: dict[str, int] = {}
    for rule, n in stats.items():
        if rule != "total":
            name = re.sub(r"_\d+$", "_*", str(rule))
            counts[name] = counts.get(name, 0) + int(n)
    words = [f"{n} {name}," for name, n in counts.items()]
    return textwrap.fill(
        f"{sum(counts.values())} jobs: " + " ".join(words).rstrip(","),
        width=100,
        subsequent_indent="    ",
    )


def job_error(record: logging.LogRecord) -> str:
    """The failed job's rule, the executor's message, and the tails of its logs (on SLURM the
    job's SLURM log too)."""
    lines = [f"Error in rule {record.rule_name} (job {record.jobid}):"]
    if getattr(record, "rule_msg", None):  # the executor's word, e.g. the SLURM job state
        lines.append(f"    message: {record.rule_msg}")
    lines += [f"    {key}: {value}" for key, value in (record.aux or {}).items()]
    for path in record.log or []:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines.append(f"    log {path}: not written")
            continue
        shown = text[-MAX_LOG_LINES:]
        more = f" (last {len(shown)} of {len(text)} lines)" if len(shown) < len(text) else ""
        lines.append(f"    log {path}{more}:")
        lines += [f"    | {line}" for line in shown] or ["    | (empty)"]
    return "\n".join(lines)
