"""No-op rerun: how long the workflow takes when everything is up to date (goal <= 5 s).

Usage (after `make demo`, from the repository): python benchmarks/noop_rerun.py [--runs 5]
Runs `snakemake --cores all --configfile config/demo.yaml` as `make demo` does, --runs times,
and reports the median, minimum and maximum wall time, and whether Snakemake found nothing to
do (if it found work, the first run did it and the figure is not a no-op: rerun). The
reference measured in the same run is `snakemake --version` (interpreter and import cost).
Writes benchmarks/results/noop_rerun.json. Never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from report import report

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], runs: int, cwd: Path) -> tuple[list[float], str]:
    seconds, output = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{output[-3000:]}")
    return seconds, output


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--configfile", default="config/demo.yaml")
    ap.add_argument("--workdir", type=Path, default=REPO, help="where the finished run is")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "noop_rerun.json"
    )
    args = ap.parse_args()
    snakemake = str(Path(sys.executable).parent / "snakemake")
    rows = {}
    for name, cmd in (
        ("snakemake --version (reference)", [snakemake, "--version"]),
        (
            "no-op rerun",
            [
                snakemake,
                "-s",
                str(REPO / "Snakefile"),
                "--cores",
                "all",
                "--configfile",
                args.configfile,
            ],
        ),
    ):
        seconds, output = timed(cmd, args.runs, args.workdir)
        rows[name] = {
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "max_s": max(seconds),
            "nothing_to_do": "Nothing to be done" in output or "nothing to be done" in output,
        }
    table = pd.DataFrame(rows).T
    table["median_s"] = table["median_s"].astype(float)
    ratio = table["median_s"].iloc[1] / table["median_s"].iloc[0]
    report(
        f"Workflow with everything up to date, {args.runs} runs; no-op / reference {ratio:.1f}",
        table,
        args.out,
        extra={"noop_over_reference": ratio},
    )


if __name__ == "__main__":
    main()
