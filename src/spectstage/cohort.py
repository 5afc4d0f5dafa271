"""results/cohort.csv: one row per ingested scan, from the sidecars ingest wrote."""

from __future__ import annotations

import json
import math
from pathlib import Path

from spectstage.atomic import atomic_path
from spectstage.errors import InputError
from spectstage.inputs import discover, discover_all, file_stem

ID_COLUMNS = {"stage": str, "patient_id": str, "scan_id": str}


def read_table(path: Path):
    """Read a results table (cohort, folds, predictions) with its IDs and stages as text."""
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=ID_COLUMNS)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{path}: cannot read the table ({err})") from err


def read_sidecar(path: Path) -> dict:
    """An ingest sidecar, with the SBR of a region the scan does not reach as NaN (the
    file holds null: JSON has no NaN)."""
    try:
        sidecar = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(
            f"{path}: missing or unreadable sidecar; run ingest first ({err})"
        ) from err
    regions = sidecar.get("regions", {})
    sidecar["regions"] = {k: math.nan if v is None else v for k, v in regions.items()}
    return sidecar


def cohort_rows(cfg: dict, volumes_dir: Path) -> list[dict]:
    from spectstage import template
    from spectstage.sbr import region_voxels, striatal_summary

    voxels = region_voxels(template.load())
    rows = []
    for item in discover(cfg):
        sidecar = read_sidecar(volumes_dir / f"{file_stem(item.scan_id)}.json")
        regions = sidecar["regions"]
        rows.append(
            {
                "patient_id": sidecar["patient_id"],
                "scan_id": sidecar["scan_id"],
                "stage": sidecar["stage"],
                "format": sidecar["format"],
                "volume": str(volumes_dir / f"{file_stem(item.scan_id)}.nii.gz"),
                "reference_region": sidecar["reference"]["region"],
                **sidecar["qc"],
                **regions,
                **striatal_summary(regions, voxels),
            }
        )
    return rows


def write_cohort(cfg: dict, volumes_dir: Path, out: Path, excluded_out: Path) -> int:
    """results/cohort.csv, and results/excluded.csv: the scans `exclude` left out, with
    their reasons (pseudonymised IDs when pseudonymisation is on)."""
    import pandas as pd

    rows = cohort_rows(cfg, volumes_dir)
    with atomic_path(out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    excluded = [
        {"patient_id": s.patient_id, "scan_id": s.scan_id, "stage": s.stage, "reason": reason}
        for s, reason in discover_all(cfg)[1]
    ]
    with atomic_path(excluded_out) as tmp:
        table = pd.DataFrame(excluded, columns=["patient_id", "scan_id", "stage", "reason"])
        table.to_csv(tmp, index=False)
    return len(rows)
