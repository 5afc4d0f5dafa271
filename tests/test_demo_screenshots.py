"""Viewer-screenshot slice stacks (demo/screenshots.py) through the slice reader, against the
generator's true stack: correlation after canonicalisation and left/right against the truth,
for each colour map, both displays, JPEG, clipped windows, burnt-in text and partial stacks.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from spectstage.config import validate
from spectstage.demo import screenshots, writers
from spectstage.demo.cohort import STACK_SHAPE, DemoPatient, generate, make_volume
from spectstage.demo.patients import sample_patient
from spectstage.demo.screenshots import Screenshot
from spectstage.errors import InputError
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions

SEED = 29


@pytest.fixture(scope="module")
def truth():
    """A realistic stage-3 patient (asymmetric loss, so a left-right flip shows)."""
    rng = np.random.default_rng([SEED, 2])
    item = DemoPatient(sample_patient(rng, "P0001", "3", 2, 4), "png", (SEED, 2, 0))
    volume, affine, _ = make_volume(item)
    return volume, affine


def canonical(data, affine) -> np.ndarray:
    return nib.as_closest_canonical(
        nib.Nifti1Image(np.asarray(data, np.float32), affine)
    ).get_fdata()


def corr(a, b) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def write_and_read(truth, tmp_path, conv: SliceConventions, shot: Screenshot):
    volume, affine = truth
    shape = (shot.n_slices, *STACK_SHAPE[1:])
    stack, stack_aff = writers.sample_stack(volume, affine, conv, shape, (0.0, 0.0, 0.0))
    screenshots.write_screenshots(stack, tmp_path, conv, shot)
    return load_scan(tmp_path, conv), stack, stack_aff


VARIANTS = {  # (colour map, image_left, order, screenshot, minimum r with the true stack)
    "hot-radiological": ("hot", "patient_right", "anterior_to_posterior", Screenshot(), 0.98),
    "grey-neurological-white-text": (
        "gray",
        "patient_left",
        "posterior_to_anterior",
        Screenshot(white_text=True, bar_side="left", header_corner="bottom_left"),
        0.97,
    ),
    "jet-window-clipped-mildly": (
        "jet",
        "patient_right",
        "posterior_to_anterior",
        Screenshot(window_low=0.03, window_high=0.93, label_corner="top_right"),
        0.97,
    ),
    "nipy_spectral-neurological": (
        "nipy_spectral",
        "patient_left",
        "anterior_to_posterior",
        Screenshot(bar_side="none", label_corner="top_left", header_corner="top_right"),
        0.97,
    ),
    "hot-jpeg-white-text-partial": (
        "hot",
        "patient_right",
        "anterior_to_posterior",
        Screenshot(white_text=True, jpeg_quality=80, n_slices=16),
        0.90,
    ),
    "jet-jpeg": ("jet", "patient_left", "anterior_to_posterior", Screenshot(jpeg_quality=85), 0.88),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_screenshot_reads_back_as_the_true_stack(truth, tmp_path, name):
    colormap, image_left, order, shot, min_r = VARIANTS[name]
    conv = SliceConventions(order=order, image_left=image_left, colormap=colormap)
    scan, stack, stack_aff = write_and_read(truth, tmp_path, conv, shot)
    np.testing.assert_allclose(scan.affine, stack_aff, atol=1e-6)
    got, want = canonical(scan.data, scan.affine), canonical(stack, stack_aff)
    assert corr(got, want) >= min_r
    # Left/right against the truth: the striatal box correlates with the true box better
    # than with its mirror image (the patient's loss is asymmetric).
    box = np.s_[32:96, :, 40:88]  # canonical x (right-left), y (slices), z (rows)
    assert corr(got[box], want[box]) > corr(got[box], want[::-1][box]) + 0.05


def test_text_that_changes_per_slice_is_not_uptake(truth, tmp_path):
    """White text is the hot map's top colour; it differs on every slice, so only its
    sharpness gives it away. Where it was drawn, the read volume holds background."""
    conv = SliceConventions(colormap="hot")
    shot = Screenshot(white_text=True, bar_side="none", label_corner="top_left")
    scan, stack, _ = write_and_read(truth, tmp_path, conv, shot)
    label = np.s_[:, 2:13, 3:60]  # "Im k/30" at the top left, over the air above the head
    assert scan.data[label].max() < 0.15 * scan.data.max()
    assert stack[label].max() < 0.15 * stack.max()  # (the truth there is air too)


def test_a_clipped_window_is_refused_naming_the_folder(truth, tmp_path):
    conv = SliceConventions(colormap="hot")
    with pytest.raises(InputError, match="window/level clipped the uptake") as err:
        write_and_read(truth, tmp_path, conv, Screenshot(window_high=0.6))
    assert str(tmp_path) in str(err.value)


def test_default_demo_is_a_multi_site_cohort_read_through_its_manifest(tmp_path):
    """`demo-data`'s default: screenshots from sites with their own colour map (hot, grey),
    display (radiological, neurological), order and window, declared per scan in the
    manifest. Read through it, each stack is the generator's true stack; read with the one
    `slices` config instead, the other site's stack is not."""
    from spectstage.demo.acquisition import MULTI_SITE
    from spectstage.demo.cohort import plan
    from spectstage.inputs import discover

    out = generate(tmp_path / "demo", "png", [1, 1], seed=SEED, workers=1, realism=MULTI_SITE)
    truth = pd.read_csv(out.parent / "truth.csv").set_index("patient_id")
    assert truth["variant"].str.startswith("screenshot-").all()
    assert set(truth.slices_colormap) == {"hot", "gray"}
    assert set(truth.slices_image_left) == {"patient_right", "patient_left"}
    cfg = validate({"manifest": str(out)})
    items = {it.patient.patient_id: it for it in plan([1, 1], ["1", "2"], "png", SEED)}
    for scan_input in discover(cfg):
        row = truth.loc[scan_input.patient_id]
        files = sorted(scan_input.path.iterdir())
        assert len(files) == row.shot_n_slices
        assert {f.suffix for f in files} == {".jpg" if row.shot_jpeg_quality else ".png"}
        conv = scan_input.conventions(cfg["slices"])
        assert conv.colormap == row.slices_colormap and conv.window_low == row.shot_window_low
        # The generator's true stack: its volume, sampled where truth says it centred it.
        item = items[scan_input.patient_id]
        volume, affine, _ = make_volume(item)
        centre_y = item.patient.pose.translation_mm[1] - row.translation_y_mm
        shape = (int(row.shot_n_slices), *STACK_SHAPE[1:])
        stack, stack_aff = writers.sample_stack(volume, affine, conv, shape, (0, centre_y, 0))
        want = canonical(stack, stack_aff)
        scan = load_scan(scan_input.path, conv)
        # the same axes (the reader centres the stack on the origin: no translation)
        np.testing.assert_allclose(scan.affine[:3, :3], stack_aff[:3, :3], atol=1e-6)
        got = canonical(scan.data, scan.affine)
        box = np.s_[32:96, :, 40:88]  # left/right as in the screenshot test above
        # JPEG at quality ~75 costs a few points (measured: PNG 0.998, JPEG q76 0.945 with the
        # folded cortex, 0.959 with the shell cortex before); a wrong reading gives ~0.1.
        assert corr(got, want) >= 0.93
        assert corr(got[box], want[box]) > corr(got[box], want[::-1][box]) + 0.05
        if row.slices_colormap == "gray":  # the config's hot, radiological reading: lost
            wrong = load_scan(scan_input.path, SliceConventions())
            # measured 0.14 (shell cortex), 0.52 (folded cortex: more of the slice is dim,
            # where grey pixels fall near hot's dark reds); the right reading ~0.95
            assert corr(canonical(wrong.data, wrong.affine), want) < 0.65


def test_registration_of_a_partial_jpeg_screenshot_finds_the_true_pose(truth, tmp_path):
    """A 16-slice JPEG screenshot around the striatum (white text, clipped window) through
    ingest: the striatal landmarks land within a few mm of the generator's true pose."""
    from spectstage.config import validate
    from spectstage.demo import phantom
    from spectstage.demo.cohort import STRIATUM_CENTRE_MM
    from spectstage.geometry import Pose, apply
    from spectstage.ingest import ingest_scan
    from spectstage.inputs import ScanInput
    from spectstage.template import load

    volume, affine = truth
    rng = np.random.default_rng([SEED, 2])
    pose = sample_patient(rng, "P0001", "3", 2, 4).pose  # the fixture's patient
    centre_y = float((pose.matrix() @ [*STRIATUM_CENTRE_MM, 1])[1])
    conv = SliceConventions()
    shot = Screenshot(window_high=0.95, white_text=True, jpeg_quality=85, n_slices=16)
    stack, _ = writers.sample_stack(volume, affine, conv, (16, 128, 128), (0.0, centre_y, 0.0))
    screenshots.write_screenshots(stack, tmp_path, conv, shot)
    cfg = validate({"raw_dir": str(tmp_path)})
    _, sidecar = ingest_scan(ScanInput("P0001", "P0001", "3", tmp_path), cfg, load(cfg["ingest"]))
    reg = sidecar["registration"]
    estimated = np.asarray(reg["template_to_scan_matrix"], float)
    # The reader centres the stack on the origin: the true pose in that frame.
    shifted = Pose(
        pose.rotation_deg, tuple(np.subtract(pose.translation_mm, (0, centre_y, 0))), pose.scale
    )
    points = np.array(list(phantom.landmarks().values()))
    error = apply(estimated, points) - apply(shifted.matrix(), points)
    assert np.linalg.norm(error, axis=1).mean() < 5.0
