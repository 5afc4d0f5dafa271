"""Training cost per model on one demo fold: seconds per epoch and peak memory, one thread.

Usage (after `make demo`): python benchmarks/training.py [--results results] [--epochs 2]
Each model trains fold 0 for a few epochs in its own process (so peak memory is its own;
the time per epoch includes loading the fold's validation and test crops),
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

MODELS = ("small", "seed", "resnet10")  # densenet121 needs a larger crop (models.py)


def one(model: str, results: Path, epochs: int) -> dict:
    """Train fold 0 with `model` in this process; its time and peak resident memory."""
    from spectstage import config
    from spectstage.train import train_fold

    cfg = config.validate({"raw_dir": "unused", "train": {"model": model, "epochs": epochs}})
    # No early stop within the measured epochs: every epoch counts.
    cfg["train"]["patience"] = epochs
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
        seconds = time.perf_counter() - start
    full_epochs = config.validate({})["train"]["epochs"]
    return {
        "model": model,
        "seconds_per_epoch": seconds / epochs,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        f"minutes_for_{full_epochs}_epochs": seconds / epochs * full_epochs / 60,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--epochs", type=int, default=2)
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
    print(f"Training fold 0 of {args.results} on one CPU thread ({args.epochs} epochs measured)")
    print(table.round(2).to_string())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(table.round(3).reset_index().to_dict("records"), indent=1) + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
