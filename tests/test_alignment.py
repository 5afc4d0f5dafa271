"""Registration to the shipped template: residual misalignment against the true pose,
and left/right preserved from every format through to regional binding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from spectstage import template
from spectstage.config import validate
from spectstage.demo.cohort import DemoPatient, generate, make_volume
from spectstage.demo.patients import sample_patient
from spectstage.geometry import Pose, apply
from spectstage.ingest import ingest_scan
from spectstage.inputs import discover
from spectstage.io import Scan
from spectstage.preprocess import register

TMPL = template.load()
BRAIN_POINTS = apply(TMPL.affine, np.argwhere(TMPL.atlas > 0).astype(float))


def misalignment_voxels(estimated: Pose, true: Pose) -> float:
    """Mean distance (in canonical voxels) between where the two poses put the brain."""
    moved = apply(estimated.matrix(), BRAIN_POINTS) - apply(true.matrix(), BRAIN_POINTS)
    return float(np.linalg.norm(moved, axis=1).mean() / template.VOXEL_MM)


def true_pose(row: pd.Series) -> Pose:
    return Pose(
        tuple(row[f"rotation_{a}_deg"] for a in "xyz"),
        tuple(row[f"translation_{a}_mm"] for a in "xyz"),
        row["scale"],
    )


def test_registration_recovers_true_pose_on_volumes():
    errors = []
    for i in range(4):
        rng = np.random.default_rng(i)
        item = DemoPatient(sample_patient(rng, f"P{i}", str(i + 1), i, 4), "nifti", (11, i, 0))
        volume, affine, _ = make_volume(item)
        reg = register(Scan(volume, affine, "nifti"), TMPL)
        errors.append(misalignment_voxels(reg.pose, item.patient.pose))
    assert np.mean(errors) <= 1.0, errors
    assert max(errors) <= 1.5, errors


def test_every_format_aligned_within_one_voxel(tiny_cohort):
    """Whole ingest on the tiny mixed cohort: pose recovered per format (slices included)."""
    truth = pd.read_csv(tiny_cohort / "truth.csv", dtype={"stage": str}).set_index("scan_id")
    cfg = validate({"raw_dir": str(tiny_cohort)})
    errors: dict[str, list[float]] = {}
    for item in discover(cfg):
        _, sidecar = ingest_scan(item, cfg, TMPL)
        pose = Pose(
            **{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in sidecar["registration"]["template_to_scan"].items()
            }
        )
        row = truth.loc[item.scan_id]
        errors.setdefault(row["layout"], []).append(misalignment_voxels(pose, true_pose(row)))
    assert set(errors) == {"png", "dicom_multiframe", "dicom_series", "nifti"}
    for layout, errs in errors.items():
        assert np.mean(errs) <= 1.0, (layout, errs)


@pytest.mark.parametrize("image_left", ["patient_right", "patient_left"])
@pytest.mark.parametrize("fmt", ["png", "dicom", "nifti"])
def test_left_and_right_never_swapped(tmp_path, monkeypatch, image_left, fmt):
    """A strongly asymmetric patient (left putamen nearly gone): the measured left
    posterior putamen must come out lower than the right, whatever the format."""
    from PIL import Image

    from spectstage.demo import cohort as demo_cohort
    from spectstage.io.slices import SliceConventions

    conv = SliceConventions(image_left=image_left)
    out = tmp_path / "raw"
    original_plan = demo_cohort.plan

    def asymmetric_plan(*args, **kwargs):
        items = original_plan(*args, **kwargs)
        sbr = dict(items[0].patient.uptake.sbr)
        sbr.update(
            putamen_posterior_left=0.3,
            putamen_anterior_left=0.8,
            putamen_posterior_right=3.0,
            putamen_anterior_right=3.0,
        )
        patient = dataclasses.replace(
            items[0].patient, uptake=dataclasses.replace(items[0].patient.uptake, sbr=sbr)
        )
        return [dataclasses.replace(items[0], patient=patient)]

    monkeypatch.setattr(demo_cohort, "plan", asymmetric_plan)
    generate(out, fmt, [1, 0], seed=5, conv=conv, workers=1)
    if fmt == "png":
        # Independent of the reader: hot striatal pixels (the healthy right putamen gives
        # most) must sit on the image's left exactly when image_left is patient_right.
        stack = np.stack(
            [
                np.asarray(Image.open(f).convert("L"), float)[:, :-10]
                for f in out.glob("stage_1/*/*.png")
            ]
        )
        half = stack.shape[2] // 2
        hot = stack > np.percentile(stack, 99.9)
        left_brighter = hot[:, :, :half].sum() > 2 * hot[:, :, half:].sum()
        right_brighter = hot[:, :, half:].sum() > 2 * hot[:, :, :half].sum()
        assert (left_brighter, right_brighter) == (
            (True, False) if image_left == "patient_right" else (False, True)
        )
    cfg = validate({"raw_dir": str(out), "stages": [1, 2], "slices": {"image_left": image_left}})
    (item,) = discover(cfg)
    _, sidecar = ingest_scan(item, cfg, TMPL)
    r = sidecar["regions"]
    assert r["sbr_putamen_posterior_left"] < 0.6 * r["sbr_putamen_posterior_right"], r
