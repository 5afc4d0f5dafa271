"""Model quality above the seed noise: out-of-fold metrics of training variants over seeds.

Usage (after a workflow run up to results/folds.csv, e.g. on a fresh demo seed):
    python benchmarks/seeds.py --workdir DIR --config CFG.yaml [--seeds 0 1 2]
        [--variants cross_entropy cumulative] [--jobs 2]

Every (variant, seed) trains all folds of DIR/results/folds.csv — the same folds for every
run — from augmentation on, with `augment.seed` and `train.seed` set to the seed, through
the `spectstage` commands the workflow runs (augment, train, evaluate), each run in its own
folder under DIR/seeds/ (a finished run is reused when run again). A variant is a named
set of config overrides (VARIANTS). Prints balanced accuracy, QWK and stage-4 recall per
run and their mean and spread per variant, beside the SBR baseline and the oracle of the
same folds, and writes benchmarks/results/seeds.json. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import yaml
from report import report

VARIANTS: dict[str, dict] = {
    "cross_entropy": {"train": {"loss": "cross_entropy"}},
    "cumulative": {"train": {"loss": "cumulative"}},
    "seed_network": {"train": {"model": "seed"}},  # the classic Conv3D baseline
}


def merged(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def run_fold(workdir: Path, run: Path, cfg: Path, fold: int) -> Path:
    """augment + train one fold (its training CPU seconds beside the model); returns its
    test_predictions.csv."""
    shard_dir = run / "folds" / f"fold_{fold}"
    model_dir = run / "models" / f"fold_{fold}"
    tables = ["--folds", "results/folds.csv", "--cohort", "results/cohort.csv"]
    common = ["--config", str(cfg), "--fold", str(fold), *tables]
    spectstage(workdir, "augment", *common, "--out-dir", str(shard_dir))
    cpu = spectstage(
        workdir,
        "train",
        *common,
        "--shard",
        str(shard_dir / "train_shard.pt"),
        "--out-dir",
        str(model_dir),
        "--checkpoint-dir",
        str(run / "checkpoints" / f"fold_{fold}"),
        "--threads",
        "1",
    )
    (model_dir / "train_cpu_seconds.txt").write_text(f"{cpu:.1f}\n")
    return model_dir / "test_predictions.csv"


def spectstage(workdir: Path, *args: str) -> float:
    """Run one command; returns its CPU seconds (the machine is shared: wall time says
    little)."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            ["spectstage", *args], cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            log.seek(0)
            raise SystemExit(f"spectstage {args[0]} failed:\n{log.read().decode()[-3000:]}")
    return usage.ru_utime + usage.ru_stime


def one_run(workdir: Path, base: dict, variant: str, seed: int, jobs: int) -> dict:
    """Every fold of one (variant, seed), then evaluate: the run's metrics.json."""
    run = workdir / "seeds" / f"{variant}_seed{seed}"
    seeds = {"augment": {"seed": seed}, "train": {"seed": seed}}
    settings = yaml.safe_dump(merged(merged(base, VARIANTS[variant]), seeds))
    cfg = run / "config.yaml"
    if (run / "metrics.json").is_file():  # a finished run is reused, if of this config
        if cfg.read_text() != settings:
            raise SystemExit(f"{run}: made with another config; delete it to run again")
        return json.loads((run / "metrics.json").read_text())
    run.mkdir(parents=True, exist_ok=True)
    cfg.write_text(settings)
    k = pd.read_csv(workdir / "results" / "folds.csv")["fold"].nunique()
    with ThreadPoolExecutor(jobs) as pool:
        predictions = list(pool.map(lambda f: run_fold(workdir, run, cfg, f), range(k)))
    validation = [p.with_name("val_predictions.csv") for p in predictions]
    tables = ["--folds", "results/folds.csv", "--cohort", "results/cohort.csv"]
    spectstage(
        workdir,
        "evaluate",
        "--config",
        str(cfg),
        "--predictions",
        *map(str, predictions),
        "--validation",
        *map(str, validation),
        *tables,
        "--out-dir",
        str(run),
    )
    return json.loads((run / "metrics.json").read_text())


def train_cpu_minutes(workdir: Path, variant: str, seed: int) -> float:
    run = workdir / "seeds" / f"{variant}_seed{seed}"
    seconds = [float(f.read_text()) for f in run.glob("models/fold_*/train_cpu_seconds.txt")]
    return sum(seconds) / 60


def headline(metrics: dict, model: str) -> dict:
    pooled = metrics[model]["pooled"]
    return {
        "balanced_accuracy": pooled["balanced_accuracy"],
        "qwk": pooled["quadratic_weighted_kappa"],
        "stage4_recall": pooled["recall"].get("4"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--jobs", type=int, default=2, help="folds trained at once")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/seeds.json"))
    args = ap.parse_args()
    base = yaml.safe_load(args.config.read_text()) or {}
    rows, baselines = [], {}
    for seed in args.seeds:  # seed by seed: an interrupted benchmark has paired runs
        for variant in args.variants:
            metrics = one_run(args.workdir.resolve(), base, variant, seed, args.jobs)
            paired = metrics["comparison"]["cnn_minus_sbr_baseline"]["balanced_accuracy"]
            rows.append(
                {
                    "variant": variant,
                    "seed": seed,
                    **headline(metrics, "cnn"),
                    "ba_minus_sbr_baseline": paired["difference"],
                    "train_cpu_min": train_cpu_minutes(args.workdir.resolve(), variant, seed),
                }
            )
            for name in ("sbr_baseline", "oracle"):
                if name in metrics:
                    baselines[name] = headline(metrics, name)
    runs = pd.DataFrame(rows)
    summary = runs.drop(columns="seed").groupby("variant").agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    print(runs.round(3).to_string(index=False))
    print("baselines on the same folds:", json.dumps(baselines, default=float))
    report(
        f"CNN variants over seeds {args.seeds} (out of fold, same folds)",
        summary,
        args.out,
        shown=3,
        extra={"runs": rows, "baselines": baselines, "workdir": str(args.workdir)},
    )


if __name__ == "__main__":
    main()
