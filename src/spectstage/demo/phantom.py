"""Analytic DaTSCAN-like brain phantom in template space (millimetres, RAS+).

The same geometry defines the shipped template and its volumes of interest
(`spectstage.template`) and renders the synthetic demo patients, so "true"
regional uptake is known exactly. Coordinates: +x = patient right,
+y = anterior, +z = superior; the origin sits between the two striata.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Region names in a fixed order; labels in the atlas are index + 1.
STRIATAL_REGIONS = (
    "caudate_left",
    "caudate_right",
    "putamen_anterior_left",
    "putamen_anterior_right",
    "putamen_posterior_left",
    "putamen_posterior_right",
)
REGIONS = (*STRIATAL_REGIONS, "occipital")

# Ellipsoids: centre (x, y, z) and semi-axes, in mm. Sizes follow adult anatomy:
# putamen ~30 mm long antero-posteriorly, caudate head ~20 mm, brain ~170 mm long.
HEAD = ((0.0, -15.0, 8.0), (76.0, 96.0, 72.0))
BRAIN = ((0.0, -15.0, 10.0), (68.0, 86.0, 62.0))
WHITE_MATTER_SCALE = 0.82  # inner ellipsoid of the cortical shell, relative to BRAIN
CAUDATE = ((12.0, 13.0, 9.0), (5.0, 9.0, 8.0))  # right side; left mirrors x
PUTAMEN = ((25.0, 0.0, 0.0), (5.5, 15.0, 9.0))
OCCIPITAL_MAX_Y = -72.0  # cortex behind this plane is the reference region
OCCIPITAL_Z = (-25.0, 45.0)

# Non-specific uptake levels relative to grey matter.
SCALP_UPTAKE = 0.15
WHITE_MATTER_UPTAKE = 0.65


@dataclass(frozen=True)
class Uptake:
    """Specific binding ratio (SBR) per striatal region; grey matter is 1.0."""

    sbr: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STRIATAL_REGIONS, 3.0))


def _inside(points: np.ndarray, centre, axes) -> np.ndarray:
    d = (points - np.asarray(centre, dtype=np.float32)) / np.asarray(axes, dtype=np.float32)
    return np.einsum("ij,ij->i", d, d) <= 1.0


def _mirror(centre) -> tuple[float, float, float]:
    return (-centre[0], centre[1], centre[2])


def region_masks(points: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean membership of each point (N, 3) in the phantom's regions."""
    brain = _inside(points, *BRAIN)
    wm = _inside(points, BRAIN[0], np.asarray(BRAIN[1]) * WHITE_MATTER_SCALE)
    cortex = brain & ~wm
    y, z = points[:, 1], points[:, 2]
    masks = {
        "head": _inside(points, *HEAD),
        "brain": brain,
        "white_matter": wm,
        "cortex": cortex,
        "occipital": cortex & (y < OCCIPITAL_MAX_Y) & (z > OCCIPITAL_Z[0]) & (z < OCCIPITAL_Z[1]),
    }
    for side, flip in (("right", False), ("left", True)):
        caud_c = _mirror(CAUDATE[0]) if flip else CAUDATE[0]
        put_c = _mirror(PUTAMEN[0]) if flip else PUTAMEN[0]
        putamen = _inside(points, put_c, PUTAMEN[1])
        masks[f"caudate_{side}"] = _inside(points, caud_c, CAUDATE[1])
        masks[f"putamen_anterior_{side}"] = putamen & (y > PUTAMEN[0][1])
        masks[f"putamen_posterior_{side}"] = putamen & (y <= PUTAMEN[0][1])
    return masks


def evaluate(points: np.ndarray, uptake: Uptake) -> np.ndarray:
    """Noise-free, unblurred activity at template points (N, 3) in mm."""
    masks = region_masks(points)
    act = np.zeros(len(points), dtype=np.float32)
    act[masks["head"]] = SCALP_UPTAKE
    act[masks["white_matter"]] = WHITE_MATTER_UPTAKE
    act[masks["cortex"]] = 1.0
    for region in STRIATAL_REGIONS:
        act[masks[region]] = 1.0 + uptake.sbr[region]
    return act
