"""Extracerebral uptake around the demo brain, in MNI millimetres (the demo's own shapes).

A real DaTSCAN reconstruction shows more than the brain: the scalp as a faint ring, the
parotid and submandibular salivary glands and the nasal mucosa (which take up the tracer
non-specifically, often brighter than cortex) and the skull base and upper neck at the bottom
of the field of view. Positions are rough adult anatomy relative to the MNI brain: parotids
in front of the ears below the temporal lobes, submandibular glands under the jaw, the nasal
cavity in front of and below the frontal lobes, the neck below the foramen magnum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spectstage.demo import phantom

SCALP_MM = 6.0  # skin and subcutaneous tissue: the outer layer of the head ellipsoid
PAROTID = ((50.0, -8.0, -52.0), (9.0, 14.0, 18.0))  # right; left mirrors x
SUBMANDIBULAR = ((27.0, 18.0, -66.0), (8.0, 11.0, 7.0))
NASAL = ((0.0, 58.0, -30.0), (9.0, 16.0, 14.0))
NECK_CENTRE_MM = (0.0, -16.0)  # (x, y) of the neck's axis
NECK_AXES_MM = (50.0, 48.0)  # semi-axes of its elliptic cross-section
NECK_TOP_MM = -40.0  # the neck joins the head from here down


@dataclass(frozen=True)
class Extracerebral:
    """Uptake relative to grey matter (1.0), drawn per patient."""

    scalp: float = 0.35
    parotid: float = 1.3
    submandibular: float = 0.9
    nasal: float = 1.0
    neck: float = 0.3

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Extracerebral:
        return cls(
            scalp=float(rng.uniform(0.2, 0.5)),
            parotid=float(rng.uniform(0.7, 2.0)),
            submandibular=float(rng.uniform(0.5, 1.4)),
            nasal=float(rng.uniform(0.4, 1.5)),
            neck=float(rng.uniform(0.15, 0.4)),
        )


def _glands(points: np.ndarray) -> dict[str, np.ndarray]:
    masks = {}
    for name, ((x, y, z), axes) in (("parotid", PAROTID), ("submandibular", SUBMANDIBULAR)):
        right = phantom._inside(points, (x, y, z), axes)
        masks[name] = right | phantom._inside(points, (-x, y, z), axes)
    masks["nasal"] = phantom._inside(points, *NASAL)
    return masks


def evaluate(points: np.ndarray, uptake: phantom.Uptake, levels: Extracerebral) -> np.ndarray:
    """Noise-free activity at MNI points (N, 3): the brain phantom plus what surrounds it."""
    (cx, cy, cz), axes = phantom.HEAD
    head = phantom._inside(points, (cx, cy, cz), axes)
    d = (points[:, :2] - NECK_CENTRE_MM) / NECK_AXES_MM
    neck = (np.einsum("ij,ij->i", d, d) <= 1.0) & (points[:, 2] <= NECK_TOP_MM) & ~head
    act = np.zeros(len(points), dtype=np.float32)
    act[neck] = levels.neck
    # Everything else lies inside the head: evaluate there only (a third of the field).
    inside = points[head]
    tissue, brain = phantom.evaluate_with_brain(inside, uptake)
    inner = phantom._inside(inside, (cx, cy, cz), np.asarray(axes) - SCALP_MM)
    outside_brain = ~brain  # head tissue that is not brain
    tissue[~inner & outside_brain] = levels.scalp
    for name, mask in _glands(inside).items():
        tissue[mask & outside_brain] = getattr(levels, name)
    act[head] = tissue
    return act
