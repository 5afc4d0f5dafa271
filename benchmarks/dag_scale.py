"""How many jobs a large cohort submits, and how long Snakemake takes to plan it.

Usage: python benchmarks/dag_scale.py [--patients 10000]
Makes a manifest of N patients (each a symlink to one demo NIfTI volume, so nothing big is
written), dry-runs the workflow with the SLURM profile, counts jobs per rule, and writes
benchmarks/results/dag_scale.json. Needs `make demo` data (data/demo). Never asserts.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--source", type=Path, default=REPO / "data" / "demo")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "dag_scale.json"
    )
    args = ap.parse_args()

    volume = next(args.source.glob("stage_*/*/*.nii.gz")).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = ["patient_id,stage,path"]
        for i in range(args.patients):
            stage = 1 + i % 4
            folder = root / "scans" / f"P{i:05d}"
            folder.mkdir(parents=True)
            (folder / "scan.nii.gz").symlink_to(volume)
            rows.append(f"P{i:05d},{stage},scans/P{i:05d}")
        (root / "manifest.csv").write_text("\n".join(rows) + "\n")
        snakemake = Path(sys.executable).parent / "snakemake"
        cmd = [
            str(snakemake),
            "-s",
            str(REPO / "Snakefile"),
            "-n",
            "--profile",
            str(REPO / "profiles" / "slurm"),
            "--config",
            f"manifest={root / 'manifest.csv'}",
            "evaluate={truth_table: ''}",
        ]
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    table = re.search(
        r"job\s+count\n-+\s+-+\n(.*?)\n\s*total\s+(\d+)", proc.stdout + proc.stderr, re.S
    )
    counts = Counter()
    for line in table.group(1).splitlines():
        rule, n = line.split()
        counts[re.sub(r"_\d+$", "_*", rule)] += int(n)
    result = {
        "patients": args.patients,
        "dry_run_seconds": round(seconds, 1),
        "jobs": int(table.group(2)),
        "jobs_per_rule": dict(sorted(counts.items())),
    }
    print(json.dumps(result, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
