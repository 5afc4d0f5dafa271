"""NIfTI volumes in any orientation (nibabel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectstage.errors import InputError


def read_nifti(path: Path):
    import nibabel as nib

    from spectstage.io.scan import Scan

    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as err:  # nibabel raises many types for damaged files
        raise InputError(f"{path}: not a readable NIfTI file ({err})") from err
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path}: expected a 3D volume, got shape {data.shape}")
    return Scan(data=data, affine=img.affine.astype(float), format="nifti", meta={})
