"""How many jobs a large cohort submits, and how long Snakemake takes to plan it.

Usage: python benchmarks/dag_scale.py [--patients 1000 10000] [--runs 3]
For each size, makes a manifest of N patients (each a symlink to one NIfTI volume, so
nothing big is written), dry-runs the workflow with the SLURM profile (`snakemake -n`), and
counts jobs per rule. The smallest size is the reference measured in the same run: the
ratio of times against the ratio of sizes says whether planning grows linearly (goal: 10,000
patients <= 10 s). The volume is one from data/demo when present, else a placeholder (a
dry run reads no pixels). Median of --runs. Writes benchmarks/results/dag_scale.json.
Never asserts.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pandas as pd
from report import report

REPO = Path(__file__).resolve().parents[1]


def source_volume(source: Path, tmp: Path) -> Path:
    found = next(source.glob("stage_*/*/*.nii.gz"), None)
    if found is not None:
        return found.resolve()
    import nibabel as nib
    import numpy as np

    path = tmp / "placeholder.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), path)
    return path


def dry_run(patients: int, volume: Path, runs: int) -> dict:
    """(median seconds, jobs, jobs per rule) of `snakemake -n` on a manifest of `patients`."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = ["patient_id,stage,path"]
        for i in range(patients):
            folder = root / "scans" / f"P{i:05d}"
            folder.mkdir(parents=True)
            (folder / "scan.nii.gz").symlink_to(volume)
            rows.append(f"P{i:05d},{1 + i % 4},scans/P{i:05d}")
        (root / "manifest.csv").write_text("\n".join(rows) + "\n")
        cmd = [
            str(Path(sys.executable).parent / "snakemake"),
            *("-s", str(REPO / "Snakefile"), "-n"),
            *("--profile", str(REPO / "profiles" / "slurm")),
            *("--config", f"manifest={root / 'manifest.csv'}", "evaluate={truth_table: ''}"),
        ]
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
            seconds.append(time.perf_counter() - start)
            if proc.returncode != 0:
                sys.exit(proc.stderr[-3000:])
    table = re.search(
        r"job\s+count\n-+\s+-+\n(.*?)\n\s*total\s+(\d+)", proc.stdout + proc.stderr, re.S
    )
    counts: Counter = Counter()
    for line in table.group(1).splitlines():
        rule, n = line.split()
        counts[re.sub(r"_\d+$", "_*", rule)] += int(n)
    return {
        "patients": patients,
        "dry_run_seconds": statistics.median(seconds),
        "dry_run_seconds_min_max": [round(min(seconds), 2), round(max(seconds), 2)],
        "jobs": int(table.group(2)),
        "jobs_per_rule": dict(sorted(counts.items())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, nargs="+", default=[1_000, 10_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--source", type=Path, default=REPO / "data" / "demo")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "dag_scale.json"
    )
    args = ap.parse_args()
    sizes = sorted(args.patients)
    with tempfile.TemporaryDirectory() as tmp:
        volume = source_volume(args.source, Path(tmp))
        results = [dry_run(n, volume, args.runs) for n in sizes]
    base = results[0]
    for r in results:
        r["size_ratio"] = r["patients"] / base["patients"]
        r["time_ratio"] = r["dry_run_seconds"] / base["dry_run_seconds"]
    table = pd.DataFrame(results).set_index("patients").drop(columns="jobs_per_rule")
    report(
        f"snakemake -n, SLURM profile, median of {args.runs} (reference: {sizes[0]} patients)",
        table,
        args.out,
        extra={"jobs_per_rule": {str(r["patients"]): r["jobs_per_rule"] for r in results}},
    )


if __name__ == "__main__":
    main()
