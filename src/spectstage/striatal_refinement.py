"""The striatal refinement of a partial scan's pose (spectstage.preprocess).

A slice stack around the striata covers too little of the head for its outline to anchor
them, so after the global fit a rigid correction is fitted on the striata and their
surroundings, against a model of the scan's own striatal binding rather than the template's:
disease empties the putamen first, and correlating with a healthy-looking template would
pull the regions towards the caudate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spectstage.atlas import STRIATAL_REGIONS
from spectstage.geometry import apply
from spectstage.io import Scan
from spectstage.registration_setup import (
    FLIP,
    cached_per_template,
    matrix_ras,
    method,
    shrunk,
    shrunk_mask,
)
from spectstage.template import FWHM_MM as TEMPLATE_FWHM_MM
from spectstage.template import Template

STRIATAL_MARGIN_MM = 20.0  # the refinement's mask: the striata and this much around them
REFINE_MM = 2.0  # the refinement's grid: the striata are ~10-20 mm across
REFINE_LEVELS = (1, 2.0)  # shrink, smoothing mm
REFINE_SAMPLING = 0.25
REFINE_ITERATIONS = 40
MIN_MODEL_POINTS = 100  # mask voxels inside the scan needed to fit the binding model


@dataclass
class RefineFixed:
    """The template side of the refinement, on the REFINE_MM grid cropped to the mask's box
    (the metric's image filters then run on ~1/8 of the grid): the mask (whose geometry is
    the refinement grid's), the striatal centre, each striatal region's map blurred to the
    template's FWHM_MM, and the RAS points of the mask's voxels, where the model is fitted."""

    mask: object
    centre: tuple[float, float, float]  # LPS mm, the rigid transform's centre
    region_maps: np.ndarray  # (regions, z, y, x), SimpleITK order
    inside: np.ndarray  # the mask as an array, SimpleITK order
    points: np.ndarray  # (N, 3) RAS mm of the mask's voxels

    @classmethod
    def of(cls, sitk, tmpl: Template) -> RefineFixed:
        near = ndimage.distance_transform_edt(~tmpl.striatum(), sampling=tmpl.grid.voxel_mm)
        full_mask = shrunk_mask(sitk, tmpl, near <= STRIATAL_MARGIN_MM, REFINE_MM)
        box = _box(sitk, full_mask)
        mask = box(full_mask)
        inside = sitk.GetArrayFromImage(mask).astype(bool)
        sigma = TEMPLATE_FWHM_MM / 2.3548 / tmpl.grid.voxel_mm
        maps = []
        for region in STRIATAL_REGIONS:
            blurred = ndimage.gaussian_filter(tmpl.mask(region).astype(np.float32), sigma)
            image = box(shrunk(sitk, tmpl, blurred, sitk.sitkFloat32, REFINE_MM))
            maps.append(sitk.GetArrayFromImage(image))
        centre = tmpl.affine @ [*ndimage.center_of_mass(tmpl.striatum()), 1.0]
        return cls(
            mask,
            tuple(float(v) for v in (FLIP @ centre)[:3]),
            np.stack(maps),
            inside,
            _ras_points(mask, inside),
        )


refine_fixed = cached_per_template(RefineFixed.of)


def _box(sitk, mask):
    """A function cropping images on the mask's grid to the mask's bounding box."""
    inside = np.argwhere(sitk.GetArrayFromImage(mask))[:, ::-1]  # x, y, z
    lo, hi = inside.min(axis=0), inside.max(axis=0) + 1
    return lambda image: sitk.RegionOfInterest(
        image, [int(v) for v in hi - lo], [int(v) for v in lo]
    )


def _ras_points(image, inside: np.ndarray) -> np.ndarray:
    """RAS mm of the voxels of a SimpleITK image where `inside` (SimpleITK z, y, x order)."""
    index = np.argwhere(inside)[:, ::-1].astype(np.float64)  # -> x, y, z
    direction = np.array(image.GetDirection()).reshape(3, 3) * np.array(image.GetSpacing())
    lps = index @ direction.T + np.array(image.GetOrigin())
    return lps * [-1.0, -1.0, 1.0]


def striatal_model(sitk, fixed: RefineFixed, scan: Scan, smoothed: np.ndarray, matrix):
    """The scan's own striatal binding on the refinement grid: a constant plus each region's
    blurred map, with amplitudes fitted (least squares) to the smoothed scan at the pose
    `matrix`, over the mask points that fall inside the scan (a partial stack's slices end
    within the mask: values beyond them would be the edge slice's, repeated)."""
    voxels = apply(np.linalg.inv(scan.affine) @ matrix, fixed.points)
    within = np.all((voxels >= -0.5) & (voxels <= np.array(smoothed.shape) - 0.5), axis=1)
    if within.sum() < MIN_MODEL_POINTS:
        raise RuntimeError("too little of the striatal mask inside the scan")
    values = ndimage.map_coordinates(smoothed, voxels[within].T, order=1, mode="nearest")
    maps = [m[fixed.inside][within] for m in fixed.region_maps]
    design = np.column_stack([np.ones(len(values)), *maps])
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    model = coef[0] + np.tensordot(coef[1:], fixed.region_maps, axes=1)
    image = sitk.GetImageFromArray(model.astype(np.float32))
    image.CopyInformation(fixed.mask)
    return image


def refine(sitk, tmpl: Template, scan: Scan, smoothed: np.ndarray, moving, transform):
    """Rigid correction on the striata and their surroundings, on top of the global fit
    `transform` (kept fixed as the moving initial transform): head outlines differ between
    people more than where the striata sit in them. Returns the refinement's 4x4 RAS matrix;
    RuntimeError when too little of the mask lies inside the scan."""
    fixed = refine_fixed(sitk, tmpl)
    model = striatal_model(sitk, fixed, scan, smoothed, matrix_ras(transform))
    euler = sitk.Euler3DTransform()
    euler.SetCenter(fixed.centre)
    r = method(
        sitk,
        fixed.mask,
        euler,
        levels=((REFINE_LEVELS[0],), (REFINE_LEVELS[1],)),
        correlation=True,  # the model's uptake is linear in the scan's
        sampling=REFINE_SAMPLING,
        learning_rate=1.0,
        iterations=REFINE_ITERATIONS,
    )
    r.SetMovingInitialTransform(transform)
    r.Execute(model, moving)
    return matrix_ras(euler)
