"""Specific binding ratios in the template's volumes of interest.

Volumes are already divided by the reference mean, so SBR = region mean - 1.
"""

from __future__ import annotations

import numpy as np

from spectstage.template import STRIATAL_REGIONS, Template


def regional_sbr(volume: np.ndarray, tmpl: Template) -> dict[str, float]:
    return {
        f"sbr_{r}": round(float(volume[tmpl.mask(r)].mean()) - 1.0, 4) for r in STRIATAL_REGIONS
    }
