"""The contract every reader returns: an array with its voxel-to-RAS geometry."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
