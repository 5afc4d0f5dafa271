"""A training job cancelled on SLURM (scripts/start-local-slurm.sh, profiles/slurm)
resumes from its checkpoint when the workflow runs again, and trains every epoch once.

Skipped with a reason where SLURM cannot be started (not root); in CI it must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import BIN, SLURM_SNAKEMAKE, run, slurm_snakemake, tiny_config

pytestmark = pytest.mark.slurm


def test_cancelled_training_resumes_from_its_checkpoint(slurm, workflow_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(workflow_run, work, symlinks=True)
    # Enough to cancel mid-training: at ~0.3 s an epoch (~0.6 s on a loaded machine), the
    # cancel lands about a second after the first checkpoint, long before the last; the
    # resumed job then trains the rest, so more epochs only add time.
    epochs = 30
    args = tiny_config(
        Path("raw"), work, train={"epochs": epochs, "patience": epochs, "batch_size": 8}
    )
    target = "results/models/fold_0/history.csv"  # fold 0 only: fold 1 would just add time
    cmd = [*SLURM_SNAKEMAKE, target, "--retries", "0", *args]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    first = subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    checkpoint = work / "results" / "checkpoints" / "fold_0" / "last.pt"
    old = checkpoint.stat().st_mtime
    deadline = time.time() + 240
    while time.time() < deadline and (not checkpoint.exists() or checkpoint.stat().st_mtime == old):
        time.sleep(0.1)
    # This run's training job: the local SLURM may be running other people's jobs too.
    jobs = run(["squeue", "-h", "-o", "%i %k %Z"], work).stdout.split("\n")
    (job,) = [j.split()[0] for j in jobs if j.endswith(f" rule_fold_train_fold {work}")]
    run(["scancel", job], work)
    output, _ = first.communicate(timeout=300)
    assert first.returncode != 0, output[-2000:]
    import torch

    stopped = torch.load(checkpoint, weights_only=True)["state"]["epoch"]
    assert 1 <= stopped < epochs
    slurm_snakemake(work, target, *args)
    log = (work / "results" / "logs" / "train" / "fold_0.log").read_text()
    assert f"resuming after epoch {stopped}" in log
    history = pd.read_csv(work / "results" / "models" / "fold_0" / "history.csv")
    assert list(history["epoch"]) == list(range(1, epochs + 1))
