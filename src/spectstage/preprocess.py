"""Align a scan to the template with SimpleITK, resample it onto the canonical grid, normalise.

Registration: centre-of-mass (image moments) initialisation, then multi-resolution
Mattes mutual information (copes with low counts, streaks and a scalp that differs from
the template's), masked to the template's head, optimising a Similarity3DTransform
(rigid + isotropic scale; head size varies) or, with `ingest.registration: affine`,
an affine refinement of it. When the fit is poor (correlation with the template below
GOOD_FIT) it restarts from tilted and shifted poses and keeps the best: partial slice
stacks and tilted heads defeat a centre-of-mass start. Scans finer than REGISTRATION_MM
(128-matrix reconstructions, slice images) are binned to about it first: SPECT carries
~10 mm of detail, binning averages counting noise, and every metric evaluation is cheaper.
Partial scans then get a rigid refinement on the striata against a model of the scan's own
striatal binding (`_striatal_model`), so that disease, which empties the putamen first,
does not pull the regions towards the caudate. Deterministic: a fixed sampling seed and
one thread. SimpleITK works in LPS millimetres; poses are stored in RAS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spectstage.atlas import STRIATAL_REGIONS
from spectstage.geometry import Pose, apply
from spectstage.io import Scan
from spectstage.template import FWHM_MM as TEMPLATE_FWHM_MM
from spectstage.template import Template

SEED = 7  # metric sampling seed: same scan -> same pose
SAMPLING = 0.1  # share of the fixed (template) head voxels sampled by the metric
HISTOGRAM_BINS = 32
REGISTRATION_MM = 4.0  # the template is binned to this for registration: SPECT is ~10 mm FWHM
SHRINK = (2, 1)  # per level, of REGISTRATION_MM: 8 mm, then 4 mm
SMOOTH_MM = (6.0, 3.0)
ITERATIONS = 30  # per level; the landmarks do not move after ~30 (benchmarks/README.md)
GOOD_FIT = 0.7  # correlation below which the multi-start search runs
STRIATAL_MARGIN_MM = 20.0  # the refinement's mask: the striata and this much around them
REFINE_MM = 2.0  # the refinement's grid: the striata are ~10-20 mm across
REFINE_LEVELS = (1, 2.0)  # shrink, smoothing mm
REFINE_SAMPLING = 0.25
REFINE_ITERATIONS = 40
REFINE_TOLERANCE = 0.05  # correlation the refinement may lose over the covered head
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
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS
MIN_OVERLAP = 0.15


@dataclass
class Registration:
    matrix: np.ndarray  # 4x4 template (MNI) mm -> scanner mm, RAS
    correlation: float  # Pearson, template vs scan over the covered head voxels
    overlap: float  # fraction of the template head the scan covers at that pose
    method: str

    @property
    def pose(self) -> Pose:
        return Pose.from_matrix(self.matrix)


def _sitk():
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    return sitk


def to_sitk(data: np.ndarray, affine: np.ndarray, pixel=None):
    """A RAS-indexed array with its voxel-to-RAS affine as a SimpleITK (LPS) image."""
    sitk = _sitk()
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data).transpose(2, 1, 0)))
    if pixel is not None:
        img = sitk.Cast(img, pixel)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    lps = FLIP @ affine
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(v) for v in lps[:3, 3]])
    img.SetDirection([float(v) for v in (lps[:3, :3] / spacing).ravel()])
    return img


def _matrix_ras(transform) -> np.ndarray:
    """4x4 RAS affine of a SimpleITK matrix-offset transform (fixed LPS -> moving LPS)."""
    m = np.array(transform.GetMatrix()).reshape(3, 3)
    c = np.array(transform.GetCenter())
    t = np.array(transform.GetTranslation())
    lps = np.eye(4)
    lps[:3, :3] = m
    lps[:3, 3] = c + t - m @ c
    return FLIP @ lps @ FLIP


def _method(
    sitk,
    fixed_mask,
    transform,
    levels=(SHRINK, SMOOTH_MM),
    correlation: bool = False,
    sampling: float = SAMPLING,
    learning_rate: float = 2.0,
    iterations: int = ITERATIONS,
):
    """One configured registration: Mattes mutual information (or correlation), random
    sampling with a fixed seed inside the mask, gradient descent, one thread."""
    r = sitk.ImageRegistrationMethod()
    if correlation:
        r.SetMetricAsCorrelation()
    else:
        r.SetMetricAsMattesMutualInformation(HISTOGRAM_BINS)
    r.SetMetricSamplingStrategy(r.RANDOM)
    r.SetMetricSamplingPercentage(sampling, SEED)
    r.SetMetricFixedMask(fixed_mask)
    r.SetInterpolator(sitk.sitkLinear)
    r.SetOptimizerAsRegularStepGradientDescent(
        learningRate=learning_rate,
        minStep=1e-3,
        numberOfIterations=iterations,
        relaxationFactor=0.6,
        gradientMagnitudeTolerance=1e-8,
    )
    r.SetOptimizerScalesFromPhysicalShift()
    r.SetShrinkFactorsPerLevel(list(levels[0]))
    r.SetSmoothingSigmasPerLevel(list(levels[1]))
    r.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    r.SetInitialTransform(transform, inPlace=True)
    r.SetNumberOfThreads(1)
    return r


def _correlation(matrix: np.ndarray, scan: Scan, moving: np.ndarray, tmpl: Template):
    """(Pearson correlation, overlap) of template and scan on the template's 4 mm head grid."""
    sub = (slice(None, None, 2),) * 3
    head = tmpl.head()[sub]
    aff = tmpl.affine.copy()
    aff[:3, :3] *= 2
    points = apply(aff, np.argwhere(head).astype(np.float64))
    idx = apply(np.linalg.inv(scan.affine) @ matrix, points)
    inside = np.all((idx >= -0.5) & (idx <= np.array(moving.shape) - 0.5), axis=1)
    if inside.mean() < MIN_OVERLAP:
        return -1.0, float(inside.mean())
    values = ndimage.map_coordinates(moving, idx[inside].T, order=1, mode="nearest")
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
class _Fixed:
    """Template images for SimpleITK, made once per template: the global fit's at
    REGISTRATION_MM (the pyramid levels then shrink small images), and the striatal
    refinement's at REFINE_MM (its mask, the regions blurred to the scans' resolution, and
    the RAS points of the mask where the binding model is fitted)."""

    image: object
    head_mask: object
    striatal_mask: object
    striatal_centre: tuple[float, float, float]  # LPS mm
    refine_grid: object  # an image with the refinement grid's geometry
    region_maps: np.ndarray  # (regions, z, y, x): each striatal region blurred, SimpleITK order
    refine_points: np.ndarray  # (N, 3) RAS mm of the striatal mask's voxels
    refine_inside: np.ndarray  # the mask, SimpleITK order

    @classmethod
    def of(cls, sitk, tmpl: Template) -> _Fixed:
        head = ndimage.binary_dilation(tmpl.head(), iterations=2)
        near = ndimage.distance_transform_edt(~tmpl.striatum(), sampling=tmpl.grid.voxel_mm)
        voxel = tmpl.grid.voxel_mm

        def shrunk(data, pixel, mm=REGISTRATION_MM):
            factor = [max(1, round(mm / voxel))] * 3
            return sitk.BinShrink(to_sitk(data, tmpl.affine, pixel), factor)

        def mask(data, mm=REGISTRATION_MM):
            binned = shrunk(data.astype(np.float32), sitk.sitkFloat32, mm)
            return sitk.Cast(binned > 0, sitk.sitkUInt8)

        centre = tmpl.affine @ [*ndimage.center_of_mass(tmpl.striatum()), 1.0]
        sigma = TEMPLATE_FWHM_MM / 2.3548 / voxel
        maps = [
            ndimage.gaussian_filter(tmpl.mask(r).astype(np.float32), sigma)
            for r in STRIATAL_REGIONS
        ]
        # Cropped to the mask's box: the metric's image filters then run on ~1/8 of the grid.
        box = _box(sitk, mask(near <= STRIATAL_MARGIN_MM, REFINE_MM))
        striatal_mask = box(mask(near <= STRIATAL_MARGIN_MM, REFINE_MM))
        inside = sitk.GetArrayFromImage(striatal_mask).astype(bool)
        return cls(
            shrunk(tmpl.image, sitk.sitkFloat32),
            mask(head),
            striatal_mask,
            tuple(float(v) for v in (FLIP @ centre)[:3]),
            striatal_mask,
            np.stack(
                [sitk.GetArrayFromImage(box(shrunk(m, sitk.sitkFloat32, REFINE_MM))) for m in maps]
            ),
            _ras_points(striatal_mask, inside),
            inside,
        )


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


_FIXED: dict[int, tuple[Template, _Fixed]] = {}


def _fixed(sitk, tmpl: Template) -> _Fixed:
    cached = _FIXED.get(id(tmpl))
    if cached is None or cached[0] is not tmpl:
        _FIXED.clear()
        cached = _FIXED[id(tmpl)] = (tmpl, _Fixed.of(sitk, tmpl))
    return cached[1]


@dataclass
class _Images:
    """The SimpleITK images one registration needs."""

    fixed: _Fixed
    moving: object
    smoothed: np.ndarray  # scan for the quality measure (Poisson noise removed)

    @classmethod
    def of(cls, sitk, scan: Scan, tmpl: Template) -> _Images:
        data = np.clip(scan.data.astype(np.float32), 0, None)
        return cls(
            _fixed(sitk, tmpl),
            _binned(sitk, to_sitk(data, scan.affine, sitk.sitkFloat32)),
            ndimage.gaussian_filter(data, 4.0 / np.asarray(scan.voxel_mm)),
        )


def _binned(sitk, image):
    """The scan binned (averaged) to about REGISTRATION_MM along each finer axis."""
    factor = [max(1, int(REGISTRATION_MM / s + 0.25)) for s in image.GetSpacing()]
    return image if factor == [1, 1, 1] else sitk.BinShrink(image, factor)


def _global_fit(sitk, images: _Images, scan: Scan, tmpl: Template):
    """Moments start, then restarts while the fit is poor; the best (transform, corr, overlap)."""
    base = sitk.CenteredTransformInitializer(
        images.fixed.image,
        images.moving,
        sitk.Similarity3DTransform(),
        sitk.CenteredTransformInitializerFilter.MOMENTS,
    )
    best = None
    for rx, dy, dz in ((0.0, 0.0, 0.0), *RESTARTS):
        t = _start(sitk, base, rx, (dy, dz))
        try:
            _method(sitk, images.fixed.head_mask, t).Execute(images.fixed.image, images.moving)
        except RuntimeError:  # e.g. too few samples inside the scan at a bad start
            continue
        corr, overlap = _correlation(_matrix_ras(t), scan, images.smoothed, tmpl)
        if best is None or corr > best[1]:
            best = (t, corr, overlap)
        if corr >= GOOD_FIT:
            break
    if best is None:
        from spectstage.errors import InputError

        raise InputError("registration to the template failed from every start")
    return best


def _striatal_model(sitk, images: _Images, scan: Scan, matrix: np.ndarray):
    """The scan's own striatal binding on the refinement grid: a constant plus each region's
    blurred map, with amplitudes fitted (least squares) to the scan at the pose `matrix`.
    Correlating with this instead of the template keeps the fit on the striata when disease
    has emptied the posterior putamen and the template's pattern no longer matches."""
    f = images.fixed
    voxels = apply(np.linalg.inv(scan.affine) @ matrix, f.refine_points)
    values = ndimage.map_coordinates(images.smoothed, voxels.T, order=1, mode="nearest")
    design = np.column_stack([np.ones(len(values)), *(m[f.refine_inside] for m in f.region_maps)])
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    model = coef[0] + np.tensordot(coef[1:], f.region_maps, axes=1)
    image = sitk.GetImageFromArray(model.astype(np.float32))
    image.CopyInformation(f.refine_grid)
    return image


def _refine(sitk, images: _Images, scan: Scan, t):
    """Rigid correction on the striata and their surroundings, on top of the global fit
    (kept fixed as the moving initial transform): head outlines differ between people
    more than where the striata sit in them. Returns the refinement's 4x4 RAS matrix."""
    model = _striatal_model(sitk, images, scan, _matrix_ras(t))
    euler = sitk.Euler3DTransform()
    euler.SetCenter(images.fixed.striatal_centre)
    r = _method(
        sitk,
        images.fixed.striatal_mask,
        euler,
        levels=((REFINE_LEVELS[0],), (REFINE_LEVELS[1],)),
        correlation=True,  # the model's uptake is linear in the scan's
        sampling=REFINE_SAMPLING,
        learning_rate=1.0,
        iterations=REFINE_ITERATIONS,
    )
    r.SetMovingInitialTransform(t)
    r.Execute(model, images.moving)
    return _matrix_ras(euler)


def register(scan: Scan, tmpl: Template, transform: str = "similarity") -> Registration:
    """Global fit to the head; for scans covering part of the head only (slice stacks),
    then a rigid refinement on the striata, since the head outline cannot anchor them.
    (Not for whole-head scans: there the whole head anchors them as well, measured against
    the demo's truth, and the striatal shapes of one atlas do not then enter the pose.)"""
    sitk = _sitk()
    images = _Images.of(sitk, scan, tmpl)
    t, corr, overlap = _global_fit(sitk, images, scan, tmpl)
    method = transform
    if transform == "affine":
        affine = sitk.AffineTransform(3)
        affine.SetCenter(t.GetCenter())
        affine.SetMatrix(t.GetMatrix())
        affine.SetTranslation(t.GetTranslation())
        t = affine
        _method(sitk, images.fixed.head_mask, t).Execute(images.fixed.image, images.moving)
    matrix = _matrix_ras(t)
    if overlap < PARTIAL_COVERAGE:
        try:
            refined = matrix @ _refine(sitk, images, scan, t)
        except RuntimeError:  # too few samples: keep the global fit
            refined = None
        if refined is not None:
            refined_corr, refined_overlap = _correlation(refined, scan, images.smoothed, tmpl)
            # Keep the refinement unless it wrecked the global fit (a striatum nearly gone).
            if refined_corr >= corr - REFINE_TOLERANCE:
                matrix, corr, overlap = refined, refined_corr, refined_overlap
                method += " + striatal rigid refinement"
    return Registration(matrix, corr, overlap, method)


def resample(scan: Scan, matrix: np.ndarray, tmpl: Template) -> tuple[np.ndarray, np.ndarray]:
    """(scan on the template grid, mask of template voxels the scan covers): linear
    interpolation by SimpleITK (one thread); a template voxel is covered when its centre
    maps within half a voxel of the scan's voxel centres."""
    sitk = _sitk()
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
