"""The `spectstage` command lines the workflow's rules run (rules/*.smk), for a working
folder laid out like the shared run's, and a client of fault_worker.py that runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import rule_settings

HERE = Path(__file__).parent


def argv(command: str, cfg: dict, fold: int | None = None, batch: int | None = None) -> list[str]:
    """What rules/<stage>.smk passes to `spectstage <command>` (paths relative to the
    working folder, as in the rules)."""
    settings = ["--settings", rule_settings(command, **cfg)]
    inputs = ["--folds", "results/folds.csv", "--cohort", "results/cohort.csv"]
    if command == "check":
        return [
            "check",
            "--batch",
            str(batch),
            *settings,
            "--out",
            f"results/check/batch_{batch}.txt",
        ]
    if command == "ingest":
        outs = ["--out-dir", "results/volumes", "--qc-dir", "results/qc"]
        return ["ingest", "--batch", str(batch), *settings, *outs]
    if command == "folds":
        return ["folds", *settings, "--cohort", "results/cohort.csv", "--out", "results/folds.csv"]
    if command == "augment":
        out = ["--out-dir", f"results/folds/fold_{fold}"]
        return ["augment", "--fold", str(fold), *settings, *inputs, *out]
    if command == "train":
        shard = ["--shard", f"results/folds/fold_{fold}/train_shard.pt"]
        outs = ["--out-dir", f"results/models/fold_{fold}"]
        outs += ["--checkpoint-dir", f"results/checkpoints/fold_{fold}", "--threads", "1"]
        return ["train", "--fold", str(fold), *settings, *shard, *inputs, *outs]
    assert command == "evaluate", command
    folds = range(cfg["folds"]["k"])
    predictions = [f"results/models/fold_{k}/test_predictions.csv" for k in folds]
    validation = [f"results/models/fold_{k}/val_predictions.csv" for k in folds]
    return [
        "evaluate", *settings, "--predictions", *predictions, "--validation", *validation,
        *inputs, "--out-dir", "results",
    ]  # fmt: skip


def run_config(workdir: Path) -> dict:
    """The user config of a run made with conftest.tiny_config."""
    return yaml.safe_load((workdir / "tiny.yaml").read_text())


class Worker:
    """One fault_worker.py process: `run(argv, cwd, kill)` forks a child per call."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "fault_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def run(self, args: list[str], cwd: Path, kill: dict | None = None) -> dict:
        request = {"argv": args, "cwd": str(cwd), "kill": kill}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
