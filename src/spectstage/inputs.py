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
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from spectstage.config import stage_labels
from spectstage.deid import pseudonym
from spectstage.errors import InputError
from spectstage.io import FORMATS, NIFTI_SUFFIXES
from spectstage.scan_input import ScanInput, check_id, file_stem

log = logging.getLogger(__name__)

STAGE_DIR = re.compile(r"^stage_(.+)$")
MANIFEST_COLUMNS = ("patient_id", "stage", "path")
# Per-scan slice conventions: a manifest cell overrides the `slices` config for that scan
# (a multi-site cohort mixes radiological and neurological, hot and grey stacks).
SLICE_COLUMNS = (
    "colormap",
    "image_left",
    "order",
    "pixel_mm",
    "slice_mm",
    "window_low",
    "window_high",
)
OPTIONAL_COLUMNS = ("scan_id", "format", *SLICE_COLUMNS)


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
            pid = check_id(
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
    unknown = [c for c in table.columns if c not in (*MANIFEST_COLUMNS, *OPTIONAL_COLUMNS)]
    if missing:
        problems.append(f"manifest {manifest}: missing column(s) {missing}")
    if unknown:
        known = ", ".join((*MANIFEST_COLUMNS, *OPTIONAL_COLUMNS))
        problems.append(
            f"manifest {manifest}: unknown column(s) {unknown}; the known columns are {known}"
        )
    if missing or unknown:
        return []
    root = manifest.resolve().parent
    validators = slice_validators([c for c in SLICE_COLUMNS if c in table.columns])
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
        pid = check_id(row["patient_id"], "patient ID", where, problems)
        sid = check_id(row.get("scan_id") or pid, "scan ID", where, problems)
        fmt = row.get("format") or None
        if fmt is not None and fmt not in FORMATS:
            problems.append(f"{where} column format: {fmt!r} is not one of {list(FORMATS)}")
        slices = slice_overrides(row, where, validators, problems)
        scans.append(ScanInput(pid, sid, row["stage"], path, fmt, slices))
    return scans


def slice_validators(columns: list[str]) -> dict:
    """Per column, the validator of the `slices` config key it overrides (one schema)."""
    if not columns:
        return {}
    from jsonschema import Draft202012Validator

    from spectstage.config import schema

    rules = schema()["properties"]["slices"]["properties"]
    return {c: Draft202012Validator(rules[c]) for c in columns}


def slice_overrides(row: dict, where: str, validators: dict, problems: list[str]) -> tuple:
    """The row's non-empty slice-convention cells, validated like the config."""
    out = []
    for column, validator in validators.items():
        text = str(row.get(column, "")).strip()
        if not text:
            continue
        value: str | float = text
        if validator.schema.get("type") == "number":
            try:
                value = float(text)
            except ValueError:
                problems.append(f"{where} column {column}: {text!r} is not a number")
                continue
        errors = [e.message for e in validator.iter_errors(value)]
        if column == "colormap" and not errors and not _is_colormap(text):
            errors = [f"{text!r} is not a matplotlib colour map"]
        if errors:
            problems.append(f"{where} column {column}: {'; '.join(errors)}")
            continue
        out.append((column, value))
    return tuple(out)


def _is_colormap(name: str) -> bool:
    from matplotlib import colormaps

    return name in colormaps


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


def discover(
    cfg: Mapping, problems: list[str] | None = None, pseudonymise: bool | None = None
) -> list[ScanInput]:
    """The scans to process (all of the configured input but the excluded ones), sorted
    by scan ID.

    Without `problems`, any problem raises one InputError listing them all; with a list,
    problems are appended to it (for `spectstage check`) and the usable scans returned.
    `pseudonymise` overrides the config's (False: the original IDs, for the redactor).
    """
    return discover_all(cfg, problems, pseudonymise)[0]


def discover_all(
    cfg: Mapping, problems: list[str] | None = None, pseudonymise: bool | None = None
) -> tuple[list[ScanInput], list[tuple[ScanInput, str]]]:
    """(scans to process, [(excluded scan, reason)]), both sorted by scan ID."""
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
    if pseudonymise is None:
        pseudonymise = cfg["pseudonymise"]
    kept, excluded = _exclusions(scans, cfg["exclude"], pseudonymise, problems)
    if own and problems:
        raise InputError("\n  ".join([f"{len(problems)} problem(s) with the input:", *problems]))
    if pseudonymise:
        kept = [pseudonymised(s) for s in kept]
        excluded = [(pseudonymised(s), reason) for s, reason in excluded]
    return sorted(kept, key=lambda s: s.scan_id), sorted(excluded, key=lambda e: e[0].scan_id)


def _exclusions(
    scans: list[ScanInput], exclude, pseudonymise: bool, problems: list[str]
) -> tuple[list[ScanInput], list[tuple[ScanInput, str]]]:
    """Split off the scans `exclude` names by scan or patient ID (or their pseudonyms, as
    messages show them when pseudonymisation is on); an ID that matches nothing is a
    problem (a typo must not let a bad scan through)."""
    reasons = {e["id"]: e["reason"] for e in exclude}
    names = {s: {s.scan_id, s.patient_id} for s in scans}
    if pseudonymise and reasons:
        names = {s: ids | {pseudonym(i) for i in ids} for s, ids in names.items()}
    for unknown in sorted(set(reasons) - set().union(*names.values())):
        problems.append(f"exclude: {unknown!r} is neither a patient nor a scan of the input")
    kept, excluded = [], []
    for s in scans:
        reason = next((reasons[i] for i in sorted(names[s]) if i in reasons), None)
        if reason:
            excluded.append((s, reason))
        else:
            kept.append(s)
    return kept, excluded


def pseudonymised(scan: ScanInput) -> ScanInput:
    """The scan under the pseudonyms of its patient and scan IDs."""
    return replace(scan, patient_id=pseudonym(scan.patient_id), scan_id=pseudonym(scan.scan_id))


def exclude_hint(scan_id: str) -> str:
    """How to run on without a scan that cannot be used."""
    return (
        f"to run without it, add to your config:  exclude: [{{id: {scan_id}, "
        "reason: <why>}]  (README: Excluding scans)"
    )


def slice_overrides_text(scans: list[ScanInput]) -> str:
    """The scans' manifest slice conventions as one stable string (a rule parameter)."""
    import json

    return json.dumps({s.scan_id: dict(s.slices) for s in scans if s.slices}, sort_keys=True)


def batch_of(scan_id: str, n_batches: int) -> int:
    """Stable batch number: a new scan changes one batch, never the others."""
    return int(hashlib.sha256(scan_id.encode()).hexdigest(), 16) % n_batches


def batches(scans: list[ScanInput], n_batches: int) -> dict[int, list[ScanInput]]:
    """Non-empty batches, by batch number."""
    out: dict[int, list[ScanInput]] = {}
    for s in scans:
        out.setdefault(batch_of(s.scan_id, n_batches), []).append(s)
    return dict(sorted(out.items()))
