"""Regional SBRs of a scan that covers part of a region: the mean over what it covers."""

from __future__ import annotations

import math

import numpy as np

from spectstage import template
from spectstage.sbr import region_coverage, regional_sbr


def test_a_stack_ending_across_a_putamen_keeps_its_sbr():
    """Known uptake per region (reference-normalised, so SBR = value - 1); the scan stops at
    MNI y = -10 mm, inside the posterior putamen, and is zero beyond as resampling leaves it.
    Each region's SBR must be its true value; one the scan misses entirely is NaN."""
    tmpl = template.load()
    values = dict(zip(template.STRIATAL_REGIONS, (3.4, 3.1, 2.9, 2.6, 1.5, 2.0), strict=True))
    volume = np.ones(tmpl.image.shape, dtype=np.float32)
    for region, value in values.items():
        volume[tmpl.mask(region)] = value
    y = tmpl.grid.points()[:, 1].reshape(tmpl.grid.shape)
    covered = y >= -10.0
    assert 0 < region_coverage(covered, tmpl) < 1  # the slab does cut a region
    sbr = regional_sbr(np.where(covered, volume, 0), tmpl, covered)
    for region, value in values.items():
        assert sbr[f"sbr_{region}"] == round(value - 1, 4), region
    missed = regional_sbr(volume, tmpl, y >= 60.0)  # in front of every striatal region
    assert all(math.isnan(v) for v in missed.values())


def test_qc_flags_judge_only_the_regions_a_scan_reaches():
    """A region a short stack does not reach has no SBR (NaN): the flags look at the
    measured regions, and a scan that reaches none has its striatum 'not found'."""
    from types import SimpleNamespace

    from spectstage.qc import flags

    reg = SimpleNamespace(matrix=np.eye(4), correlation=0.9)
    ref = SimpleNamespace(fallback=False, mean=10.0)
    nan = float("nan")

    def raised(sbr):
        found = flags(reg, ref, sbr, "dicom", 0.9)
        return found["flag_striatum_not_found"], found["flag_implausible_intensity"]

    assert raised({"a": nan, "b": 2.0}) == (False, False)
    assert raised({"b": 2.0, "a": nan}) == (False, False)  # order no longer matters
    assert raised({"a": nan, "b": nan}) == (True, False)
    assert raised({"a": 9.0, "b": nan}) == (False, True)
    assert raised({"a": 0.1, "b": nan}) == (True, False)


def test_a_region_not_reached_is_null_in_the_sidecar_and_nan_in_the_cohort(tmp_path):
    """Strict JSON (R's and JavaScript's parsers refuse a bare NaN): the sidecar holds null,
    and the cohort table reads it back as a missing value."""
    import json

    from spectstage.cohort import cohort_rows
    from spectstage.config import validate
    from spectstage.ingest import write_volume

    tmpl = template.load()
    raw = tmp_path / "raw" / "stage_1" / "P1"
    raw.mkdir(parents=True)
    (raw / "scan.nii.gz").write_bytes(b"")  # discovered by name only
    sbr = {f"sbr_{r}": 1.5 for r in template.STRIATAL_REGIONS}
    sbr["sbr_caudate_left"] = float("nan")
    sidecar = {
        "scan_id": "P1",
        "patient_id": "P1",
        "stage": "1",
        "format": "nifti",
        "reference": {"region": "occipital"},
        "qc": {"striatal_region_coverage_min": 0.0},
        "regions": sbr,
    }
    volumes = tmp_path / "volumes"
    volumes.mkdir()
    write_volume(np.ones(tmpl.image.shape, np.float32), sidecar, tmpl, volumes, None)

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    written = json.loads((volumes / "P1.json").read_text(), parse_constant=refuse)
    assert written["regions"]["sbr_caudate_left"] is None
    (row,) = cohort_rows(validate({"raw_dir": str(tmp_path / "raw")}), volumes)
    assert math.isnan(row["sbr_caudate_left"]) and row["sbr_caudate_right"] == 1.5
