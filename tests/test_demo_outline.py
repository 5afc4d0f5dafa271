"""The demo's head and cerebrum outlines against published anatomy (not the pipeline's)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spectstage.demo import outline, phantom

# Published MNI coordinates (mm, right side; the outline is symmetric) of cortex at the
# brain's convexity, approximate literature values (see demo/outline.py): each must lie
# inside the cerebrum and near its surface, within a cortical ribbon plus a sulcus.
CONVEXITY_CORTEX = {
    "temporal pole": (40.0, 18.0, -36.0),
    "inferior temporal gyrus": (58.0, -20.0, -28.0),
    "occipital pole": (15.0, -102.0, 0.0),
    "lateral occipital cortex": (44.0, -80.0, -4.0),
    "frontal pole": (20.0, 66.0, -5.0),
    "vertex": (0.0, -20.0, 76.0),
}


def _depth_mm(shape: outline.Ovoid, point) -> float:
    """Distance below the surface along the ray from the centre (negative: outside)."""
    d = np.asarray([point], dtype=float) - shape.centre
    return float(np.linalg.norm(d) * (1 / shape.gauge(d)[0] - 1))


@pytest.mark.parametrize("name", CONVEXITY_CORTEX)
def test_published_convexity_cortex_lies_just_inside_the_cerebrum(name):
    depth = _depth_mm(phantom.BRAIN, CONVEXITY_CORTEX[name])
    assert 0.0 < depth <= 15.0, (name, depth)


def test_an_ellipsoid_of_the_same_extents_would_miss_the_temporal_lobe():
    # Why the exponent is not 2: the temporal lobes' lower corners would fall outside.
    ellipsoid = replace(phantom.BRAIN, exponent=2.0)
    assert _depth_mm(ellipsoid, CONVEXITY_CORTEX["temporal pole"]) < 0
    assert _depth_mm(ellipsoid, CONVEXITY_CORTEX["inferior temporal gyrus"]) < 0


def test_extents_are_the_published_ones_and_the_gauge_is_homogeneous():
    brain, rng = phantom.BRAIN, np.random.default_rng(1)
    d = rng.normal(size=(1000, 3))
    np.testing.assert_allclose(brain.gauge(2.5 * d), 2.5 * brain.gauge(d), rtol=1e-12)
    # Poles on the axes (Talairach-Tournoux 1988 extents, a few mm larger in MNI).
    cy, cz = brain.centre[1], brain.centre[2]
    assert cy + brain.anterior == pytest.approx(72.0) and cy - brain.posterior == -106.0
    assert cz + brain.superior == 78.0 and cz - brain.inferior == -45.0


def test_the_brain_lies_under_scalp_and_skull_everywhere():
    # Every point of the pial hull is inside the head less its scalp layer, at least the
    # extracerebral thickness below the head's surface along the ray.
    rng = np.random.default_rng(2)
    u = rng.normal(size=(20000, 3))
    brain = phantom.BRAIN
    surface = np.asarray(brain.centre) + u / brain.gauge(u)[:, None]
    assert phantom.HEAD.grown(-outline.EXTRACEREBRAL_MM + 0.5).inside(surface).all()
    assert not phantom.HEAD.grown(-outline.EXTRACEREBRAL_MM - 0.5).inside(surface).all()


def test_the_jaw_is_narrower_than_the_cranium():
    # Bigonial breadth ~100-110 mm against head breadth ~152-155 mm (anthropometry).
    def breadth(z: float) -> float:
        x = np.arange(0.0, 100.0, 0.5)
        points = np.stack([x, np.full_like(x, -18.0), np.full_like(x, z)], axis=1)
        return 2 * float(x[phantom.HEAD.inside(points)].max())

    assert 95.0 <= breadth(-60.0) <= 120.0 < 150.0 <= breadth(5.0), (breadth(-60), breadth(5))
