"""A viewer window that lifts the bottom of the colour scale (demo/screenshots.py makes them,
up to 5 % of the maximum) against the generator's truth: read with the declared window
(`slices.window_low`), the SBRs are the true ones; without it, every SBR is off by what
SBR' = (v - lo) / (ref - lo) - 1 predicts, which no pixel reveals.
"""

from __future__ import annotations

import numpy as np
import pytest

from spectstage.config import validate
from spectstage.demo import screenshots, writers
from spectstage.demo.cohort import STACK_SHAPE, STRIATUM_CENTRE_MM, DemoPatient, make_volume
from spectstage.demo.patients import sample_patient
from spectstage.demo.screenshots import Screenshot
from spectstage.errors import InputError
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions
from spectstage.sbr import STRIATAL_REGIONS

SEED = 31  # fresh
LIFT = 0.05  # the generator's largest lift


@pytest.fixture(scope="module")
def patient_stack():
    """A realistic stage-2 patient and its true coronal stack around the striatum."""
    rng = np.random.default_rng([SEED, 1])
    patient = sample_patient(rng, "P0001", "2", 1, 4)
    volume, affine, _ = make_volume(DemoPatient(patient, "png", (SEED, 1, 0)))
    centre_y = float((patient.pose.matrix() @ [*STRIATUM_CENTRE_MM, 1])[1])
    conv = SliceConventions()
    stack, _ = writers.sample_stack(volume, affine, conv, STACK_SHAPE, (0.0, centre_y, 0.0))
    return patient, stack


def screenshot(stack, folder, shot: Screenshot):
    folder.mkdir()
    screenshots.write_screenshots(stack, folder, SliceConventions(), shot)
    return folder


def stack_sbr(values: np.ndarray, truth: np.ndarray) -> float:
    """Striatum (>= half the true maximum) over non-specific uptake (15-35 % of it), both
    regions from the true stack."""
    t = truth / truth.max()
    return float(values[t >= 0.5].mean() / values[(t > 0.15) & (t < 0.35)].mean() - 1)


def test_declared_window_gives_the_true_stack_sbr(patient_stack, tmp_path):
    _, stack = patient_stack
    folder = screenshot(stack, tmp_path / "lifted", Screenshot(window_low=LIFT))
    true = stack_sbr(stack, stack)
    declared = load_scan(folder, SliceConventions(window_low=LIFT)).data
    silent = load_scan(folder, SliceConventions()).data
    t = stack / stack.max()
    lo = LIFT
    predicted = (t[t >= 0.5].mean() - lo) / (t[(t > 0.15) & (t < 0.35)].mean() - lo) - 1
    assert abs(stack_sbr(declared, stack) / true - 1) < 0.01
    assert abs(stack_sbr(silent, stack) / predicted - 1) < 0.01
    assert stack_sbr(silent, stack) / true - 1 > 0.1  # what a silent reading costs


def gain(sidecar: dict, patient) -> float:
    m = np.array([sidecar["regions"][f"sbr_{r}"] for r in STRIATAL_REGIONS])
    t = np.array([patient.uptake.sbr[r] for r in STRIATAL_REGIONS])
    return float(m @ t / (t @ t))


def test_ingest_sbrs_of_a_lifted_window_against_the_truth(patient_stack, tmp_path):
    """Through ingest (registration, reference region): the gain of the measured over the
    true SBRs with the declared window is the full window's; without it, it is off by the
    predicted amount."""
    from spectstage.ingest import ingest_scan
    from spectstage.inputs import ScanInput
    from spectstage.template import load

    patient, stack = patient_stack
    full = screenshot(stack, tmp_path / "full", Screenshot())
    lifted = screenshot(stack, tmp_path / "lifted", Screenshot(window_low=LIFT))
    cfg = validate({"raw_dir": str(tmp_path)})
    tmpl = load(cfg["ingest"])

    def ingest(folder, **slices):
        scan = ScanInput("P0001", "P0001", "2", folder, slices=tuple(slices.items()))
        return ingest_scan(scan, cfg, tmpl)[1]

    want = ingest(full)
    declared, silent = ingest(lifted, window_low=LIFT), ingest(lifted)
    assert abs(gain(declared, patient) / gain(want, patient) - 1) < 0.02
    # Predicted from the full window's reading: region means v and reference r, as
    # fractions of the maximum, lose `lo` each; the fallback reference is scaled by its ratio.
    ref = want["reference"]
    r, ratio = ref["mean_counts"], ref["template_ratio"]
    for region in STRIATAL_REGIONS:
        sbr = want["regions"][f"sbr_{region}"]
        predicted = (r * (sbr + 1) - LIFT) / (r - LIFT / ratio) - 1
        # within 4 % of SBR + 1 (measured <= 2 %: registration differs a little)
        assert abs((silent["regions"][f"sbr_{region}"] + 1) / (predicted + 1) - 1) < 0.04
    assert gain(silent, patient) / gain(want, patient) - 1 > 0.1  # measured +20 %


def test_a_window_whose_low_end_is_above_its_top_is_refused():
    with pytest.raises(
        InputError, match=r"window_low 0\.5 must be >= 0 and below window_high 0\.4"
    ):
        SliceConventions(window_low=0.5, window_high=0.4)
