"""Bad input: a message naming the file, a non-zero exit, and no partial output."""

from __future__ import annotations

import sys

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


def test_truncated_dicom_names_the_file_and_leaves_nothing_partial(scratch_cohort, tmp_path):
    truth = (scratch_cohort / "truth.csv").read_text().splitlines()
    row = next(r for r in truth if ",dicom_multiframe," in r).split(",")
    victim = scratch_cohort / f"stage_{row[2]}" / row[0] / "NM00001"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    out = tmp_path / "volumes"
    proc = ingest_all(scratch_cohort, out, tmp_path)
    assert proc.returncode == 2
    assert str(victim) in proc.stderr and "Traceback" not in proc.stderr
    assert not list(out.glob(f"{row[0]}*")) and not list(out.glob(".tmp-*"))


def test_missing_raw_dir_is_a_clear_error(tmp_path):
    proc = ingest_all(tmp_path / "nowhere", tmp_path / "out", tmp_path)
    assert proc.returncode == 2 and "no such folder" in proc.stderr
