"""Registration to the MNI152 template, against the demo generator's truth (its own
analytic anatomy, placed in MNI mm): landmark misalignment, SBR order, left and right."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from spectstage import template
from spectstage.cohort import read_sidecar
from spectstage.config import validate
from spectstage.demo import phantom
from spectstage.demo.acquisition import Realism
from spectstage.demo.cohort import DemoPatient, generate, make_volume
from spectstage.demo.patients import sample_patient
from spectstage.geometry import Pose, apply
from spectstage.ingest import ingest_scan
from spectstage.inputs import discover
from spectstage.io import Scan
from spectstage.preprocess import register

TMPL = template.load()
LANDMARKS = np.array(list(phantom.landmarks().values()))
# Regression bounds at what the code reaches now with a margin (benchmarks/alignment.py
# measures the goals, mean 2 mm and p95 4 mm, on 35-scan cohorts): on the realistic demo
# (the default, and these tests' input) whole-head scans 1.9 mm mean (max 2.6), slice stacks
# 2.0 mm (max 3.1); on the clean demo (its ellipsoid brain is shorter than MNI152's, which
# tilts the whole-head fit) 2.9 mm (max 3.4) and 2.3 mm (max 2.6).
MAX_MEAN_MM = 2.8
MAX_MEAN_PARTIAL_MM = 3.0
MAX_ONE_SCAN_MM = 4.0
MIN_ORDER_AGREEMENT = 0.95


def landmark_error_mm(estimated: np.ndarray, true: np.ndarray) -> float:
    """Mean distance (mm, scanner space) between where the two poses put the landmarks."""
    return float(
        np.linalg.norm(apply(estimated, LANDMARKS) - apply(true, LANDMARKS), axis=1).mean()
    )


def true_pose(row: pd.Series) -> np.ndarray:
    return Pose(
        tuple(row[f"rotation_{a}_deg"] for a in "xyz"),
        tuple(row[f"translation_{a}_mm"] for a in "xyz"),
        row["scale"],
    ).matrix()


def test_registration_recovers_true_landmarks_on_volumes():
    errors = []
    for i in range(4):
        rng = np.random.default_rng(i)
        item = DemoPatient(sample_patient(rng, f"P{i}", str(i + 1), i, 4), "nifti", (11, i, 0))
        volume, affine, _ = make_volume(item)
        reg = register(Scan(volume, affine, "nifti"), TMPL)
        errors.append(landmark_error_mm(reg.matrix, item.patient.pose.matrix()))
    assert np.mean(errors) <= MAX_MEAN_MM, errors
    assert max(errors) <= MAX_ONE_SCAN_MM, errors


def test_affine_option_also_recovers_the_landmarks():
    rng = np.random.default_rng(2)
    item = DemoPatient(sample_patient(rng, "P1", "1", 0, 4), "nifti", (11, 2, 0))
    volume, affine, _ = make_volume(item)
    reg = register(Scan(volume, affine, "nifti"), TMPL, "affine")
    assert reg.method.startswith("affine")
    assert landmark_error_mm(reg.matrix, item.patient.pose.matrix()) <= MAX_ONE_SCAN_MM


def test_registration_is_deterministic():
    rng = np.random.default_rng(3)
    item = DemoPatient(sample_patient(rng, "P1", "2", 1, 4), "nifti", (11, 3, 0))
    volume, affine, _ = make_volume(item)
    scan = Scan(volume, affine, "nifti")
    np.testing.assert_array_equal(register(scan, TMPL).matrix, register(scan, TMPL).matrix)


def _sidecars(workflow_run, tiny_cohort):
    truth = pd.read_csv(tiny_cohort / "truth.csv", dtype={"stage": str}).set_index("scan_id")
    for scan_id, row in truth.iterrows():
        path = workflow_run / "results" / "volumes" / f"{scan_id}.json"
        yield row, read_sidecar(path)


@pytest.mark.workflow
def test_every_format_aligned_on_landmarks(workflow_run, tiny_cohort):
    """Whole ingest on the tiny mixed cohort: landmarks recovered per layout."""
    errors: dict[str, list[float]] = {}
    for row, sidecar in _sidecars(workflow_run, tiny_cohort):
        estimated = np.asarray(sidecar["registration"]["template_to_scan_matrix"])
        errors.setdefault(row["layout"], []).append(landmark_error_mm(estimated, true_pose(row)))
    assert set(errors) == {"png", "dicom_multiframe", "dicom_series", "nifti"}
    for layout, errs in errors.items():
        bound = MAX_MEAN_PARTIAL_MM if layout == "png" else MAX_MEAN_MM
        assert np.mean(errs) <= bound, (layout, errs)
        assert max(errs) <= MAX_ONE_SCAN_MM, (layout, errs)


@pytest.mark.workflow
def test_measured_sbr_order_follows_the_truth(workflow_run, tiny_cohort):
    """Caudate vs putamen and anterior vs posterior putamen, per side: the measured order
    is the generator's true order in nearly every scan."""
    agree = []
    for row, sidecar in _sidecars(workflow_run, tiny_cohort):
        measured = sidecar["regions"]
        for side in ("left", "right"):
            c, a, p = (
                f"sbr_{r}_{side}" for r in ("caudate", "putamen_anterior", "putamen_posterior")
            )

            def putamen(values, a=a, p=p):
                return (values[a] + values[p]) / 2

            agree.append((row[c] > putamen(row)) == (measured[c] > putamen(measured)))
            agree.append((row[a] > row[p]) == (measured[a] > measured[p]))
    assert np.mean(agree) >= MIN_ORDER_AGREEMENT, np.mean(agree)


PLAIN_SLICES = Realism.without(["screenshots"])


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
    # Plain slice renderings (no viewer text or JPEG): the pixel check below reads them raw.
    generate(out, fmt, [1, 0], seed=5, conv=conv, workers=1, realism=PLAIN_SLICES)
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


def test_demo_anatomy_is_its_own_but_named_like_the_pipeline():
    """The generator's regions carry the pipeline's names (cohort columns sbr_*), and its
    healthy levels are realistic: caudate above putamen, posterior putamen lowest."""
    from spectstage.demo.cohort import plan

    assert phantom.STRIATAL_REGIONS == template.STRIATAL_REGIONS
    stage_1 = [it.patient.uptake.sbr for it in plan([80], ["1"], "nifti", seed=0)]
    mean = {r: np.mean([s[r] for s in stage_1]) for r in phantom.STRIATAL_REGIONS}
    for side in ("left", "right"):
        assert (
            mean[f"caudate_{side}"]
            > mean[f"putamen_anterior_{side}"]
            > mean[f"putamen_posterior_{side}"]
        )


@pytest.mark.parametrize("stage_index", [0, 3])
def test_qc_flags_a_misregistered_scan(stage_index):
    """Striatal hot spots off the regions (a 15 mm shift) are flagged; the registered scan
    is not, also in severe disease (stage 4: little putamen uptake left)."""
    from spectstage.preprocess import Registration, resample
    from spectstage.qc import flags, hotspot_share
    from spectstage.sbr import reference, regional_sbr

    rng = np.random.default_rng(5)
    patient = sample_patient(rng, "P1", str(stage_index + 1), stage_index, 4)
    volume, affine, _ = make_volume(DemoPatient(patient, "nifti", (12, stage_index, 0)))
    scan = Scan(volume, affine, "nifti")
    reg = register(scan, TMPL)
    shifted = reg.matrix.copy()
    shifted[:3, 3] += (0.0, 15.0, 6.0)
    flagged = []
    for matrix in (reg.matrix, shifted):
        canonical, covered = resample(scan, matrix, TMPL)
        ref = reference(canonical, covered, TMPL, "occipital", "nonstriatal_brain", 0.9)
        canonical = canonical / ref.mean
        fit = Registration(matrix, reg.correlation, reg.overlap, reg.method)
        share = hotspot_share(canonical, TMPL)
        flagged.append(flags(fit, ref, regional_sbr(canonical, TMPL), "nifti", share))
    assert not flagged[0]["flag_registration"]
    assert flagged[1]["flag_registration"]


def test_binding_model_of_a_partial_stack_is_fitted_inside_the_stack_only():
    """A scan that is exactly a constant plus known amplitudes of the blurred striatal
    regions, cut to a slab that ends across the posterior putamen: the refinement's binding
    model must come out as that truth over the whole mask, the part beyond the slab's last
    slice included (repeating the edge slice there, as mode="nearest" did, biases the fit)."""
    from scipy import ndimage

    from spectstage.registration_setup import sitk_module
    from spectstage.striatal_refinement import refine_fixed, striatal_model

    sitk = sitk_module()
    fixed = refine_fixed(sitk, TMPL)
    sigma = template.FWHM_MM / 2.3548 / TMPL.grid.voxel_mm
    amplitudes = dict(zip(template.STRIATAL_REGIONS, (2.5, 2.2, 1.8, 1.4, 0.3, 0.9), strict=True))
    truth = 0.8 + sum(
        a * ndimage.gaussian_filter(TMPL.mask(r).astype(np.float32), sigma)
        for r, a in amplitudes.items()
    )
    y = TMPL.affine[1, 3] + TMPL.affine[1, 1] * np.arange(TMPL.image.shape[1])
    first, last = np.searchsorted(y, -12.0), np.searchsorted(y, 40.0)  # MNI y -12...40 mm
    affine = TMPL.affine.copy()
    affine[:3, 3] = (TMPL.affine @ [0, first, 0, 1.0])[:3]
    slab = Scan(truth[:, first:last].astype(np.float32), affine, "slices")
    model = striatal_model(sitk, fixed, slab, slab.data, np.eye(4))
    expected = 0.8 + np.tensordot(list(amplitudes.values()), fixed.region_maps, axes=1)
    found = sitk.GetArrayFromImage(model)
    assert np.abs(found - expected)[fixed.inside].max() < 0.01 * expected.max()
