"""Lists of raw input files that name no patient: what the workflow's rules declare instead
of the raw files when pseudonymisation is on.

Snakemake records every rule's input paths — the rule listing of `snakemake --report`'s
report.html, `.snakemake/metadata` and `.snakemake/log` — and raw paths name the original
patient folders. With `pseudonymise: true` a rule that reads raw files (check and ingest of
a batch, predict) declares one list instead, `results/inputs/<name>.tsv`: one line per
file, with a keyed hash of its path (deid.pseudonym), its size and its modification time.
The list is written when the workflow is parsed and rewritten only when a line changes, so
its modification time carries the rerun trigger Snakemake would have taken from the files
themselves: a changed, added, renamed or removed raw file re-runs its batch, and a parse
with nothing changed leaves the list (and every job) alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from spectstage import atomic
from spectstage.deid import pseudonym

HEADER = "file\tbytes\tmtime_ns"


def listing(files: Iterable[str | Path]) -> str:
    """The list's text: a line per file (keyed path hash, size, modification time in ns)."""
    lines = [HEADER]
    for f in files:
        info = Path(f).stat()
        lines.append(f"{pseudonym(str(f))}\t{info.st_size}\t{info.st_mtime_ns}")
    return "\n".join(lines) + "\n"


def write_input_list(path: str | Path, files: Iterable[str | Path]) -> str:
    """Write the list of `files` to `path` unless it already says the same; returns `path`
    (a rule's input)."""
    path = Path(path)
    text = listing(files)
    if not path.is_file() or path.read_text() != text:
        atomic.write_text(path, text)  # makes the folder
    return str(path)
