"""Align a scan to the shipped template, resample it onto the canonical grid, normalise intensity.

Registration: rigid plus isotropic scale (7 parameters; head size varies), maximising the
Pearson correlation with the template over the voxels the scan covers, coarse to fine
(8 mm then 4 mm). A coarse translation search first makes it robust to slice stacks that
cover only part of the brain, where the centre of mass is a poor starting point.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

from spectstage.geometry import Pose, apply, grid_points
from spectstage.io import Scan
from spectstage.template import Template

# Per level: template grid step (8 mm, then 4 mm), share of its points used (a regular
# subsample keeps the fine level fast at no measurable cost in accuracy), Powell's
# parameter and cost tolerances.
LEVELS = ((4, 2, 0.5, 1e-4), (2, 4, 0.1, 1e-5))
# Coarse translation search around the centre-of-mass start, in mm. Partial stacks are
# mostly off along their slice axis (y for coronal slices) and in height (z).
SEARCH_X_MM = (0.0,)
SEARCH_Y_MM = (-24.0, -12.0, 0.0, 12.0, 24.0)
SEARCH_Z_MM = (-12.0, 0.0, 12.0)
MIN_OVERLAP = 0.15  # fraction of template points the scan must cover for a pose to count
DENOISE_MM = 4.0  # Gaussian sigma applied to the scan before registration (Poisson noise)
HEAD_LEVEL = 0.02  # template value outside which registration ignores the grid


@dataclass
class Registration:
    pose: Pose
    correlation: float  # at the finest level
    overlap: float  # fraction of the template grid the scan covers at that pose


class _Cost:
    """Negative correlation between template points and the scan sampled at a pose."""

    def __init__(self, scan: Scan, moving: np.ndarray, tmpl: Template, step: int, every: int = 1):
        sub = (slice(None, None, step),) * 3
        aff = tmpl.affine.copy()
        aff[:3, :3] *= step
        # Far background carries no information; the blurred head outline does.
        keep = np.flatnonzero(ndimage.binary_dilation(tmpl.image[sub] > HEAD_LEVEL))[::every]
        self.points = grid_points(tmpl.image[sub].shape, aff)[keep]
        self.fixed = tmpl.image[sub].ravel()[keep]
        self.moving = moving
        self.to_voxel = np.linalg.inv(scan.affine)
        self.upper = np.array(moving.shape) - 0.5

    def sample(self, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
        idx = apply(self.to_voxel @ pose.matrix(), self.points)
        inside = np.all((idx >= -0.5) & (idx <= self.upper), axis=1)
        values = ndimage.map_coordinates(self.moving, idx[inside].T, order=1, mode="nearest")
        return values, inside

    def __call__(self, vector: np.ndarray) -> float:
        values, inside = self.sample(Pose.from_vector(vector))
        if inside.mean() < MIN_OVERLAP:
            return 1.0
        fixed = self.fixed[inside]
        if values.std() == 0 or fixed.std() == 0:
            return 1.0
        return -float(np.corrcoef(fixed, values)[0, 1])


def _centre_of_mass(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    com = ndimage.center_of_mass(np.clip(data, 0, None))
    return apply(affine, np.asarray([com], dtype=np.float64))[0]


def register(scan: Scan, tmpl: Template) -> Registration:
    voxel = np.asarray(scan.voxel_mm)
    moving = ndimage.gaussian_filter(scan.data.astype(np.float32), DENOISE_MM / voxel)
    start = _centre_of_mass(moving, scan.affine) - _centre_of_mass(tmpl.image, tmpl.affine)
    coarse = _Cost(scan, moving, tmpl, *LEVELS[0][:2])
    candidates = (
        np.array([0, 0, 0, *(start + offset), 0.0])
        for offset in itertools.product(SEARCH_X_MM, SEARCH_Y_MM, SEARCH_Z_MM)
    )
    vector = min(candidates, key=coarse)
    for step, every, xtol, ftol in LEVELS:
        cost = _Cost(scan, moving, tmpl, step, every)
        # Scale is optimised as 100*log(scale) so that one unit is ~1 %, like 1 degree or 1 mm.
        scaled = vector * [1, 1, 1, 1, 1, 1, 100]
        result = optimize.minimize(
            lambda v, c=cost: c(v / [1, 1, 1, 1, 1, 1, 100]),
            scaled,
            method="Powell",
            options={"xtol": xtol, "ftol": ftol},
        )
        vector = result.x / [1, 1, 1, 1, 1, 1, 100]
    pose = Pose.from_vector(vector)
    _, inside = cost.sample(pose)
    return Registration(pose=pose, correlation=-cost(vector), overlap=float(inside.mean()))


def resample(scan: Scan, pose: Pose, tmpl: Template) -> tuple[np.ndarray, np.ndarray]:
    """(scan on the template grid, mask of template voxels the scan covers)."""
    to_voxel = np.linalg.inv(scan.affine) @ pose.matrix() @ tmpl.affine
    idx = apply(to_voxel, np.indices(tmpl.image.shape, dtype=np.float64).reshape(3, -1).T)
    upper = np.array(scan.data.shape) - 0.5
    covered = np.all((idx >= -0.5) & (idx <= upper), axis=1)
    values = ndimage.map_coordinates(scan.data, idx.T, order=1, mode="nearest")
    values[~covered] = 0.0
    return values.reshape(tmpl.image.shape).astype(np.float32), covered.reshape(tmpl.image.shape)


@dataclass
class Reference:
    region: str
    mean: float  # scan intensity units
    coverage: float  # fraction of the reference region the scan covers
    fallback: bool


def reference(
    volume: np.ndarray,
    covered: np.ndarray,
    tmpl: Template,
    region: str,
    fallback: str,
    min_coverage: float,
) -> Reference:
    """Mean uptake in the reference region, or in the fallback region when it is not covered.

    The fallback mean is rescaled by the template's ratio of the two regions over the
    same covered voxels, so volumes normalised either way share one scale.
    """
    primary = tmpl.mask(region)
    coverage = float(covered[primary].mean())
    if coverage >= min_coverage:
        return Reference(region, float(volume[primary & covered].mean()), coverage, False)
    from spectstage.errors import InputError

    if fallback == "none":
        raise InputError(
            f"the scan covers {coverage:.0%} of the {region} reference region"
            " and no fallback is set"
        )
    alt = tmpl.mask(fallback) & covered
    if alt.sum() < 100:
        raise InputError(
            f"the scan covers neither the {region} nor the {fallback} reference region"
        )
    ratio = tmpl.image[alt].mean() / tmpl.image[primary].mean()
    return Reference(fallback, float(volume[alt].mean() / ratio), coverage, True)
