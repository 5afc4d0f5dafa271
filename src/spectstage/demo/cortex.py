"""The demo phantom's cerebral cortex: a folded grey-matter ribbon over white matter.

Why: at 10 mm FWHM the apparent uptake of a reference region made of cortex depends on how
much grey matter, white matter and sulcal CSF it holds, i.e. on the ribbon's thickness and
folding. A uniform 13-18 mm grey shell on an ellipsoid (the phantom before) puts the shell's
thickness in proportion to the ellipsoid's axes, so the occipital pole read brighter than
the lateral cortex for no anatomical reason. Here the cortex has real cortex's dimensions,
chosen from anatomy and not fitted to any template:

- the pial hull is the phantom's BRAIN ellipsoid; the grey ribbon is THICKNESS_MM thick
  (adult mean cortical thickness 2.5-3 mm, Fischl & Dale 2000, PNAS 97:11050);
- sulci are slits SULCAL_DEPTH_MM deep (about 10 mm) and SULCAL_CSF_MM wide, lined by the
  ribbon on both banks and round its fundus, with white matter below the ribbon;
- the sulci run along the zero set of a fold field g on the hull: a sum of plane waves of
  one wavelength in fixed directions (the 6 axes of an icosahedron, fixed phases), whose
  zero lines form a labyrinth like the gyral pattern; the wavelength gives a mean sulcal
  spacing SULCAL_SPACING_MM (~15 mm between neighbouring sulci: gyri ~10-15 mm wide), for
  a gyrification index (pial area / hull area) of about 1 + 2 depth / spacing = 2.3
  (the adult human value is ~2.5, Zilles et al. 1988).

Analytic and independent of the pipeline's anatomy (no template, atlas or MNI maps).
"""

from __future__ import annotations

import numpy as np

THICKNESS_MM = 2.7
SULCAL_DEPTH_MM = 10.0
SULCAL_CSF_MM = 1.5  # CSF between the two banks of a sulcus
SULCAL_SPACING_MM = 15.0
# A random field of one wavenumber k in 3D crosses zero every pi sqrt(3) / k along a line
# on average: the wavelength that gives that spacing.
WAVELENGTH_MM = 2 * SULCAL_SPACING_MM / np.sqrt(3.0)
_PHI = (1 + np.sqrt(5.0)) / 2
_DIRECTIONS = np.array(
    [[0, 1, _PHI], [0, -1, _PHI], [1, _PHI, 0], [-1, _PHI, 0], [_PHI, 0, 1], [-_PHI, 0, 1]]
) / np.sqrt(1 + _PHI**2)
_PHASES = 2 * np.pi * ((np.arange(6) * _PHI) % 1.0)  # fixed, arbitrary, not tuned

GREY, WHITE, CSF = 0, 1, 2


def _fold_field(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fold field g at hull points q (N, 3) mm and its gradient (N, 3) per mm."""
    k = 2 * np.pi / WAVELENGTH_MM
    arg = k * (q @ _DIRECTIONS.T) + _PHASES  # (N, 6)
    norm = np.sqrt(len(_PHASES) / 2)  # unit variance
    g = np.cos(arg).sum(axis=1) / norm
    grad = -(np.sin(arg) @ _DIRECTIONS) * (k / norm)
    return g, grad


def classify(points: np.ndarray, centre, axes) -> np.ndarray:
    """GREY, WHITE or CSF for points (N, 3) inside the hull ellipsoid (centre, semi-axes)."""
    centre, axes = np.asarray(centre, dtype=float), np.asarray(axes, dtype=float)
    d = np.asarray(points, dtype=float) - centre
    rho = np.maximum(np.sqrt(np.einsum("ij,ij->i", d / axes, d / axes)), 1e-6)
    hull = d / rho[:, None]  # the hull point on the point's ray from the centre
    depth = np.linalg.norm(hull, axis=1) * (1 - rho)  # mm below the hull along the ray
    out = np.full(len(d), WHITE)
    # Deeper than a sulcus and a ribbon below it: white matter whatever the folds (the
    # distance to the pial surface is at least depth - SULCAL_DEPTH_MM there).
    outer = np.flatnonzero(depth <= SULCAL_DEPTH_MM + THICKNESS_MM)
    out[outer] = _outer_kind(hull[outer], depth[outer], rho[outer], centre)
    return out


def _outer_kind(hull: np.ndarray, depth: np.ndarray, rho: np.ndarray, centre) -> np.ndarray:
    """GREY, WHITE or CSF of points in the folded zone, from their hull points (relative to
    the centre), depths (mm) and normalised radii."""
    g, grad = _fold_field(centre + hull)
    radial = hull / np.maximum(np.linalg.norm(hull, axis=1), 1e-6)[:, None]
    tangential = grad - np.einsum("ij,ij->i", grad, radial)[:, None] * radial
    slope = np.maximum(np.linalg.norm(tangential, axis=1), 1e-3)
    # Distance across the hull to the sulcus' mid-plane (first order in g), shrinking with
    # depth as the rays converge.
    across = rho * np.abs(g) / slope
    half = SULCAL_CSF_MM / 2
    in_slit = depth <= SULCAL_DEPTH_MM
    # Distance to the pial surface: the hull above, the sulcal wall beside, its fundus below.
    wall = np.where(
        in_slit,
        across - half,
        np.hypot(np.maximum(across - half, 0), depth - SULCAL_DEPTH_MM),
    )
    out = np.where(np.minimum(depth, wall) <= THICKNESS_MM, GREY, WHITE)
    out[in_slit & (across <= half)] = CSF
    return out
