"""The workflow on a real single-node SLURM (scripts/start-local-slurm.sh) through
profiles/slurm: every job a SLURM job, training with a GPU request, the same numbers as a
local run, failures reported with their SLURM log, a cancelled training job resumed.

Skipped with a reason where SLURM cannot be started (not root); in CI it must run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import BIN, REPO, run, snakemake, tiny_config
from spectstage import config

pytestmark = pytest.mark.slurm
PROFILE = ["--profile", str(REPO / "profiles" / "slurm")]


@pytest.fixture(scope="module")
def slurm():
    reason = None
    if os.geteuid() != 0:
        reason = "not root: cannot install and start a local SLURM"
    else:
        proc = run(["bash", str(REPO / "scripts" / "start-local-slurm.sh")], REPO, check=False)
        if proc.returncode != 0:
            reason = f"local SLURM did not start: {proc.stderr[-2000:]}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SLURM tests: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_run(slurm, workflow_run, tmp_path_factory):
    """The shared tiny cohort and config, run through the SLURM profile."""
    work = tmp_path_factory.mktemp("slurm")
    shutil.copytree(workflow_run / "raw", work / "raw")
    start = time.monotonic()
    out = snakemake(work, *PROFILE, *tiny_config(Path("raw"), work))
    print(f"SLURM run of the tiny cohort: {time.monotonic() - start:.0f} s")
    return work, out.stdout + out.stderr


def job_ids(work: Path, rule: str) -> list[str]:
    return [p.stem for p in (work / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob("*.log")]


def test_every_job_ran_on_slurm_and_training_asked_for_a_gpu(slurm_run):
    work, log = slurm_run
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    rules = {p.name for p in (work / ".snakemake" / "slurm_logs").iterdir()}
    expected = {
        "rule_cohort_table",
        "rule_folds",
        "rule_augment_fold",
        "rule_train_fold",
        "rule_evaluate",
        "rule_report_files",
    } | {f"rule_{step}_batch_{b}" for b in range(3) for step in ("check", "ingest")}
    assert expected <= rules, rules
    # 3 check + 3 ingest batches + 1 cohort + 1 folds + 2 augment + 2 train + 1 evaluate
    # + 1 report_files
    assert len(submitted) == len(set(submitted)) == 14
    resources = config.validate({})["resources"]
    for job in job_ids(work, "train_fold"):
        record = run(["scontrol", "show", "job", job], work).stdout
        assert "gpu:1" in record and "COMPLETED" in record, record
        assert f"mem={resources['train_mem_mb']}M" in record, record  # the rule's, from config
    for job in job_ids(work, "folds"):
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
    # No CUDA behind the fake GPU: asking for it makes the training job fail.
    args = tiny_config(Path("raw"), work, train={"epochs": 2, "batch_size": 8, "device": "cuda"})
    target = "results/models/fold_0/model.pt"  # one failing job shows it; two cost twice
    out = snakemake(work, target, *PROFILE, "--retries", "0", *args, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert re.search(r"\.snakemake/slurm_logs/rule_train_fold/\d+/\d+\.log", text), text[-3000:]
    assert "Error in rule train_fold" in text
    failed_logs = list((work / "results" / "logs" / "train").glob("*.log"))
    assert any("no CUDA device" in f.read_text() for f in failed_logs)


def test_cancelled_training_resumes_from_its_checkpoint(slurm_run, tmp_path):
    work = copy_run(slurm_run, tmp_path)
    epochs = 100  # enough to cancel mid-training: the cancel lands a second after a checkpoint
    args = tiny_config(
        Path("raw"), work, train={"epochs": epochs, "patience": epochs, "batch_size": 8}
    )
    target = "results/models/fold_0/history.csv"  # fold 0 only: fold 1 would just add time
    snakefile = ["-s", str(REPO / "Snakefile")]
    cmd = [str(BIN / "snakemake"), target, *snakefile, *PROFILE, "--retries", "0", *args]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    first = subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    checkpoint = work / "results" / "checkpoints" / "fold_0" / "last.pt"
    old = checkpoint.stat().st_mtime
    deadline = time.time() + 240
    while time.time() < deadline and (not checkpoint.exists() or checkpoint.stat().st_mtime == old):
        time.sleep(0.2)
    jobs = run(["squeue", "-h", "-o", "%i %k"], work).stdout.split("\n")
    (job,) = [line.split()[0] for line in jobs if "rule_train_fold_wildcards_0" in line]
    run(["scancel", job], work)
    output, _ = first.communicate(timeout=300)
    assert first.returncode != 0, output[-2000:]
    import torch

    stopped = torch.load(checkpoint, weights_only=True)["state"]["epoch"]
    assert 1 <= stopped < epochs
    snakemake(work, target, *PROFILE, *args)
    log = (work / "results" / "logs" / "train" / "fold_0.log").read_text()
    assert f"resuming after epoch {stopped}" in log
    history = pd.read_csv(work / "results" / "models" / "fold_0" / "history.csv")
    assert list(history["epoch"]) == list(range(1, epochs + 1))
