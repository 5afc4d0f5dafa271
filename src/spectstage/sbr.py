"""Reference normalisation and specific binding ratios in the template's volumes of interest.

Volumes are divided by the reference mean, so SBR = region mean - 1.
"""

from __future__ import annotations

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


def regional_sbr(volume: np.ndarray, tmpl: Template) -> dict[str, float]:
    return {
        f"sbr_{r}": round(float(volume[tmpl.mask(r)].mean()) - 1.0, 4) for r in STRIATAL_REGIONS
    }
