"""The CNN's input: a box around the striata of the canonical volume, optionally coarser.

A model-input transform, not a change to the stored volumes. SPECT resolution (~10 mm
FWHM) makes 4 mm sampling lose nothing while keeping the network small and fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spectstage.errors import InputError
from spectstage.geometry import CANONICAL, Grid


@dataclass(frozen=True)
class Crop:
    centre_mm: tuple[float, float, float]
    size_mm: tuple[float, float, float]
    voxel_mm: float
    grid: Grid = field(default=CANONICAL, compare=False)  # the canonical volumes' grid

    @classmethod
    def from_config(cls, cfg: dict, grid: Grid = CANONICAL) -> Crop:
        return cls(tuple(cfg["centre_mm"]), tuple(cfg["size_mm"]), float(cfg["voxel_mm"]), grid)

    @property
    def factor(self) -> int:
        """Canonical voxels pooled into one input voxel."""
        f = self.voxel_mm / self.grid.voxel_mm
        if abs(f - round(f)) > 1e-6 or f < 1:
            raise InputError(
                f"train.crop.voxel_mm must be a multiple of {self.grid.voxel_mm} mm, "
                f"got {self.voxel_mm}"
            )
        return round(f)

    def canonical_box(self, margin: int = 0) -> tuple[slice, slice, slice]:
        """Slices of the canonical grid (in canonical voxels), widened by `margin` on each side."""
        centre = self.grid.to_voxel(np.asarray([self.centre_mm]))[0]
        size = np.asarray(self.size_mm) / self.grid.voxel_mm
        size = np.round(size / self.factor).astype(int) * self.factor  # whole output voxels
        # Round half up (not numpy's half-to-even): a box centred on the midline stays
        # symmetric, so left-right flips mirror about the midline whatever the size.
        start = np.floor(centre - size / 2 + 0.5).astype(int) - margin
        stop = start + size + 2 * margin
        if (start < 0).any() or (stop > np.asarray(self.grid.shape)).any():
            raise InputError(
                f"train.crop (centre_mm, size_mm; + {margin} voxels of augmentation margin) "
                f"leaves the canonical grid: voxels {start.tolist()}..{stop.tolist()} of "
                f"{list(self.grid.shape)}"
            )
        return tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))

    @property
    def shape(self) -> tuple[int, int, int]:
        box = self.canonical_box()
        return tuple((s.stop - s.start) // self.factor for s in box)

    def pool(self, box: np.ndarray) -> np.ndarray:
        """Average-pool a canonical-resolution box to the input resolution."""
        f = self.factor
        if f == 1:
            return box
        x, y, z = (n // f for n in box.shape)
        return box[: x * f, : y * f, : z * f].reshape(x, f, y, f, z, f).mean(axis=(1, 3, 5))

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        return self.pool(volume[self.canonical_box()]).astype(np.float32)


def load_crops(paths, crop: Crop) -> np.ndarray:
    """(N, 1, X, Y, Z) float32 crops of canonical volumes."""
    import nibabel as nib

    return np.stack([crop(np.asarray(nib.load(p).dataobj, dtype=np.float32))[None] for p in paths])
