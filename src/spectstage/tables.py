"""The evaluation's tables (results/tables/*.csv, for papers): one row per number.

No table here carries a patient or scan ID, so every one may go into the report.
"""

from __future__ import annotations

import pandas as pd

from spectstage.metrics import HEADLINE

MODELS = {"cnn": "CNN", "sbr_baseline": "SBR baseline", "oracle": "oracle (true SBRs)"}


def _subsets(result: dict):
    yield "pooled", result["pooled"]
    for fold, part in result.get("per_fold", {}).items():
        yield f"fold {fold}", part
    for fmt, part in result.get("per_format", {}).items():
        yield f"format {fmt}", part
    if "patient_level" in result:
        yield "patient level", result["patient_level"]


def _values(part: dict) -> dict[str, float | None]:
    out = {name: part[name] for name in HEADLINE}
    for key, prefix in (
        ("recall", "recall"),
        ("precision", "precision"),
        ("auc_one_vs_rest", "auc"),
    ):
        out |= {f"{prefix}_{label}": v for label, v in part[key].items()}
    return out


def metrics_table(metrics: dict) -> pd.DataFrame:
    """model, subset, metric, value, ci_low, ci_high, n_scans, n_patients."""
    rows = []
    for model, name in MODELS.items():
        if model not in metrics:
            continue
        for subset, part in _subsets(metrics[model]):
            for metric, value in _values(part).items():
                ci = part.get("ci95", {}).get(metric) or [None, None]
                rows.append(
                    {
                        "model": name,
                        "subset": subset,
                        "metric": metric,
                        "value": value,
                        "ci_low": ci[0],
                        "ci_high": ci[1],
                        "n_scans": part["n_scans"],
                        "n_patients": part["n_patients"],
                    }
                )
    return pd.DataFrame(rows)


def comparison_table(metrics: dict) -> pd.DataFrame:
    diff = metrics["comparison"]["cnn_minus_sbr_baseline"]
    return pd.DataFrame(
        [
            {
                "metric": metric,
                "cnn": metrics["cnn"]["pooled"][metric],
                "sbr_baseline": metrics["sbr_baseline"]["pooled"][metric],
                "difference": d["difference"],
                "ci_low": (d["ci95"] or [None, None])[0],
                "ci_high": (d["ci95"] or [None, None])[1],
                "share_of_resamples_cnn_better": d["share_of_resamples_a_better"],
            }
            for metric, d in diff.items()
        ]
    )


def calibration_table(metrics: dict) -> pd.DataFrame:
    calibration = metrics["cnn"].get("calibration")
    if not calibration:
        return pd.DataFrame(columns=["fold", "temperature", "test_ece_raw", "test_ece_calibrated"])
    pooled = {
        "fold": "pooled",
        "n_validation_scans": sum(f["n_validation_scans"] for f in calibration["per_fold"]),
        "test_ece_raw": calibration["ece_raw"],
        "test_ece_calibrated": calibration["ece_calibrated"],
    }
    return pd.DataFrame([*calibration["per_fold"], pooled])


def cohort_table(cohort: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Per stage: patients, scans per source format, and scans carrying each QC flag."""
    flags = [c for c in cohort.columns if c.startswith("flag_")]
    rows = []
    for stage in labels:
        part = cohort[cohort["stage"] == stage]
        row = {"stage": stage, "patients": part["patient_id"].nunique(), "scans": len(part)}
        row |= {
            f"scans_{fmt}": int((part["format"] == fmt).sum())
            for fmt in sorted(cohort["format"].unique())
        }
        row |= {f: int(part[f].astype(bool).sum()) for f in flags}
        rows.append(row)
    total = {"stage": "all", **{k: sum(r[k] for r in rows) for k in rows[0] if k != "stage"}}
    total["patients"] = cohort["patient_id"].nunique()
    return pd.DataFrame([*rows, total])


def folds_table(folds: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """Per fold and split: patients, scans, and scans per stage."""
    rows = []
    for (fold, split), part in folds.groupby(["fold", "split"]):
        row = {
            "fold": fold,
            "split": split,
            "patients": part["patient_id"].nunique(),
            "scans": len(part),
        }
        row |= {f"stage_{s}": int((part["stage"] == s).sum()) for s in labels}
        rows.append(row)
    order = {"train": 0, "val": 1, "test": 2}
    return pd.DataFrame(rows).sort_values(
        ["fold", "split"], key=lambda c: c.map(order) if c.name == "split" else c
    )
