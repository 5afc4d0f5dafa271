"""One patient, two formats, one SBR scale: a slice stack that misses the occipital cortex
(fallback reference) against the same volume as NIfTI (occipital reference), both measured
against the demo generator's true SBRs. benchmarks/format_invariance.py measures it at size."""

from __future__ import annotations

import numpy as np
import pytest

from spectstage import template
from spectstage.atlas import STRIATAL_REGIONS
from spectstage.config import validate
from spectstage.demo.cohort import DemoPatient, write_patient
from spectstage.demo.patients import sample_patient
from spectstage.ingest import ingest_scan
from spectstage.inputs import ScanInput
from spectstage.io.slices import SliceConventions

# Gain of measured on true SBR (least squares through the origin; partial volume makes it
# ~0.55-0.65 in every format) may differ this much between the two formats. Deterministic on
# these two patients: the cortex fallback's gain is 16 % above the NIfTI's (the rest of the
# gap is the whole-head registration's, see benchmarks/README.md), the former fallback's
# (non-striatal brain) 23 %. The bound catches a drift back to that, not the 10 %
# slope goal, which benchmarks/format_invariance.py measures on more patients.
MAX_GAIN_DIFFERENCE = 0.20
SEED = 41  # fresh: neither the demo's seed (0) nor the tiny cohort's (7)


def test_cortex_fallback_is_cortex_like_the_occipital():
    """The fallback is the occipital's kind of region, by nilearn's tissue maps (not the
    template's rendering): about as much grey and white matter, far from the striata, and
    mostly inside the slices a demo stack covers."""
    from scipy import ndimage

    from spectstage import atlas

    tmpl = template.load()
    tissue = atlas.tissue_maps(tmpl.grid)
    cortex, occipital = tmpl.mask("cortex"), tmpl.mask("occipital")
    for kind in ("grey", "white"):
        assert abs(tissue[kind][cortex].mean() - tissue[kind][occipital].mean()) < 0.1, kind
    assert tissue["grey"][cortex].mean() > tissue["grey"][tmpl.mask("nonstriatal_brain")].mean()
    far = ndimage.distance_transform_edt(~tmpl.striatum(), sampling=tmpl.grid.voxel_mm)
    assert far[cortex].min() > atlas.CORTEX_MARGIN_MM and not (cortex & occipital).any()
    y = tmpl.grid.points()[:, 1].reshape(tmpl.grid.shape)
    assert (cortex & (y > -58) & (y < 62)).sum() > 0.5 * cortex.sum()


def gain(measured: list[float], true: list[float]) -> float:
    m, t = np.asarray(measured), np.asarray(true)
    return float(m @ t / (t @ t))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """{layout: (measured SBRs, true SBRs, sidecars)} for a healthy and a stage-3 patient."""
    root = tmp_path_factory.mktemp("formats")
    cfg = validate({"raw_dir": str(root)})
    tmpl = template.load(cfg["ingest"])
    out: dict[str, tuple[list, list, list]] = {"nifti": ([], [], []), "png": ([], [], [])}
    for stage_index in (0, 2):
        rng = np.random.default_rng([SEED, stage_index])
        patient = sample_patient(rng, f"P{stage_index}", str(stage_index + 1), stage_index, 4)
        for layout, (m, t, sidecars) in out.items():
            # The same seed: the same rendered volume and noise, written two ways.
            item = DemoPatient(patient, layout, (SEED, stage_index, 0))
            folder = root / layout / patient.patient_id
            write_patient(item, folder, SliceConventions())
            scan = ScanInput(patient.patient_id, patient.patient_id, patient.stage, folder)
            _, sidecar = ingest_scan(scan, cfg, tmpl)
            m += [sidecar["regions"][f"sbr_{r}"] for r in STRIATAL_REGIONS]
            t += [patient.uptake.sbr[r] for r in STRIATAL_REGIONS]
            sidecars.append(sidecar)
    return out


def test_stack_uses_the_fallback_and_the_volume_the_occipital(measured):
    """The precondition of the comparison below: it compares the two references."""
    assert all(s["reference"]["fallback"] for s in measured["png"][2])
    assert not any(s["reference"]["fallback"] for s in measured["nifti"][2])


def test_fallback_gives_the_occipital_sbr_scale_against_the_truth(measured):
    gains = {layout: gain(m, t) for layout, (m, t, _) in measured.items()}
    assert abs(gains["png"] / gains["nifti"] - 1) <= MAX_GAIN_DIFFERENCE, gains
