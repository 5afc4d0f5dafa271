"""The demo generator: deterministic, every layout, stage-dependent and overlapping loss."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from spectstage.demo.cohort import LAYOUTS, generate, plan


def digest(folder) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        # DICOM UIDs are random by design; compare pixel content and the tables.
        if f.suffix in {".csv", ".png", ".jpg", ".gz"}:
            h.update(f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_cohort(tmp_path):
    a = generate(tmp_path / "a", "mixed", [2, 2], seed=1, workers=1).parent
    b = generate(tmp_path / "b", "mixed", [2, 2], seed=1, workers=1).parent
    c = generate(tmp_path / "c", "mixed", [2, 2], seed=2, workers=1).parent
    assert digest(a) == digest(b) != digest(c)


def test_mixed_cohort_has_every_layout(tiny_cohort):
    truth = pd.read_csv(tiny_cohort / "truth.csv")
    assert set(truth["layout"]) == set(LAYOUTS)


def test_loss_rises_with_stage_and_stages_overlap():
    items = plan([60, 60, 60, 60], ["1", "2", "3", "4"], "nifti", seed=0)
    worst = {}
    for it in items:
        sbr = it.patient.uptake.sbr
        worst.setdefault(it.patient.stage, []).append(min(sbr.values()))
    means = [np.mean(worst[s]) for s in "1234"]
    assert means == sorted(means, reverse=True)
    # Neighbouring stages overlap: the task must not be trivially separable.
    for a, b in zip("123", "234", strict=True):
        assert np.max(worst[b]) > np.min(worst[a])
    # Loss starts on one side: the worse posterior putamen is lower than the other one.
    for it in items:
        sbr = it.patient.uptake.sbr
        other = "left" if it.patient.worse_side == "right" else "right"
        assert (
            sbr[f"putamen_posterior_{it.patient.worse_side}"]
            <= 1.2 * sbr[f"putamen_posterior_{other}"]
        )


def test_region_membership_is_the_ellipsoid_formula_at_every_point():
    # The generator pre-selects points near each region; membership must be what the
    # plain formula gives on every point, including those just inside and outside.
    from spectstage.demo import phantom

    rng = np.random.default_rng(0)
    (centre, axes), yaw = phantom.PUTAMEN, np.deg2rad(phantom.PUTAMEN_YAW_DEG)
    centre, axes = np.asarray(centre, np.float32), np.asarray(axes, np.float32)
    directions = rng.normal(size=(20000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    local = directions * axes * rng.uniform(0.98, 1.02, (20000, 1))  # around the surface
    turn = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    points = np.concatenate([local @ turn.T + centre, rng.uniform(-90, 90, (20000, 3))])
    d = points - centre
    x = d[:, 0] * np.cos(yaw) + d[:, 1] * np.sin(yaw)
    y = -d[:, 0] * np.sin(yaw) + d[:, 1] * np.cos(yaw)
    radius2 = (x / axes[0]) ** 2 + (y / axes[1]) ** 2 + (d[:, 2] / axes[2]) ** 2
    inside = phantom._yawed(points, (centre, axes), phantom.PUTAMEN_YAW_DEG)
    clear = np.abs(radius2 - 1) > 1e-5  # rounding may decide points on the surface either way
    assert inside[:20000].any() and not inside[:20000].all()
    np.testing.assert_array_equal(inside[clear], radius2[clear] <= 1)
