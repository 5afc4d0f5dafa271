"""The input contract: raw_dir layout, manifest, duplicates, stages, stable batches."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from conftest import TINY_PER_STAGE
from spectstage.config import validate
from spectstage.errors import InputError
from spectstage.inputs import batch_of, batches, discover


def test_raw_dir_and_manifest_give_the_same_scans(tiny_cohort):
    from_dir = discover(validate({"raw_dir": str(tiny_cohort)}))
    from_manifest = discover(validate({"manifest": str(tiny_cohort / "manifest.csv")}))
    assert [(s.scan_id, s.stage, s.path.resolve()) for s in from_dir] == [
        (s.scan_id, s.stage, s.path) for s in from_manifest
    ]
    assert len(from_dir) == sum(TINY_PER_STAGE) and {s.stage for s in from_dir} == {
        "1",
        "2",
        "3",
        "4",
    }


def test_top_level_files_and_foreign_folders_are_ignored(scratch_cohort):
    (scratch_cohort / "notes.txt").write_text("ignored")
    (scratch_cohort / "misc").mkdir()
    assert len(discover(validate({"raw_dir": str(scratch_cohort)}))) == sum(TINY_PER_STAGE)


def test_unknown_stage_folder_is_refused(scratch_cohort):
    shutil.move(scratch_cohort / "stage_4", scratch_cohort / "stage_5")
    with pytest.raises(InputError, match="stage '5' is not one of"):
        discover(validate({"raw_dir": str(scratch_cohort)}))


def test_configurable_stage_labels(scratch_cohort):
    shutil.move(scratch_cohort / "stage_4", scratch_cohort / "stage_control")
    scans = discover(validate({"raw_dir": str(scratch_cohort), "stages": ["control", 1, 2, 3]}))
    assert {s.stage for s in scans} == {"control", "1", "2", "3"}


def test_longitudinal_scans_share_a_patient(scratch_cohort):
    table = pd.read_csv(scratch_cohort / "manifest.csv", dtype=str)
    first, second = table.iloc[0], table.iloc[1]
    rows = [
        {"patient_id": "A", "stage": first.stage, "path": first.path, "scan_id": "A_2020"},
        {"patient_id": "A", "stage": second.stage, "path": second.path, "scan_id": "A_2022"},
    ]
    manifest = scratch_cohort / "longitudinal.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    scans = discover(validate({"manifest": str(manifest)}))
    assert [(s.patient_id, s.scan_id) for s in scans] == [("A", "A_2020"), ("A", "A_2022")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: pd.concat([t, t.iloc[[0]]]), "listed twice"),
        (
            lambda t: pd.concat(
                [t, t.iloc[[0]].assign(stage="4" if t.iloc[0].stage != "4" else "1")]
            ),
            "listed under stages",
        ),
        (lambda t: t.assign(stage=["9", *list(t.stage[1:])]), "stage '9' is not one of"),
        (lambda t: t.assign(path=["../outside", *list(t.path[1:])]), "outside the manifest"),
        (lambda t: t.assign(path=["stage_1/missing", *list(t.path[1:])]), "does not exist"),
        (lambda t: t.drop(columns=["stage"]), "missing column"),
        (lambda t: t.assign(patient_id=["", *list(t.patient_id[1:])]), "is empty"),
    ],
)
def test_bad_manifest_is_refused_with_a_clear_message(scratch_cohort, change, message):
    manifest = scratch_cohort / "manifest.csv"
    change(pd.read_csv(manifest, dtype=str)).to_csv(manifest, index=False)
    with pytest.raises(InputError, match=message):
        discover(validate({"manifest": str(manifest)}))


def test_batches_are_stable_when_a_scan_is_added(tiny_cohort):
    scans = discover(validate({"raw_dir": str(tiny_cohort)}))
    before = batches(scans[:-1], 4)
    after = batches(scans, 4)
    changed = [b for b in after if after[b] != before.get(b)]
    assert changed == [batch_of(scans[-1].scan_id, 4)]
    assert sum(len(v) for v in after.values()) == len(scans)
