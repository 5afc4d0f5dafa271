"""Bad input: a message naming the file, a non-zero exit, and no partial output."""

from __future__ import annotations

import shutil
import sys

import pandas as pd

from conftest import rule_settings, run


def ingest_all(cohort, out, tmp_path):
    settings = rule_settings("ingest", raw_dir=str(cohort), ingest={"batches": 1})
    cmd = [
        sys.executable,
        "-m",
        "spectstage",
        "ingest",
        "--settings",
        settings,
        "--batch",
        "0",
        "--out-dir",
        str(out),
    ]
    return run(cmd, tmp_path, check=False)


def test_truncated_dicom_names_the_file_and_leaves_nothing_partial(tiny_cohort, tmp_path):
    truth = pd.read_csv(tiny_cohort / "truth.csv", dtype=str)
    victim_row = truth[truth["layout"] == "dicom_multiframe"].iloc[0]
    raw = tmp_path / "raw"
    for row in (victim_row, truth[truth["layout"] == "nifti"].iloc[0]):  # and a good scan
        folder = f"stage_{row['stage']}/{row['patient_id']}"
        shutil.copytree(tiny_cohort / folder, raw / folder)
    victim = raw / f"stage_{victim_row['stage']}" / victim_row["patient_id"] / "NM00001"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    out = tmp_path / "volumes"
    proc = ingest_all(raw, out, tmp_path)
    assert proc.returncode == 2
    assert str(victim) in proc.stderr and "Traceback" not in proc.stderr
    assert not list(out.glob(f"{victim_row['patient_id']}*")) and not list(out.glob(".tmp-*"))


def test_missing_raw_dir_is_a_clear_error(tmp_path):
    proc = ingest_all(tmp_path / "nowhere", tmp_path / "out", tmp_path)
    assert proc.returncode == 2 and "no such folder" in proc.stderr
