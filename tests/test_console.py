"""The console a user sees: compact progress, and a failed job's error message in full."""

from __future__ import annotations

import pytest

from conftest import snakemake, tiny_config

pytestmark = pytest.mark.workflow


def test_truncated_dicom_is_named_on_the_console(scratch_cohort, tmp_path):
    truth = (scratch_cohort / "truth.csv").read_text().splitlines()
    header = truth[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in truth[1:]]
    patient = next(r for r in rows if r["layout"] == "dicom_multiframe")
    dicom = scratch_cohort / f"stage_{patient['stage']}" / patient["patient_id"] / "NM00001"
    dicom.write_bytes(dicom.read_bytes()[: dicom.stat().st_size // 2])
    # Plain `snakemake --cores 2` (the workflow profile is found beside the Snakefile).
    out = snakemake(tmp_path, "--cores", "2", *tiny_config(scratch_cohort, tmp_path), check=False)
    console = out.stdout + out.stderr
    print(console)  # pytest -s shows what a user would see
    assert out.returncode != 0
    assert "Error in rule check_batch_" in console
    error_lines = [line for line in console.splitlines() if str(dicom) in line]
    assert any("truncated" in line for line in error_lines), console[-3000:]
    # Compact: no job prints its input file list.
    assert "input:" not in console
    assert len(console.splitlines()) < 60, console


def test_job_counts_group_numbered_rules_and_error_shows_the_log_tail(tmp_path):
    import logging

    from snakemake_logger_plugin_spectstage import MAX_LOG_LINES, job_counts, job_error

    stats = {"check_batch_0": 1, "check_batch_1": 1, "folds": 1, "all": 1, "total": 4}
    assert job_counts(stats) == "4 jobs: 2 check_batch_*, 1 folds, 1 all"
    log = tmp_path / "batch_0.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "spectstage check: error: x\n")
    record = logging.LogRecord("snakemake", logging.ERROR, "", 0, "failed", None, None)
    record.__dict__.update(rule_name="check_batch_0", jobid=3, aux={}, log=[str(log)])
    text = job_error(record).splitlines()
    assert text[0] == "Error in rule check_batch_0 (job 3):"
    assert f"(last {MAX_LOG_LINES} of 101 lines)" in text[1]
    assert text[-1] == "    | spectstage check: error: x" and len(text) == MAX_LOG_LINES + 2
