"""Poses, voxel grids and the canonical MNI152 grid, shared by registration and the demo.

A pose maps template millimetres to scanner (world) millimetres, both RAS+:
``world = R @ (scale * template) + translation``. Rotations are degrees about x, y, z.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A voxel grid: array shape and the voxel-to-RAS-millimetre affine."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def voxel_mm(self) -> float:
        """Isotropic voxel size (the canonical grid is isotropic)."""
        return float(np.linalg.norm(self.affine[:3, 0]))

    def to_voxel(self, points_mm: np.ndarray) -> np.ndarray:
        return apply(np.linalg.inv(self.affine), np.asarray(points_mm, dtype=np.float64))

    def points(self) -> np.ndarray:
        return grid_points(self.shape, self.affine)


def mni_grid(voxel_mm: float = 2.0) -> Grid:
    """MNI152 in RAS+: voxel centres x -89..89, y -126..90, z -72..108 mm (90 x 109 x 91 at 2 mm).

    FSL's MNI152_T1_2mm box, but with the midline x = 0 between two voxel columns (FSL
    puts a voxel on it), so that a left-right flip (augmentation, test-time averaging)
    mirrors exactly about the midline. It holds the whole brain and the cerebellum; scans
    that cover less leave zeros (reported as coverage).
    """
    lo = np.array([-voxel_mm * 44.5, -126.0, -72.0])
    hi = np.array([voxel_mm * 44.5, 90.0, 108.0])
    shape = tuple(int(n) for n in np.round((hi - lo) / voxel_mm) + 1)
    aff = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    aff[:3, 3] = lo
    return Grid(shape, aff)


#: The canonical space: every stored volume, region and crop lives on this grid.
CANONICAL = mni_grid(2.0)


@dataclass(frozen=True)
class Pose:
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0

    @classmethod
    def from_vector(cls, v: np.ndarray) -> Pose:
        """From a vector (rx, ry, rz, tx, ty, tz, log_scale)."""
        v = [float(x) for x in v]
        return cls(tuple(v[0:3]), tuple(v[3:6]), float(np.exp(v[6])))

    @classmethod
    def from_matrix(cls, m: np.ndarray) -> Pose:
        """Nearest rigid-plus-isotropic-scale pose of a 4x4 affine (exact for similarities)."""
        linear = np.asarray(m, dtype=np.float64)[:3, :3]
        u, s, vt = np.linalg.svd(linear)
        rot = u @ vt
        if np.linalg.det(rot) < 0:  # a reflection is not a pose; keep the nearest rotation
            u[:, -1] *= -1
            rot = u @ vt
        scale = float(np.prod(s) ** (1 / 3))
        ry = -np.arcsin(np.clip(rot[2, 0], -1, 1))
        rx = np.arctan2(rot[2, 1], rot[2, 2])
        rz = np.arctan2(rot[1, 0], rot[0, 0])
        angles = tuple(float(a) for a in np.rad2deg([rx, ry, rz]))
        return cls(angles, tuple(float(t) for t in m[:3, 3]), scale)

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
