"""What `spectstage predict` is given, as the scans the pre-flight check and ingest take.

An INPUT is one of: a scan file (NIfTI, one DICOM file), a patient folder (a DICOM folder
or slice images), a folder of unlabelled patients (`<dir>/<patient_id>/...` or
`<dir>/<patient_id>.nii.gz`), a labelled `raw_dir` (`stage_<label>/<patient_id>/...`),
or a manifest CSV whose `stage` column may be empty. The labelled forms are read by the
training's own readers (`spectstage.inputs`); an unlabelled scan has stage "".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spectstage.errors import InputError
from spectstage.inputs import (
    STAGE_DIR,
    ScanInput,
    _duplicates,
    _strip_suffix,
    from_manifest,
    from_raw_dir,
)
from spectstage.io import NIFTI_SUFFIXES

UNLABELLED = ""


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _is_patient_collection(folder: Path) -> bool:
    """A folder of patients holds only sub-folders and NIfTI files (one per patient); a
    DICOM or slice-image folder holds the image files themselves."""
    entries = _visible(folder)
    return (
        bool(entries)
        and all(e.is_dir() or e.name.lower().endswith(NIFTI_SUFFIXES) for e in entries)
        and not (len(entries) == 1 and entries[0].is_file())
    )


def _single(path: Path) -> ScanInput:
    pid = path.name if path.is_dir() else _strip_suffix(path.name)
    return ScanInput(pid, pid, UNLABELLED, path)


def scans_of(path: Path, stages: list[str], problems: list[str]) -> list[ScanInput]:
    """The scans one INPUT holds (problems appended, as the pre-flight check does)."""
    if not path.exists():
        problems.append(f"{path}: no such file or folder")
        return []
    if path.is_file() and path.suffix.lower() == ".csv":
        return from_manifest(path, [*stages, UNLABELLED], problems)
    if path.is_file():
        return [_single(path)]
    entries = _visible(path)
    if not entries:
        problems.append(f"{path}: folder is empty")
        return []
    if any(e.is_dir() and STAGE_DIR.match(e.name) for e in entries):
        return from_raw_dir(path, stages, problems)
    if _is_patient_collection(path):
        return [_single(e) for e in entries]
    return [_single(path)]


def predict_inputs(
    paths: list[Path],
    stages: list[str],
    on_found: Callable[[list[ScanInput]], None] | None = None,
) -> list[ScanInput]:
    """Every scan of every INPUT, sorted by scan ID; one InputError lists all problems.
    `on_found` sees the scans first, even when there are problems (so that a redactor
    knows their IDs before the error names them)."""
    problems: list[str] = []
    scans = [s for p in paths for s in scans_of(Path(p), stages, problems)]
    if on_found is not None:
        on_found(scans)
    _duplicates(scans, problems)
    if not scans and not problems:
        problems.append(f"no scans found in {', '.join(map(str, paths))}")
    if problems:
        raise InputError("\n  ".join([f"{len(problems)} problem(s) with the input:", *problems]))
    return sorted(scans, key=lambda s: s.scan_id)
