"""The readers' truth: a small asymmetric, anisotropic count volume with a bright marker
in the right-anterior-superior corner, so that a flip of any axis, a swapped pixel
spacing or a wrong stacking sign moves the marker to the wrong side."""

from __future__ import annotations

import numpy as np

SHAPE = (20, 16, 9)
VOXEL_MM = (2.0, 2.5, 4.4)  # anisotropic in-plane: a PixelSpacing swap changes the shape in mm
MARKER = (slice(16, 19), slice(12, 15), slice(6, 8))  # high x, y, z indices = R, A, S
MARKER_COUNTS = 300.0


def truth_volume(tilt_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Integer counts (RAS index order) and an affine, optionally tilted about x (oblique)."""
    volume = np.random.default_rng(0).poisson(20, SHAPE).astype(np.float32)
    volume[MARKER] = MARKER_COUNTS
    affine = np.diag([*VOXEL_MM, 1.0])
    affine[:3, 3] = -np.array(VOXEL_MM) * (np.array(SHAPE) - 1) / 2
    t = np.deg2rad(tilt_deg)
    tilt = np.array([[1, 0, 0, 0], [0, np.cos(t), -np.sin(t), 0], [0, np.sin(t), np.cos(t), 0]])
    return volume, np.vstack([tilt, [0, 0, 0, 1]]) @ affine


def marker_ras(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Centre of the marker voxels in RAS mm."""
    idx = np.argwhere(data > MARKER_COUNTS - 1).mean(axis=0)
    return (affine @ [*idx, 1])[:3]
