"""One entry point for every input format: ``load_scan(path, conventions) -> Scan``.

A scan's input is a file (NIfTI, DICOM) or a folder (DICOM series, slice images).
Readers return the array with its voxel-to-RAS affine; nothing here resamples.
"""

from __future__ import annotations

from pathlib import Path

from spectstage.errors import InputError
from spectstage.io.scan import Scan
from spectstage.io.slices import SLICE_EXTENSIONS, SliceConventions

__all__ = [
    "FORMATS",
    "NIFTI_SUFFIXES",
    "Scan",
    "detect_format",
    "input_files",
    "load_scan",
    "scan_files",
]
FORMATS = ("dicom", "nifti", "slices")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def input_files(path: Path) -> list[Path]:
    """The files a scan is read from (hidden files such as .DS_Store ignored), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"{path}: folder is empty")
    return files


def detect_format(files: list[Path]) -> str:
    """nifti, slices or dicom, from file names (DICOM needs none), checked by the reader."""
    if any(_is_nifti(f) for f in files):
        return "nifti"
    if any(f.suffix.lower() in SLICE_EXTENSIONS for f in files):
        return "slices"
    return "dicom"


def scan_files(path: Path, fmt: str | None = None) -> tuple[str, list[Path]]:
    """(format, the files the reader takes): one NIfTI file, the naturally sorted slice
    images (nothing else beside them), or the DICOM folder's files. The pre-flight check
    and the readers share these rules."""
    files = input_files(path)
    fmt = fmt or detect_format(files)
    if fmt == "nifti":
        niftis = [f for f in files if _is_nifti(f)]
        if len(niftis) != 1:
            raise InputError(f"{path}: expected one NIfTI file, found {len(niftis)}")
        return fmt, niftis
    if fmt == "slices":
        from natsort import natsorted

        images = natsorted((f for f in files if f.suffix.lower() in SLICE_EXTENSIONS), key=str)
        others = [f.name for f in files if f not in images]
        if others:
            raise InputError(f"{path}: unsupported files beside the slice images: {others[:5]}")
        return fmt, images
    if fmt == "dicom":
        return fmt, files
    raise InputError(f"{path}: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def load_scan(path: Path, conventions: SliceConventions, fmt: str | None = None) -> Scan:
    fmt, files = scan_files(path, fmt)
    if fmt == "nifti":
        from spectstage.io.nifti import read_nifti

        return read_nifti(files[0])
    if fmt == "slices":
        from spectstage.io.slices import read_slices

        return read_slices(files, conventions)
    from spectstage.io.dicom import read_dicom

    return read_dicom(files)
