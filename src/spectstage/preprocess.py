"""Align a scan to the template with SimpleITK, resample it onto the canonical grid.

Registration: centre-of-mass (image moments) initialisation, then multi-resolution
Mattes mutual information (copes with low counts, streaks and a scalp that differs from
the template's), masked to the template's head, optimising a Similarity3DTransform
(rigid + isotropic scale; head size varies) or, with `ingest.registration: affine`,
an affine refinement of it. When the fit is poor (correlation with the template below
GOOD_FIT) it restarts from tilted and shifted poses and keeps the best: partial slice
stacks and tilted heads defeat a centre-of-mass start. Scans finer than REGISTRATION_MM
(128-matrix reconstructions, slice images) are binned to about it first: SPECT carries
~10 mm of detail, binning averages counting noise, and every metric evaluation is cheaper.
Partial scans then get a rigid refinement on the striata (spectstage.striatal_refinement).
The SimpleITK set-up (deterministic: a fixed sampling seed and one thread; SimpleITK works
in LPS millimetres, poses are stored in RAS) is in spectstage.registration_setup.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spectstage.errors import InputError
from spectstage.geometry import Pose, apply
from spectstage.io import Scan
from spectstage.registration_setup import (
    FLIP,
    binned,
    global_fixed,
    matrix_ras,
    method,
    sitk_module,
    to_sitk,
)
from spectstage.striatal_refinement import refine
from spectstage.template import Template

GOOD_FIT = 0.7  # correlation below which the multi-start search runs
REFINE_TOLERANCE = 0.05  # correlation the striatal refinement may lose over the covered head
PARTIAL_COVERAGE = 0.8  # share of the template head below which a scan is partial
# Restarts: (rotation about x = nod, y offset mm, z offset mm). Nodding is the commonest
# head tilt; partial stacks are off along y and z.
RESTARTS = (
    (15.0, 0.0, 0.0),
    (-15.0, 0.0, 0.0),
    (0.0, 20.0, 0.0),
    (0.0, -20.0, 0.0),
    (0.0, 0.0, 15.0),
    (0.0, 0.0, -15.0),
)
MIN_OVERLAP = 0.15
QUALITY_SMOOTHING_MM = 4.0  # Gaussian sigma: the quality measure and the binding model


@dataclass
class Registration:
    matrix: np.ndarray  # 4x4 template (MNI) mm -> scanner mm, RAS
    correlation: float  # Pearson, template vs scan over the covered head voxels
    overlap: float  # fraction of the template head the scan covers at that pose
    method: str

    @property
    def pose(self) -> Pose:
        return Pose.from_matrix(self.matrix)


def _correlation(matrix: np.ndarray, scan: Scan, smoothed: np.ndarray, tmpl: Template):
    """(Pearson correlation, overlap) of template and scan on the template's 4 mm head grid."""
    sub = (slice(None, None, 2),) * 3
    head = tmpl.head()[sub]
    aff = tmpl.affine.copy()
    aff[:3, :3] *= 2
    points = apply(aff, np.argwhere(head).astype(np.float64))
    idx = apply(np.linalg.inv(scan.affine) @ matrix, points)
    inside = np.all((idx >= -0.5) & (idx <= np.array(smoothed.shape) - 0.5), axis=1)
    if inside.mean() < MIN_OVERLAP:
        return -1.0, float(inside.mean())
    values = ndimage.map_coordinates(smoothed, idx[inside].T, order=1, mode="nearest")
    fixed = tmpl.image[sub][head][inside]
    if values.std() == 0:
        return -1.0, float(inside.mean())
    return float(np.corrcoef(fixed, values)[0, 1]), float(inside.mean())


def _start(sitk, base, rotate_x_deg: float, shift_mm: tuple[float, float]):
    """A copy of the moments start, nodded about x and shifted (RAS y, z)."""
    t = sitk.Similarity3DTransform(base)
    t.SetRotation((1.0, 0.0, 0.0), float(np.deg2rad(rotate_x_deg)))
    # LPS y = -RAS y.
    tx, ty, tz = t.GetTranslation()
    t.SetTranslation((tx, ty - shift_mm[0], tz + shift_mm[1]))
    return t


@dataclass
class _Images:
    """The scan as one registration needs it: binned for SimpleITK, and smoothed (sigma
    QUALITY_SMOOTHING_MM: less counting noise, coarser than the scan) for the quality
    measure and the striatal binding model."""

    moving: object
    smoothed: np.ndarray

    @classmethod
    def of(cls, sitk, scan: Scan) -> _Images:
        data = np.clip(scan.data.astype(np.float32), 0, None)
        return cls(
            binned(sitk, to_sitk(data, scan.affine, sitk.sitkFloat32)),
            ndimage.gaussian_filter(data, QUALITY_SMOOTHING_MM / np.asarray(scan.voxel_mm)),
        )


def _global_fit(sitk, images: _Images, scan: Scan, tmpl: Template):
    """Moments start, then restarts while the fit is poor; the best (transform, corr, overlap)."""
    fixed = global_fixed(sitk, tmpl)
    base = sitk.CenteredTransformInitializer(
        fixed.image,
        images.moving,
        sitk.Similarity3DTransform(),
        sitk.CenteredTransformInitializerFilter.MOMENTS,
    )
    best = None
    for rx, dy, dz in ((0.0, 0.0, 0.0), *RESTARTS):
        t = _start(sitk, base, rx, (dy, dz))
        try:
            method(sitk, fixed.head_mask, t).Execute(fixed.image, images.moving)
        except RuntimeError:  # e.g. too few samples inside the scan at a bad start
            continue
        corr, overlap = _correlation(matrix_ras(t), scan, images.smoothed, tmpl)
        if best is None or corr > best[1]:
            best = (t, corr, overlap)
        if corr >= GOOD_FIT:
            break
    if best is None:
        raise InputError("registration to the template failed from every start")
    return best


def _affine(sitk, images: _Images, tmpl: Template, t):
    """An affine refinement of the similarity fit `t` (`ingest.registration: affine`)."""
    fixed = global_fixed(sitk, tmpl)
    affine = sitk.AffineTransform(3)
    affine.SetCenter(t.GetCenter())
    affine.SetMatrix(t.GetMatrix())
    affine.SetTranslation(t.GetTranslation())
    method(sitk, fixed.head_mask, affine).Execute(fixed.image, images.moving)
    return affine


def register(scan: Scan, tmpl: Template, transform: str = "similarity") -> Registration:
    """Global fit to the head; for scans covering part of the head only (slice stacks),
    then a rigid refinement on the striata, since the head outline cannot anchor them.
    (Not for whole-head scans: there the whole head anchors them as well, measured against
    the demo's truth, and the striatal shapes of one atlas do not then enter the pose.)"""
    sitk = sitk_module()
    images = _Images.of(sitk, scan)
    t, corr, overlap = _global_fit(sitk, images, scan, tmpl)
    name = transform
    if transform == "affine":
        t = _affine(sitk, images, tmpl, t)
    matrix = matrix_ras(t)
    if overlap < PARTIAL_COVERAGE:
        try:
            refined = matrix @ refine(sitk, tmpl, scan, images.smoothed, images.moving, t)
        except RuntimeError:  # too few samples: keep the global fit
            refined = None
        if refined is not None:
            refined_corr, refined_overlap = _correlation(refined, scan, images.smoothed, tmpl)
            # Keep the refinement unless it wrecked the global fit (a striatum nearly gone).
            if refined_corr >= corr - REFINE_TOLERANCE:
                matrix, corr, overlap = refined, refined_corr, refined_overlap
                name += " + striatal rigid refinement"
    return Registration(matrix, corr, overlap, name)


def resample(scan: Scan, matrix: np.ndarray, tmpl: Template) -> tuple[np.ndarray, np.ndarray]:
    """(scan on the template grid, mask of template voxels the scan covers): linear
    interpolation by SimpleITK (one thread); a template voxel is covered when its centre
    maps within half a voxel of the scan's voxel centres."""
    sitk = sitk_module()
    lps = FLIP @ matrix @ FLIP
    transform = sitk.AffineTransform(3)
    transform.SetMatrix([float(v) for v in lps[:3, :3].ravel()])
    transform.SetTranslation([float(v) for v in lps[:3, 3]])
    grid = to_sitk(np.zeros(tmpl.image.shape, dtype=np.uint8), tmpl.affine)

    def onto_grid(data, interpolator, pixel):
        image = to_sitk(data, scan.affine, pixel)
        out = sitk.Resample(image, grid, transform, interpolator, 0.0, pixel)
        return sitk.GetArrayFromImage(out).transpose(2, 1, 0)

    values = onto_grid(scan.data.astype(np.float32), sitk.sitkLinear, sitk.sitkFloat32)
    ones = np.ones(scan.data.shape, dtype=np.uint8)
    covered = onto_grid(ones, sitk.sitkNearestNeighbor, sitk.sitkUInt8).astype(bool)
    values[~covered] = 0.0
    return values.astype(np.float32), covered
