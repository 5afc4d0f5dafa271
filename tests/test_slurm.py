"""The workflow on a real single-node SLURM (scripts/start-local-slurm.sh) through
profiles/slurm: every job a SLURM job, training with a GPU request, the same numbers as a
local run, failures reported with their SLURM log. A cancelled training job resumed:
test_slurm_resume.py (a module of its own, so that it can run beside this one).

Skipped with a reason where SLURM cannot be started (not root); in CI it must run.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import run, slurm_snakemake, tiny_config
from spectstage import config

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def slurm_run(slurm, workflow_run, tmp_path_factory):
    """The shared local run, with one ingest batch and everything after it run again
    through the SLURM profile: every kind of job goes through SLURM, and the numbers of
    the local run must come back. (The other batches would only repeat the same jobs.)"""
    work = tmp_path_factory.mktemp("slurm") / "work"
    shutil.copytree(workflow_run, work, symlinks=True)
    shutil.rmtree(work / "results" / "checkpoints")  # or training would resume, finished
    start = time.monotonic()
    rerun = ["--forcerun", "check_batch_0"]  # and every job downstream of it
    out = slurm_snakemake(work, *rerun, *tiny_config(Path("raw"), work))
    print(f"SLURM run of the tiny cohort: {time.monotonic() - start:.0f} s")
    return work, out.stdout + out.stderr


def job_ids(work: Path, group: str) -> list[str]:
    """The SLURM job ids of a rule group (its log folder is group_<group>_<its rules>)."""
    logs = work / ".snakemake" / "slurm_logs"
    return [p.stem for p in logs.glob(f"group_{group}_*/**/*.log")]


def test_every_job_ran_on_slurm_and_training_asked_for_a_gpu(slurm_run):
    work, log = slurm_run
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    groups = {p.name for p in (work / ".snakemake" / "slurm_logs").iterdir()}
    assert groups == {
        "group_ingest_check_batch_0_ingest_batch_0",
        "group_cohort_cohort_table_folds",
        "group_fold_augment_fold_train_fold",
        "group_results_evaluate_report_files",
    }, groups
    # One job per group: check+ingest of the batch, cohort+folds, augment+train per fold
    # (2 folds), evaluate+report files.
    assert len(submitted) == len(set(submitted)) == 5
    assert len(job_ids(work, "fold")) == 2 and set(job_ids(work, "fold")) <= set(submitted)
    resources = config.validate({})["resources"]
    for job in job_ids(work, "fold"):
        record = run(["scontrol", "show", "job", job], work).stdout
        assert "gpu:1" in record and "COMPLETED" in record, record
        assert f"mem={resources['train_mem_mb']}M" in record, record  # the rule's, from config
    for job in job_ids(work, "cohort"):
        assert "gpu" not in run(["scontrol", "show", "job", job], work).stdout


def test_slurm_run_gives_the_local_numbers(slurm_run, workflow_run):
    work, _ = slurm_run
    on_slurm = (
        pd.read_csv(work / "results" / "oof_predictions.csv").set_index("scan_id").sort_index()
    )
    local = (
        pd.read_csv(workflow_run / "results" / "oof_predictions.csv")
        .set_index("scan_id")
        .sort_index()
    )
    probs = [c for c in local.columns if c.startswith("p_")]
    assert (on_slurm[probs] - local[probs]).abs().to_numpy().max() <= 1e-6


def copy_run(slurm_run, tmp_path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(slurm_run[0], work, symlinks=True)
    return work


def test_failing_job_is_reported_with_its_slurm_log(slurm_run, tmp_path):
    work = copy_run(slurm_run, tmp_path)
    # A scan broken after the run: the pre-flight check of its batch fails at once, so
    # the failing job costs a SLURM round trip and no ingest or training.
    truth = pd.read_csv(work / "raw" / "truth.csv", dtype=str)
    row = truth[truth["layout"] == "nifti"].iloc[0]
    (broken,) = (work / "raw" / f"stage_{row['stage']}" / row["patient_id"]).glob("*.nii*")
    broken.write_bytes(b"not a NIfTI file")
    out = slurm_snakemake(work, "--retries", "0", *tiny_config(Path("raw"), work), check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    job_log = r"\.snakemake/slurm_logs/group_ingest_check_batch_(\d+)_ingest_batch_\1/\d+\.log"
    batches = set(re.findall(job_log, text))  # named where submitted and where it failed
    assert len(batches) == 1, text[-3000:]
    (batch,) = batches
    assert "Error in group ingest" in text
    # The workflow stops: the failed job (one batch) is the only one ever submitted.
    assert len(re.findall(r"submitted with SLURM jobid \d+", text)) == 1, text[-3000:]
    check_log = work / "results" / "logs" / "check" / f"batch_{batch}.log"
    assert broken.name in check_log.read_text(), check_log.read_text()
