"""Training cost per model on one demo fold: seconds per epoch and peak memory, one thread.

Usage (after `make demo`): python benchmarks/training.py [--results results] [--epochs 3]
Each model trains fold 0 in its own process (so peak memory is its own), once for 1 epoch
and once for 1 + N: the difference is the time per epoch, the rest is set-up,
with the demo's shard and the default settings otherwise. The numbers size a training job:
`resources.train_mem_mb` and `resources.train_runtime_min` in config/config.yaml (a fold
runs at most train.epochs epochs). Prints a table and writes benchmarks/results/training.json.
Never asserts.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import report

MODELS = ("small", "seed", "resnet10")  # densenet121 needs a larger crop (models.py)


def timed_fold(model: str, results: Path, epochs: int) -> float:
    """Seconds to train fold 0 for `epochs` epochs (no early stop), from scratch."""
    from spectstage import config
    from spectstage.train import train_fold

    train = {"model": model, "epochs": epochs, "patience": epochs}
    cfg = config.validate({"raw_dir": "unused", "train": train})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train_fold(
            results / "folds.csv",
            results / "cohort.csv",
            results / "folds/fold_0/train_shard.pt",
            0,
            Path(tmp) / "out",
            Path(tmp) / "checkpoints",
            cfg,
            threads=1,
        )
        return time.perf_counter() - start


def one(model: str, results: Path, epochs: int) -> dict:
    """Time per epoch and set-up (loading crops, building the model, predicting) from a
    1-epoch and a (1 + epochs)-epoch run; peak resident memory of this process."""
    from spectstage import config

    timed_fold(model, results, 1)  # warm-up: first imports and allocations are one-off
    short = timed_fold(model, results, 1)
    per_epoch = (timed_fold(model, results, 1 + epochs) - short) / epochs
    full_epochs = config.validate({})["train"]["epochs"]
    return {
        "model": model,
        "seconds_per_epoch": per_epoch,
        "setup_seconds": short - per_epoch,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        f"minutes_for_{full_epochs}_epochs": (short - per_epoch + per_epoch * full_epochs) / 60,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one model, print JSON
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "training.json")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.results, args.epochs)))
        return

    import pandas as pd

    rows = []
    for model in args.models:
        cmd = [sys.executable, __file__, "--one", model]
        cmd += ["--results", str(args.results), "--epochs", str(args.epochs)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{model}: training failed\n{proc.stderr}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows).set_index("model")
    report(
        f"Training fold 0 of {args.results} on one CPU thread ({args.epochs} epochs measured)",
        table,
        args.out,
    )


if __name__ == "__main__":
    main()
