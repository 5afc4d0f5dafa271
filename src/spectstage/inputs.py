"""Which scans there are: from a `raw_dir` laid out by stage, or from a manifest CSV.

Both give the same table (one row per scan): patient_id, scan_id, stage, path, format.
A patient may have several scans (longitudinal); folds group them by patient later.
Every problem is collected before one error lists them all. With `pseudonymise: true`
the IDs are replaced here, once, by keyed hashes (see `spectstage.deid`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

from spectstage.config import stage_labels
from spectstage.deid import pseudonym
from spectstage.errors import InputError
from spectstage.io import NIFTI_SUFFIXES

log = logging.getLogger(__name__)

STAGE_DIR = re.compile(r"^stage_(.+)$")
MANIFEST_COLUMNS = ("patient_id", "stage", "path")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ScanInput:
    patient_id: str
    scan_id: str
    stage: str
    path: Path  # a file or a folder
    format: str | None = None  # None: detected from the files


def file_stem(scan_id: str) -> str:
    """The scan's output file name (no suffix): the ID itself when it is a plain name,
    else a readable slug plus a hash, so that spaces, quotes, `;`, `$()`, braces, `../`
    or unicode can never break a shell command or a path."""
    if SAFE_NAME.match(scan_id) and len(scan_id) <= 100:
        return scan_id
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", scan_id).strip("._-")[:40] or "scan"
    return f"{slug}-{hashlib.sha256(scan_id.encode()).hexdigest()[:10]}"


def _check_id(value: str, what: str, where: str, problems: list[str]) -> str:
    if not value.strip() or "\x00" in value or "\n" in value:
        problems.append(f"{where}: {what} {value!r} is empty or contains control characters")
    return value


def _strip_suffix(name: str) -> str:
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def from_raw_dir(raw_dir: Path, stages: list[str], problems: list[str]) -> list[ScanInput]:
    if not raw_dir.is_dir():
        problems.append(f"raw_dir {raw_dir}: no such folder")
        return []
    scans = []
    for stage_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        match = STAGE_DIR.match(stage_dir.name)
        if not match:
            log.info("%s: not a stage_<label> folder, ignored", stage_dir)
            continue
        stage = match.group(1)
        if stage not in stages:
            problems.append(
                f"{stage_dir}: stage {stage!r} is not one of the configured stages {stages}"
            )
            continue
        for entry in sorted(p for p in stage_dir.iterdir() if not p.name.startswith(".")):
            pid = _check_id(
                entry.name if entry.is_dir() else _strip_suffix(entry.name),
                "patient ID",
                str(entry),
                problems,
            )
            scans.append(ScanInput(pid, pid, stage, entry))
    return scans


def from_manifest(manifest: Path, stages: list[str], problems: list[str]) -> list[ScanInput]:
    import pandas as pd

    try:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        problems.append(f"manifest {manifest}: cannot read ({err})")
        return []
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        problems.append(f"manifest {manifest}: missing column(s) {missing}")
        return []
    root = manifest.resolve().parent
    scans = []
    for line, row in enumerate(table.to_dict("records"), start=2):
        where = f"manifest {manifest} line {line}"
        if row["stage"] not in stages:
            problems.append(
                f"{where}: stage {row['stage']!r} is not one of the configured stages {stages}"
            )
            continue
        path = (root / row["path"]).resolve()
        if not path.is_relative_to(root):
            problems.append(f"{where}: path {row['path']!r} resolves outside the manifest's folder")
            continue
        if not path.exists():
            problems.append(f"{where}: {row['path']!r} does not exist")
            continue
        pid = _check_id(row["patient_id"], "patient ID", where, problems)
        sid = _check_id(row.get("scan_id") or pid, "scan ID", where, problems)
        scans.append(ScanInput(pid, sid, row["stage"], path, row.get("format") or None))
    return scans


def _trackable(scans: list[ScanInput], problems: list[str]) -> None:
    # Snakemake reads {x} in a file name as a wildcard and cannot track such a file.
    for s in scans:
        if "{" in str(s.path) or "}" in str(s.path):
            problems.append(
                f"{s.path}: rename it without braces {{ }}: the workflow cannot track such paths"
            )


def _duplicates(scans: list[ScanInput], problems: list[str]) -> None:
    seen: dict[str, ScanInput] = {}
    by_path: dict[Path, ScanInput] = {}
    stems: dict[str, ScanInput] = {}
    for s in scans:
        if s.scan_id in seen:
            other = seen[s.scan_id]
            detail = (
                f"under stages {other.stage} and {s.stage}" if other.stage != s.stage else "twice"
            )
            problems.append(f"scan {s.scan_id!r} is listed {detail} ({other.path}, {s.path})")
        elif file_stem(s.scan_id).lower() in stems:  # case-insensitive file systems
            problems.append(
                f"scans {stems[file_stem(s.scan_id).lower()].scan_id!r} and {s.scan_id!r} "
                "would share one output file name"
            )
        if s.path in by_path and by_path[s.path].scan_id != s.scan_id:
            problems.append(
                f"{s.path} is listed as two scans: {by_path[s.path].scan_id!r} and {s.scan_id!r}"
            )
        seen[s.scan_id], by_path[s.path], stems[file_stem(s.scan_id).lower()] = s, s, s


def discover(cfg: dict, problems: list[str] | None = None) -> list[ScanInput]:
    """All scans of the configured input, sorted by scan ID.

    Without `problems`, any problem raises one InputError listing them all; with a list,
    problems are appended to it (for `spectstage check`) and the usable scans returned.
    """
    own = problems is None
    problems = [] if own else problems
    stages = stage_labels(cfg)
    if cfg["manifest"]:
        scans = from_manifest(Path(cfg["manifest"]), stages, problems)
    else:
        scans = from_raw_dir(Path(cfg["raw_dir"]), stages, problems)
    if not scans and not problems:
        problems.append(f"no scans found in {cfg['manifest'] or cfg['raw_dir']}")
    _duplicates(scans, problems)
    _trackable(scans, problems)
    if own and problems:
        raise InputError("\n  ".join([f"{len(problems)} problem(s) with the input:", *problems]))
    if cfg["pseudonymise"]:
        scans = [
            replace(s, patient_id=pseudonym(s.patient_id), scan_id=pseudonym(s.scan_id))
            for s in scans
        ]
    return sorted(scans, key=lambda s: s.scan_id)


def batch_of(scan_id: str, n_batches: int) -> int:
    """Stable batch number: a new scan changes one batch, never the others."""
    return int(hashlib.sha256(scan_id.encode()).hexdigest(), 16) % n_batches


def batches(scans: list[ScanInput], n_batches: int) -> dict[int, list[ScanInput]]:
    """Non-empty batches, by batch number."""
    out: dict[int, list[ScanInput]] = {}
    for s in scans:
        out.setdefault(batch_of(s.scan_id, n_batches), []).append(s)
    return dict(sorted(out.items()))
