"""Analytic DaTSCAN-like brain phantom placed in MNI152 millimetres (RAS+).

The demo's own anatomy: ellipsoids and an analytic folded cortex (`spectstage.demo.cortex`),
deliberately not the pipeline's template or atlas (Harvard-Oxford, nilearn's MNI152 maps), so
that measuring the pipeline on the demo measures something. The striata sit at published
MNI coordinates (caudate head about (+-13, 12, 10), putamen about (+-26, 0, 1) mm, its
posterior end lateral; cf. Harvard-Oxford centroids), so a patient's "true pose" maps MNI mm
to scanner mm and true landmarks are known exactly.
Coordinates: +x = patient right, +y = anterior, +z = superior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from spectstage.demo import cortex

# Region names are a convention the demo shares with the pipeline (its truth columns are the
# `sbr_*` columns): names only, from a module that holds no anatomy; the shapes below are the
# demo's own.
from spectstage.regions import STRIATAL_REGIONS

# Ellipsoids: centre (x, y, z) and semi-axes, in mm. Sizes follow adult anatomy:
# caudate ~4.7 cm3 (head and body), putamen ~5.2 cm3 and ~34 mm long, brain ~175 mm long.
HEAD = ((0.0, -18.0, 4.0), (78.0, 100.0, 88.0))
BRAIN = ((0.0, -18.0, 12.0), (68.0, 88.0, 64.0))  # cerebrum's pial hull: x +-68, y -106..70
# Cerebellum and brainstem below the cerebrum (MNI152: the brain reaches z = -70 mm).
CEREBELLUM = ((0.0, -62.0, -36.0), (48.0, 26.0, 22.0))
BRAINSTEM = ((0.0, -28.0, -30.0), (10.0, 12.0, 26.0))
CAUDATE = ((12.5, 12.0, 10.0), (7.5, 12.0, 10.5))  # head, right side; left mirrors x
CAUDATE_BODY = ((15.0, -4.0, 19.0), (4.0, 9.0, 5.0))  # curving back above the thalamus
PUTAMEN = ((26.0, 0.0, 1.0), (7.0, 17.0, 10.5))
PUTAMEN_YAW_DEG = 18.0  # long axis turned in the axial plane: the posterior end is lateral
PUTAMEN_SPLIT_Y_MM = 0.0  # anterior / posterior putamen: the anterior-commissure plane

# Non-specific uptake levels relative to grey matter (cortex, the occipital reference's
# tissue, = 1). [123I]FP-CIT's non-specific uptake is lower in white matter than in grey
# (unchanged from the shell phantom); sulcal CSF takes up none.
SCALP_UPTAKE = 0.15
WHITE_MATTER_UPTAKE = 0.65
CSF_UPTAKE = 0.0


@dataclass(frozen=True)
class Uptake:
    """Specific binding ratio (SBR) per striatal region; grey matter is 1.0."""

    sbr: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STRIATAL_REGIONS, 3.0))


@cache
def landmarks() -> dict[str, tuple[float, float, float]]:
    """True MNI centroids (mm) of the caudate (head and body) and the putamen of each side,
    computed on a 0.5 mm grid."""
    axis = np.arange(-40.0, 40.0, 0.5, dtype=np.float32)
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    masks = _striatal_masks(points)
    out = {}
    for side in ("right", "left"):
        putamen = masks[f"putamen_anterior_{side}"] | masks[f"putamen_posterior_{side}"]
        for name, mask in (("caudate", masks[f"caudate_{side}"]), ("putamen", putamen)):
            out[f"{name}_{side}"] = tuple(float(v) for v in points[mask].mean(axis=0))
    return out


def _near(points: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """Indices of the points within `radius` of `centre` along every axis. A cheap
    pre-selection: each region is small next to the field of view, so the exact test
    below then runs on a few points instead of millions (the results are the same)."""
    idx = np.flatnonzero(np.abs(points[:, 0] - centre[0]) <= radius)
    for axis in (1, 2):
        idx = idx[np.abs(points[idx, axis] - centre[axis]) <= radius]
    return idx


def _inside(points: np.ndarray, centre, axes) -> np.ndarray:
    centre, axes = np.asarray(centre, dtype=np.float32), np.asarray(axes, dtype=np.float32)
    inside = np.zeros(len(points), dtype=bool)
    # Inside the ellipsoid means within its longest semi-axis of the centre (1 % margin).
    idx = _near(points, centre, 1.01 * float(axes.max()))
    d = (points[idx] - centre) / axes
    inside[idx] = np.einsum("ij,ij->i", d, d) <= 1.0
    return inside


def _yawed(points: np.ndarray, shape, yaw_deg: float) -> np.ndarray:
    """Inside an ellipsoid whose y axis is turned by yaw_deg about z (towards -x anteriorly)."""
    (centre, axes), a = shape, np.deg2rad(yaw_deg)
    centre = np.asarray(centre, dtype=np.float32)
    idx = _near(points, centre, 1.01 * float(np.max(axes)))  # a turn keeps distances
    d = points[idx] - centre
    # Coordinates along the ellipsoid's own axes: x' = x cos a + y sin a, y' = -x sin a + y cos a.
    local = np.stack(
        [
            d[:, 0] * np.cos(a) + d[:, 1] * np.sin(a),
            -d[:, 0] * np.sin(a) + d[:, 1] * np.cos(a),
            d[:, 2],
        ],
        axis=1,
    )
    inside = np.zeros(len(points), dtype=bool)
    inside[idx] = _inside(local, (0.0, 0.0, 0.0), axes)
    return inside


def _striatal_masks(points: np.ndarray) -> dict[str, np.ndarray]:
    masks = {}
    anterior = points[:, 1] >= PUTAMEN_SPLIT_Y_MM
    for side, sign in (("right", 1.0), ("left", -1.0)):

        def at(shape, sign=sign):
            (x, y, z), axes = shape
            return _inside(points, (sign * x, y, z), axes)

        masks[f"caudate_{side}"] = at(CAUDATE) | at(CAUDATE_BODY)
        (x, y, z), axes = PUTAMEN
        putamen = _yawed(points, ((sign * x, y, z), axes), sign * PUTAMEN_YAW_DEG)
        masks[f"putamen_anterior_{side}"] = putamen & anterior
        masks[f"putamen_posterior_{side}"] = putamen & ~anterior
    return masks


def region_masks(points: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean membership of each point (N, 3) in the phantom's regions. Inside the cerebrum,
    grey matter, white matter and sulcal CSF come from the folded cortex; the cerebellum
    (its folia too fine to resolve: grey) takes precedence where the cerebrum's ellipsoid
    reaches down over it, and the brainstem below the cerebrum is grey."""
    cerebrum = _inside(points, *BRAIN)
    cerebellum = _inside(points, *CEREBELLUM)
    kind = np.full(len(points), -1)
    kind[cerebrum] = cortex.classify(points[cerebrum], *BRAIN)
    kind[cerebellum] = cortex.GREY
    kind[~cerebrum & _inside(points, *BRAINSTEM)] = cortex.GREY
    masks = {
        "head": _inside(points, *HEAD),
        "brain": kind >= 0,
        "grey_matter": kind == cortex.GREY,
        "white_matter": kind == cortex.WHITE,
        "csf": kind == cortex.CSF,
    }
    return {**masks, **_striatal_masks(points)}


def evaluate(points: np.ndarray, uptake: Uptake) -> np.ndarray:
    """Noise-free, unblurred activity at MNI points (N, 3) in mm."""
    return evaluate_with_brain(points, uptake)[0]


def evaluate_with_brain(points: np.ndarray, uptake: Uptake) -> tuple[np.ndarray, np.ndarray]:
    """(activity, brain mask) at MNI points (N, 3): the mask tells brain from head tissue
    whatever the uptake (sulcal CSF takes up less than the scalp)."""
    masks = region_masks(points)
    act = np.zeros(len(points), dtype=np.float32)
    act[masks["head"]] = SCALP_UPTAKE
    act[masks["grey_matter"]] = 1.0
    act[masks["white_matter"]] = WHITE_MATTER_UPTAKE
    act[masks["csf"]] = CSF_UPTAKE
    for region in STRIATAL_REGIONS:
        act[masks[region]] = 1.0 + uptake.sbr[region]
    return act, masks["brain"]
