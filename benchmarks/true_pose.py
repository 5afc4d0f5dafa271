"""Measurements with the template placed by the demo generator's true pose instead of the
registration's (benchmarks/format_invariance.py): what a format and its reference give
without registration error."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectstage.atlas import STRIATAL_REGIONS
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions
from spectstage.preprocess import resample
from spectstage.sbr import reference, regional_sbr
from spectstage.template import Template


def true_pose(item, centre_y: float) -> np.ndarray:
    """The generator's pose in the frame the layout's reader gives: a stack's reader centres
    it on the origin, so a stack's centre (`centre_y`; NaN for volumes) comes off the
    translation."""
    pose = item.patient.pose.matrix().copy()
    if np.isfinite(centre_y):
        pose[1, 3] -= centre_y
    return pose


def at_true_pose(
    folder: Path, conv: SliceConventions | None, pose: np.ndarray, tmpl: Template, cfg: dict
) -> dict:
    """The scan's reference mean (scan units, like the sidecar's mean_counts) and regional
    SBRs with the template at `pose`; `conv` for a slice stack, None for a volume."""
    scan = load_scan(folder, conv or SliceConventions(), "slices" if conv else None)
    volume, covered = resample(scan, pose, tmpl)
    s = cfg["ingest"]
    ref = reference(
        volume,
        covered,
        tmpl,
        s["reference_region"],
        s["reference_fallback"],
        s["reference_min_coverage"],
    )
    sbr = regional_sbr(volume / ref.mean, tmpl, covered)
    return {"ref_mean": ref.mean, **{r: sbr[f"sbr_{r}"] for r in STRIATAL_REGIONS}}


def striatal_mean(sbr: dict, ref_mean: float, voxels: dict) -> float:
    """Voxel-weighted striatal mean in scan units from regional SBRs and the reference."""
    n = np.array([voxels[r] for r in STRIATAL_REGIONS], dtype=float)
    return float(n @ (np.array([sbr[r] for r in STRIATAL_REGIONS]) + 1) * ref_mean / n.sum())
