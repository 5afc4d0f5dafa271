"""Which scans there are: from a `raw_dir` laid out by stage, or from a manifest CSV.

Both give the same table (one row per scan): patient_id, scan_id, stage, path, format.
A patient may have several scans (longitudinal); folds group them by patient later.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from spectstage.config import stage_labels
from spectstage.errors import InputError

log = logging.getLogger(__name__)

STAGE_DIR = re.compile(r"^stage_(.+)$")
MANIFEST_COLUMNS = ("patient_id", "stage", "path")
NIFTI_SUFFIXES = (".nii.gz", ".nii")


@dataclass(frozen=True)
class ScanInput:
    patient_id: str
    scan_id: str
    stage: str
    path: Path  # a file or a folder
    format: str | None = None  # None: detected from the files


def _check_id(value: str, what: str, where: str) -> str:
    # IDs become file names under results/: refuse anything that could leave that folder.
    if not value or value in {".", ".."} or "/" in value or "\\" in value or "\x00" in value:
        raise InputError(f"{where}: {what} {value!r} cannot be used as a file name")
    return value


def _strip_suffix(name: str) -> str:
    for suffix in NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def from_raw_dir(raw_dir: Path, stages: list[str]) -> list[ScanInput]:
    if not raw_dir.is_dir():
        raise InputError(f"raw_dir {raw_dir}: no such folder")
    scans = []
    for stage_dir in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        match = STAGE_DIR.match(stage_dir.name)
        if not match:
            log.info("%s: not a stage_<label> folder, ignored", stage_dir)
            continue
        stage = match.group(1)
        if stage not in stages:
            raise InputError(
                f"{stage_dir}: stage {stage!r} is not one of the configured stages {stages}"
            )
        for entry in sorted(p for p in stage_dir.iterdir() if not p.name.startswith(".")):
            pid = _check_id(
                entry.name if entry.is_dir() else _strip_suffix(entry.name),
                "patient ID",
                str(entry),
            )
            scans.append(ScanInput(pid, pid, stage, entry))
    return scans


def from_manifest(manifest: Path, stages: list[str]) -> list[ScanInput]:
    import pandas as pd

    try:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"manifest {manifest}: cannot read ({err})") from err
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"manifest {manifest}: missing column(s) {missing}")
    root = manifest.resolve().parent
    scans = []
    for line, row in enumerate(table.to_dict("records"), start=2):
        where = f"manifest {manifest} line {line}"
        if row["stage"] not in stages:
            raise InputError(
                f"{where}: stage {row['stage']!r} is not one of the configured stages {stages}"
            )
        path = (root / row["path"]).resolve()
        if not path.is_relative_to(root):
            raise InputError(
                f"{where}: path {row['path']!r} resolves outside the manifest's folder"
            )
        if not path.exists():
            raise InputError(f"{where}: {row['path']!r} does not exist")
        pid = _check_id(row["patient_id"], "patient ID", where)
        sid = _check_id(row.get("scan_id") or pid, "scan ID", where)
        scans.append(ScanInput(pid, sid, row["stage"], path, row.get("format") or None))
    return scans


def discover(cfg: dict) -> list[ScanInput]:
    """All scans of the configured input, checked for duplicates, sorted by scan ID."""
    stages = stage_labels(cfg)
    if cfg["manifest"]:
        scans = from_manifest(Path(cfg["manifest"]), stages)
    else:
        scans = from_raw_dir(Path(cfg["raw_dir"]), stages)
    if not scans:
        raise InputError(f"no scans found in {cfg['manifest'] or cfg['raw_dir']}")
    seen: dict[str, ScanInput] = {}
    by_path: dict[Path, ScanInput] = {}
    for s in scans:
        if s.scan_id in seen:
            other = seen[s.scan_id]
            detail = f"stages {other.stage} and {s.stage}" if other.stage != s.stage else "twice"
            raise InputError(f"scan {s.scan_id!r} is listed {detail} ({other.path}, {s.path})")
        if s.path in by_path:
            raise InputError(
                f"{s.path} is listed as two scans: {by_path[s.path].scan_id!r} and {s.scan_id!r}"
            )
        seen[s.scan_id], by_path[s.path] = s, s
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
