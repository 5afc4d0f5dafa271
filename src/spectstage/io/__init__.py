"""One entry point for every input format: ``load_scan(path, conventions) -> Scan``.

A scan's input is a file (NIfTI, DICOM) or a folder (DICOM series, slice images).
Readers return the array with its voxel-to-RAS affine; nothing here resamples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spectstage.errors import InputError
from spectstage.io.slices import SLICE_EXTENSIONS, SliceConventions

FORMATS = ("dicom", "nifti", "slices")
NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass
class Scan:
    """A volume as read: float32 array, 4x4 voxel -> RAS mm affine, and non-identifying metadata."""

    data: np.ndarray
    affine: np.ndarray
    format: str
    meta: dict = field(default_factory=dict)

    @property
    def voxel_mm(self) -> list[float]:
        return [round(float(v), 4) for v in np.linalg.norm(self.affine[:3, :3], axis=0)]

    @property
    def axcodes(self) -> str:
        import nibabel as nib

        return "".join(nib.aff2axcodes(self.affine))


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


def load_scan(path: Path, conventions: SliceConventions, fmt: str | None = None) -> Scan:
    files = input_files(path)
    fmt = fmt or detect_format(files)
    if fmt == "nifti":
        from spectstage.io.nifti import read_nifti

        niftis = [f for f in files if _is_nifti(f)]
        if len(niftis) != 1:
            raise InputError(f"{path}: expected one NIfTI file, found {len(niftis)}")
        return read_nifti(niftis[0])
    if fmt == "slices":
        from natsort import natsorted

        from spectstage.io.slices import read_slices

        images = natsorted((f for f in files if f.suffix.lower() in SLICE_EXTENSIONS), key=str)
        others = [f.name for f in files if f not in images]
        if others:
            raise InputError(f"{path}: unsupported files beside the slice images: {others[:5]}")
        return read_slices(images, conventions)
    if fmt == "dicom":
        from spectstage.io.dicom import read_dicom

        return read_dicom(files)
    raise InputError(f"{path}: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
