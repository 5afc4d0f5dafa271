"""Rigid-plus-scale poses and voxel-grid helpers shared by the demo generator and registration.

A pose maps template millimetres to scanner (world) millimetres, both RAS+:
``world = R @ (scale * template) + translation``. Rotations are degrees about x, y, z.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Pose:
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0

    @classmethod
    def from_vector(cls, v: np.ndarray) -> Pose:
        """From the optimiser's vector (rx, ry, rz, tx, ty, tz, log_scale)."""
        v = [float(x) for x in v]
        return cls(tuple(v[0:3]), tuple(v[3:6]), float(np.exp(v[6])))

    def matrix(self) -> np.ndarray:
        """4x4 affine from template mm to world mm."""
        ax, ay, az = np.deg2rad(self.rotation_deg)
        rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
        ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
        rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
        m = np.eye(4)
        m[:3, :3] = rz @ ry @ rx * self.scale
        m[:3, 3] = self.translation_mm
        return m

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def grid_points(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """World coordinates (N, 3) of every voxel centre of a grid, in C order."""
    idx = np.indices(shape, dtype=np.float32).reshape(3, -1)
    return (affine[:3, :3].astype(np.float32) @ idx + affine[:3, 3:4].astype(np.float32)).T


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 affine to points (N, 3)."""
    return points @ matrix[:3, :3].T.astype(points.dtype) + matrix[:3, 3].astype(points.dtype)
