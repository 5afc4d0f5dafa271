"""Reference normalisation and specific binding ratios in the template's volumes of interest.

Volumes are divided by the reference mean, so SBR = region mean - 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spectstage.errors import InputError
from spectstage.template import STRIATAL_REGIONS, Template


@dataclass
class Reference:
    region: str
    mean: float  # scan intensity units
    coverage: float  # fraction of the reference region the scan covers
    fallback: bool
    template_ratio: float = 1.0  # fallback / primary region on the template (1: no fallback)


def reference(
    volume: np.ndarray,
    covered: np.ndarray,
    tmpl: Template,
    region: str,
    fallback: str,
    min_coverage: float,
) -> Reference:
    """Mean uptake in the reference region, or in the fallback region when it is not covered.

    The fallback mean is rescaled by the template's ratio of the two regions (the fallback
    over the covered voxels, the primary whole), so volumes normalised either way share one
    scale. The ratio is the template's anatomy, never a cohort's; how far it holds on a
    brain that is not the template depends on the fallback region: the cortex (the
    occipital's own kind of region) least (see spectstage.atlas).
    """
    primary = tmpl.mask(region)
    coverage = float(covered[primary].mean())
    if coverage >= min_coverage:
        return Reference(region, float(volume[primary & covered].mean()), coverage, False)
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
    return Reference(fallback, float(volume[alt].mean() / ratio), coverage, True, float(ratio))


def regional_sbr(
    volume: np.ndarray, tmpl: Template, covered: np.ndarray | None = None
) -> dict[str, float]:
    """Mean of each striatal region minus 1 (the volume is reference-normalised), over the
    region's voxels the scan covers (`covered`; all when None): a short slice stack that ends
    across a putamen must not count the voxels beyond its last slice as zero uptake. NaN for
    a region the scan does not reach at all."""
    out = {}
    for r in STRIATAL_REGIONS:
        inside = tmpl.mask(r) if covered is None else tmpl.mask(r) & covered
        mean = float(volume[inside].mean()) if inside.any() else math.nan
        out[f"sbr_{r}"] = round(mean - 1.0, 4)
    return out


def region_coverage(covered: np.ndarray, tmpl: Template) -> float:
    """The smallest share of a striatal region's voxels that the scan covers."""
    return min(float(covered[tmpl.mask(r)].mean()) for r in STRIATAL_REGIONS)


def region_voxels(tmpl: Template) -> dict[str, int]:
    """Voxels per striatal region: the weights that pool sub-regions into a whole."""
    return {r: int(tmpl.mask(r).sum()) for r in STRIATAL_REGIONS}


def striatal_summary(sbr: dict[str, float], voxels: dict[str, int]) -> dict[str, float]:
    """DaTQUANT-style summary measures from the regional SBRs (`sbr_<region>` keys).

    - `sbr_putamen_<side>`: whole-putamen SBR, the mean over the anterior and posterior
      voxels together (each sub-region's mean weighted by its voxel count, not the average of
      the two means: the posterior putamen is the smaller one and the first to lose uptake);
    - `caudate_putamen_ratio_<side>`: caudate SBR / whole-putamen SBR (NaN when the putamen
      SBR is not positive: the ratio has no meaning there);
    - `putamen_asymmetry`: |L - R| / mean(L, R) of the whole-putamen SBRs (a fraction; DaTQUANT
      prints it x 100 as a percentage; NaN when the mean is not positive).
    """
    out: dict[str, float] = {}
    for side in ("left", "right"):
        parts = [f"putamen_anterior_{side}", f"putamen_posterior_{side}"]
        weights = np.array([voxels[p] for p in parts], dtype=float)
        means = np.array([sbr[f"sbr_{p}"] for p in parts], dtype=float)
        out[f"sbr_putamen_{side}"] = float(weights @ means / weights.sum())
    for side in ("left", "right"):
        putamen = out[f"sbr_putamen_{side}"]
        caudate = sbr[f"sbr_caudate_{side}"]
        out[f"caudate_putamen_ratio_{side}"] = caudate / putamen if putamen > 0 else math.nan
    left, right = out["sbr_putamen_left"], out["sbr_putamen_right"]
    mean = (left + right) / 2
    out["putamen_asymmetry"] = abs(left - right) / mean if mean > 0 else math.nan
    return {k: round(v, 4) for k, v in out.items()}
