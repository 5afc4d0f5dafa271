"""Deliberate exclusion: unusable scans left out by name, with a reason, never in the folds."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from conftest import rule_settings, run
from spectstage.cohort import write_cohort
from spectstage.config import validate
from spectstage.deid import KEY_VARIABLE, pseudonym
from spectstage.errors import InputError
from spectstage.inputs import discover, discover_all


def truth(cohort) -> pd.DataFrame:
    return pd.read_csv(cohort / "truth.csv", dtype=str)


def test_excluded_scans_are_left_out_with_their_reasons(tiny_cohort):
    first, second = truth(tiny_cohort)["patient_id"].iloc[:2]
    exclude = [{"id": first, "reason": "truncated"}, {"id": second, "reason": "wrong protocol"}]
    cfg = validate({"raw_dir": str(tiny_cohort), "exclude": exclude})
    kept, excluded = discover_all(cfg)
    assert {first, second}.isdisjoint(s.patient_id for s in kept)
    assert [(s.patient_id, r) for s, r in excluded] == sorted(
        [(first, "truncated"), (second, "wrong protocol")]
    )
    assert (
        len(kept) + 2
        == len(truth(tiny_cohort))
        == len(discover(validate({"raw_dir": str(tiny_cohort)})))
    )


def test_an_exclusion_that_matches_nothing_is_refused(tiny_cohort):
    cfg = validate({"raw_dir": str(tiny_cohort), "exclude": [{"id": "P9999", "reason": "x"}]})
    with pytest.raises(InputError, match="exclude: 'P9999' is neither a patient nor a scan"):
        discover(cfg)


def test_an_exclusion_needs_a_reason():
    with pytest.raises(InputError, match=r"exclude\.0"):
        validate({"exclude": [{"id": "P0001"}]})


def test_pseudonyms_as_messages_show_them_exclude_too(tiny_cohort, monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, "a-test-key-that-is-long-enough")
    patient = truth(tiny_cohort)["patient_id"].iloc[0]
    exclude = [{"id": pseudonym(patient), "reason": "unreadable"}]
    cfg = validate({"raw_dir": str(tiny_cohort), "pseudonymise": True, "exclude": exclude})
    _, excluded = discover_all(cfg)
    assert [s.patient_id for s, _ in excluded] == [pseudonym(patient)]


def test_a_broken_scan_is_reported_with_how_to_exclude_it_and_then_passes(tiny_cohort, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(tiny_cohort, raw)
    row = truth(raw).query("layout == 'dicom_multiframe'").iloc[0]
    victim = raw / f"stage_{row['stage']}" / row["patient_id"] / "NM00001"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    check = ["spectstage", "check", "--settings"]
    failed = run([*check, rule_settings("check", raw_dir=str(raw))], tmp_path, check=False)
    assert failed.returncode == 2 and str(victim) in failed.stderr
    assert f"exclude: [{{id: {row['patient_id']}, reason:" in failed.stderr
    exclude = [{"id": row["patient_id"], "reason": "truncated DICOM"}]
    passed = run([*check, rule_settings("check", raw_dir=str(raw), exclude=exclude)], tmp_path)
    assert "no problems found" in passed.stdout


def test_the_cohort_table_leaves_excluded_scans_out_and_lists_them(workflow_run, tmp_path):
    scan = pd.read_csv(workflow_run / "results" / "cohort.csv", dtype=str)["scan_id"].iloc[0]
    cfg = validate({"raw_dir": str(workflow_run / "raw"), "exclude": [{"id": scan, "reason": "r"}]})
    n = write_cohort(
        cfg, workflow_run / "results" / "volumes", tmp_path / "c.csv", tmp_path / "x.csv"
    )
    cohort = pd.read_csv(tmp_path / "c.csv", dtype=str)
    assert scan not in set(cohort["scan_id"]) and n == len(cohort)
    excluded = pd.read_csv(tmp_path / "x.csv", dtype=str)
    assert excluded[["scan_id", "reason"]].values.tolist() == [[scan, "r"]]
