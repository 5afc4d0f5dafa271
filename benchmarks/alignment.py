"""Residual misalignment of ingest against the demo generator's true pose, per input layout.

Usage (after `make demo`):
    python benchmarks/alignment.py [--raw data/demo] [--volumes results/volumes]
Prints a table and writes benchmarks/results/alignment.json. Never asserts: tests do that.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from report import report

from spectstage import template
from spectstage.geometry import Pose, apply


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=Path("data/demo"))
    ap.add_argument("--volumes", type=Path, default=Path("results/volumes"))
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "alignment.json"
    )
    args = ap.parse_args()

    tmpl = template.load()
    brain = apply(tmpl.affine, np.argwhere(tmpl.atlas > 0).astype(float))
    truth = pd.read_csv(args.raw / "truth.csv")
    rows = []
    for t in truth.itertuples():
        sidecar = json.loads((args.volumes / f"{t.scan_id}.json").read_text())
        est = sidecar["registration"]["template_to_scan"]
        estimated = Pose(tuple(est["rotation_deg"]), tuple(est["translation_mm"]), est["scale"])
        true = Pose(
            (t.rotation_x_deg, t.rotation_y_deg, t.rotation_z_deg),
            (t.translation_x_mm, t.translation_y_mm, t.translation_z_mm),
            t.scale,
        )
        shift = apply(estimated.matrix(), brain) - apply(true.matrix(), brain)
        rows.append(
            {
                "layout": t.layout,
                "misalignment_voxels": float(
                    np.linalg.norm(shift, axis=1).mean() / template.VOXEL_MM
                ),
                "correlation": sidecar["qc"]["registration_correlation"],
            }
        )
    table = pd.DataFrame(rows)
    summary = table.groupby("layout").agg(
        scans=("misalignment_voxels", "size"),
        mean_voxels=("misalignment_voxels", "mean"),
        p95_voxels=("misalignment_voxels", lambda s: s.quantile(0.95)),
        max_voxels=("misalignment_voxels", "max"),
        mean_correlation=("correlation", "mean"),
    )
    summary.loc["all"] = [
        len(table),
        table.misalignment_voxels.mean(),
        table.misalignment_voxels.quantile(0.95),
        table.misalignment_voxels.max(),
        table.correlation.mean(),
    ]
    report(
        f"Residual misalignment, canonical voxels of {template.VOXEL_MM} mm (goal: mean <= 1)",
        summary,
        args.out,
        shown=3,
        stored=4,
    )


if __name__ == "__main__":
    main()
