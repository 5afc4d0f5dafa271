"""NIfTI volumes in any orientation (nibabel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectstage.errors import InputError
from spectstage.io.limits import MAX_VOXELS


def load_header(path: Path):
    """nibabel's image (header read, data not yet), refused when its declared size exceeds
    what a SPECT volume can have: nibabel would allocate (or inflate) all of it."""
    import nibabel as nib

    try:
        img = nib.load(path)
    except Exception as err:  # nibabel raises many types for damaged headers
        raise InputError(f"{path}: not a readable NIfTI file ({err})") from err
    shape = img.header.get_data_shape()
    voxels = int(np.prod(shape, dtype=object)) if shape else 0
    if voxels > MAX_VOXELS:
        raise InputError(
            f"{path}: declares {' x '.join(map(str, shape))} voxels ({voxels:,}), more than a "
            f"SPECT volume has (at most {MAX_VOXELS:,}); refused before reading"
        )
    return img


def read_nifti(path: Path):
    from spectstage.io.scan import Scan

    img = load_header(path)
    try:
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as err:  # nibabel raises many types for damaged files
        raise InputError(f"{path}: not a readable NIfTI file ({err})") from err
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3D volume, got shape {data.shape}")
    return Scan(data=data, affine=oriented_affine(img, path), format="nifti", meta=forms(img))


def forms(img) -> dict:
    """Which orientation field the affine came from (nibabel: sform if its code > 0, else qform)."""
    sform, qform = (int(img.header[f"{k}_code"]) for k in ("sform", "qform"))
    return {
        "nifti_affine_from": "sform" if sform else "qform",
        "sform_code": sform,
        "qform_code": qform,
    }


def oriented_affine(img, path: Path) -> np.ndarray:
    """nibabel's choice of affine, refused when the file does not say where the patient is."""
    header = img.header
    if not int(header["sform_code"]) and not int(header["qform_code"]):
        raise InputError(
            f"{path}: sform_code and qform_code are both 0, so the file does not say which way "
            "the patient lies (left/right unknown); fix the header (e.g. fslorient, nibabel)"
        )
    affine = np.asarray(img.affine, dtype=float)
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-6:
        raise InputError(f"{path}: the orientation matrix is singular or not finite")
    return affine
