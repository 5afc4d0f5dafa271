"""SimpleITK set-up for the registration to the template (spectstage.preprocess).

Conversions between the project's RAS arrays and SimpleITK's LPS images, one configured
registration method (Mattes mutual information or correlation, random sampling with a fixed
seed inside a mask, gradient descent, one thread: the same scan always gives the same pose),
binning to about REGISTRATION_MM, and the template images the global fit uses, made once per
template.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spectstage.template import Template

SEED = 7  # metric sampling seed: same scan -> same pose
SAMPLING = 0.1  # share of the fixed (template) head voxels sampled by the metric
HISTOGRAM_BINS = 32
REGISTRATION_MM = 4.0  # the template is binned to this for registration: SPECT is ~10 mm FWHM
SHRINK = (2, 1)  # per level, of REGISTRATION_MM: 8 mm, then 4 mm
SMOOTH_MM = (6.0, 3.0)
ITERATIONS = 30  # per level; the landmarks do not move after ~30 (benchmarks/README.md)
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])  # RAS <-> LPS


def sitk_module():
    """SimpleITK with one thread for every filter (threads change results run to run)."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    return sitk


def to_sitk(data: np.ndarray, affine: np.ndarray, pixel=None):
    """A RAS-indexed array with its voxel-to-RAS affine as a SimpleITK (LPS) image."""
    sitk = sitk_module()
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data).transpose(2, 1, 0)))
    if pixel is not None:
        img = sitk.Cast(img, pixel)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    lps = FLIP @ affine
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(v) for v in lps[:3, 3]])
    img.SetDirection([float(v) for v in (lps[:3, :3] / spacing).ravel()])
    return img


def matrix_ras(transform) -> np.ndarray:
    """4x4 RAS affine of a SimpleITK matrix-offset transform (fixed LPS -> moving LPS)."""
    m = np.array(transform.GetMatrix()).reshape(3, 3)
    c = np.array(transform.GetCenter())
    t = np.array(transform.GetTranslation())
    lps = np.eye(4)
    lps[:3, :3] = m
    lps[:3, 3] = c + t - m @ c
    return FLIP @ lps @ FLIP


def method(
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


def shrunk(sitk, tmpl: Template, data: np.ndarray, pixel, mm: float = REGISTRATION_MM):
    """A template-grid array as a SimpleITK image binned (averaged) to about `mm`."""
    factor = [max(1, round(mm / tmpl.grid.voxel_mm))] * 3
    return sitk.BinShrink(to_sitk(data, tmpl.affine, pixel), factor)


def shrunk_mask(sitk, tmpl: Template, mask: np.ndarray, mm: float = REGISTRATION_MM):
    """A template-grid mask binned to about `mm`: a binned voxel is in if any voxel was."""
    binned = shrunk(sitk, tmpl, mask.astype(np.float32), sitk.sitkFloat32, mm)
    return sitk.Cast(binned > 0, sitk.sitkUInt8)


def binned(sitk, image):
    """The scan binned (averaged) to about REGISTRATION_MM along each finer axis."""
    factor = [max(1, int(REGISTRATION_MM / s + 0.25)) for s in image.GetSpacing()]
    return image if factor == [1, 1, 1] else sitk.BinShrink(image, factor)


@dataclass
class GlobalFixed:
    """The template for the global fit, at REGISTRATION_MM (the pyramid levels then shrink
    small images): its image and its head, dilated by two voxels (the metric's mask)."""

    image: object
    head_mask: object

    @classmethod
    def of(cls, sitk, tmpl: Template) -> GlobalFixed:
        head = ndimage.binary_dilation(tmpl.head(), iterations=2)
        return cls(shrunk(sitk, tmpl, tmpl.image, sitk.sitkFloat32), shrunk_mask(sitk, tmpl, head))


def cached_per_template(build):
    """`build(sitk, tmpl)` memoised for the last template seen (ingest uses one template)."""
    memo: dict[int, tuple[Template, object]] = {}

    def get(sitk, tmpl: Template):
        hit = memo.get(id(tmpl))
        if hit is None or hit[0] is not tmpl:
            memo.clear()
            hit = memo[id(tmpl)] = (tmpl, build(sitk, tmpl))
        return hit[1]

    return get


global_fixed = cached_per_template(GlobalFixed.of)
