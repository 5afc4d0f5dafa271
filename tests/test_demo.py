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
        if f.suffix in {".csv", ".png", ".gz"}:
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
