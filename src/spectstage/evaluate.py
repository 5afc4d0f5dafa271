"""Pool the folds' test predictions into out-of-fold results, metrics with intervals, plots.

Refuses to aggregate when a scan is predicted in two folds or not at all. Beside the CNN it
reports an SBR baseline (logistic regression on the measured regional SBRs, same folds), on
the demo an oracle on the generator's true regional values, and the paired bootstrap
difference CNN minus SBR baseline. Intervals: `spectstage.bootstrap`; calibration:
`spectstage.calibration`; figures: `spectstage.plots`; report pages: `spectstage.report`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spectstage import bootstrap
from spectstage.atomic import atomic_path, finite, write_json
from spectstage.baseline import feature_table, logistic_baseline
from spectstage.cohort import read_table
from spectstage.config import stage_labels
from spectstage.errors import InputError
from spectstage.folds import read_folds
from spectstage.metrics import scores


def classification_metrics(y: list[str], proba: np.ndarray, labels: list[str]) -> dict:
    """Point values: headline metrics, per-stage recall, precision, AUC, confusion matrix."""
    index = {label: i for i, label in enumerate(labels)}
    values = scores(np.array([index[v] for v in y], dtype=int), np.asarray(proba, dtype=float))

    def per_stage(key: str) -> dict:
        return {label: float(v) for label, v in zip(labels, values[key], strict=True)}

    return {
        "n_scans": len(y),
        "balanced_accuracy": values["balanced_accuracy"],
        "macro_f1": values["macro_f1"],
        "quadratic_weighted_kappa": values["quadratic_weighted_kappa"],
        "recall": per_stage("recall"),
        "precision": per_stage("precision"),
        "auc_one_vs_rest": per_stage("auc_one_vs_rest"),
        "confusion_matrix": {
            "labels": labels,
            "rows_true_cols_predicted": values["confusion"].tolist(),
        },
    }


def arrays(frame: pd.DataFrame, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {label: i for i, label in enumerate(labels)}
    y = frame["stage"].map(index).to_numpy(dtype=int)
    return y, frame[[f"p_{label}" for label in labels]].to_numpy(dtype=float)


def section(frame: pd.DataFrame, labels: list[str], boot: dict) -> dict:
    """Metrics of one set of predictions with their 95 % patient-bootstrap intervals."""
    frame = frame.reset_index(drop=True)
    y, proba = arrays(frame, labels)
    out = classification_metrics(frame["stage"].tolist(), proba, labels)
    out["n_patients"] = int(frame["patient_id"].nunique())
    draws = bootstrap.resamples(frame, boot["n"], boot["seed"])
    out["ci95"] = bootstrap.intervals(y, proba, labels, draws) if draws else {}
    return out


def patient_level(frame: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """One row per patient and stage: the mean probabilities of that patient's scans there."""
    cols = [f"p_{label}" for label in labels]
    return frame.groupby(["patient_id", "stage"], as_index=False)[cols].mean()


def breakdown(frame: pd.DataFrame, labels: list[str], boot: dict, formats: pd.Series) -> dict:
    """Pooled, per fold, per source format and (several scans per patient) per patient."""
    out = {
        "pooled": section(frame, labels, boot),
        "per_fold": {str(f): section(p, labels, boot) for f, p in frame.groupby("fold")},
        "per_format": {
            str(f): section(p, labels, boot)
            for f, p in frame.groupby(frame["scan_id"].map(formats))
        },
    }
    if frame["patient_id"].duplicated().any():
        out["patient_level"] = section(patient_level(frame, labels), labels, boot)
    return out


def gather_oof(
    prediction_files: list[Path], cohort: pd.DataFrame, folds: pd.DataFrame, labels: list[str]
) -> pd.DataFrame:
    """The folds' test predictions, refused unless every scan is predicted exactly once, by
    the fold that tests it in folds.csv (a stale prediction file could have trained on it)."""
    tables = []
    for path in prediction_files:
        table = read_table(path)
        absent = sorted({"fold", "scan_id", *(f"p_{label}" for label in labels)} - set(table))
        if absent:
            raise InputError(f"{path}: missing column(s) {absent}")
        tables.append(table)
    oof = pd.concat(tables, ignore_index=True)
    twice = oof.loc[oof["scan_id"].duplicated(), "scan_id"].tolist()
    if twice:
        raise InputError(f"scans predicted in more than one fold: {sorted(set(twice))}")
    missing = sorted(set(cohort["scan_id"]) - set(oof["scan_id"]))
    if missing:
        raise InputError(f"scans predicted in no fold: {missing}")
    extra = sorted(set(oof["scan_id"]) - set(cohort["scan_id"]))
    if extra:
        raise InputError(f"predictions for scans not in the cohort: {extra}")
    tested_in = folds[folds["split"] == "test"].set_index("scan_id")["fold"]
    wrong = sorted(
        oof.loc[oof["fold"].to_numpy() != tested_in.reindex(oof["scan_id"]).to_numpy(), "scan_id"]
    )
    if wrong:
        raise InputError(
            f"scans predicted by a fold that does not test them in folds.csv: {wrong[:10]}; "
            "the predictions are stale, train those folds again"
        )
    return oof


def baselines(cohort: pd.DataFrame, folds: pd.DataFrame, cfg: dict, source: Path) -> dict:
    """Out-of-fold predictions of the SBR baseline and (demo) the oracle, on the same folds."""
    from spectstage import template
    from spectstage.sbr import region_voxels

    labels, seed = stage_labels(cfg), cfg["folds"]["seed"]
    names = cfg["evaluate"]["sbr_features"]
    voxels = region_voxels(template.load())
    out = {
        "sbr_baseline": logistic_baseline(
            feature_table(cohort, names, source, voxels), folds, labels, seed
        )
    }
    truth_table = cfg["evaluate"]["truth_table"]
    if truth_table:
        truth = read_table(truth_table)
        unknown = sorted(set(cohort["scan_id"]) - set(truth["scan_id"]))
        if unknown:
            raise InputError(
                f"evaluate.truth_table {truth_table} lacks scans {unknown[:5]}...; "
                'it is for the demo cohort only: set it to "" for your own data'
            )
        truth = truth[truth["scan_id"].isin(cohort["scan_id"])]
        features = feature_table(truth, names, truth_table, voxels)
        out["oracle"] = logistic_baseline(features, folds, labels, seed)
    return {k: v.sort_values("scan_id").reset_index(drop=True) for k, v in out.items()}


def compare(cnn: pd.DataFrame, baseline: pd.DataFrame, labels: list[str], boot: dict) -> dict:
    """CNN minus SBR baseline on the same scans and the same patient resamples."""
    if cnn["scan_id"].tolist() != baseline["scan_id"].tolist():
        raise InputError("the CNN and the SBR baseline predicted different scans")
    y, p_cnn = arrays(cnn, labels)
    _, p_sbr = arrays(baseline, labels)
    draws = bootstrap.resamples(cnn, boot["n"], boot["seed"])
    return bootstrap.paired_difference(y, p_cnn, p_sbr, labels, draws)


def calibrated(oof: pd.DataFrame, validation_files: list[Path], labels: list[str]) -> dict:
    """Adds `calibrated_p_<label>` to `oof` (temperature per fold from its validation patients)."""
    from spectstage.calibration import (
        calibrate_folds,
        expected_calibration_error,
        reliability,
    )

    validation = pd.concat([read_table(p) for p in validation_files], ignore_index=True)
    absent = sorted({"fold", "stage", *(f"p_{label}" for label in labels)} - set(validation))
    if absent:
        raise InputError(f"validation predictions: missing column(s) {absent}")
    proba, per_fold = calibrate_folds(oof, validation, labels)
    for i, label in enumerate(labels):
        oof[f"calibrated_p_{label}"] = proba[:, i]
    y, raw = arrays(oof, labels)
    return {
        "method": "temperature scaling per fold, fitted on its inner-validation patients",
        "ece_raw": expected_calibration_error(y, raw),
        "ece_calibrated": expected_calibration_error(y, proba),
        "reliability_raw": reliability(y, raw),
        "reliability_calibrated": reliability(y, proba),
        "per_fold": per_fold,
    }


def evaluate(
    prediction_files: list[Path],
    folds_csv: Path,
    cohort_csv: Path,
    out_dir: Path,
    cfg: dict,
    validation_files: list[Path] | None = None,
) -> tuple[dict, dict[str, pd.DataFrame]]:
    """metrics.json and oof_predictions.csv; returns the metrics and every model's predictions."""
    labels = stage_labels(cfg)
    cohort = read_table(cohort_csv)
    folds = read_folds(folds_csv)
    oof = gather_oof(prediction_files, cohort, folds, labels)
    oof = oof.sort_values("scan_id").reset_index(drop=True)
    probability = [f"p_{label}" for label in labels]
    oof.insert(4, "predicted_stage", np.asarray(labels)[oof[probability].to_numpy().argmax(1)])
    boot = {"n": cfg["evaluate"]["bootstrap"], "seed": cfg["evaluate"]["seed"]}
    formats = cohort.set_index("scan_id")["format"]
    predictions = {"cnn": oof, **baselines(cohort, folds, cfg, cohort_csv)}
    metrics = {name: breakdown(table, labels, boot, formats) for name, table in predictions.items()}
    metrics["cnn"]["model"] = cfg["train"]["model"]
    metrics["sbr_baseline"]["features"] = list(cfg["evaluate"]["sbr_features"])
    if validation_files:
        metrics["cnn"]["calibration"] = calibrated(oof, validation_files, labels)
    metrics["comparison"] = {
        "cnn_minus_sbr_baseline": compare(oof, predictions["sbr_baseline"], labels, boot),
        "bootstrap": {**boot, "level": bootstrap.LEVEL, "unit": "patient, stratified by stage"},
    }
    metrics = finite(metrics)  # the returned metrics as written: null, not NaN
    columns = ["patient_id", "scan_id", "stage", "fold", "predicted_stage", *probability]
    columns += [c for c in oof.columns if c.startswith("calibrated_p_")]
    with atomic_path(out_dir / "oof_predictions.csv") as tmp:
        oof[columns].to_csv(tmp, index=False, float_format="%.8f")
    with atomic_path(out_dir / "sbr_baseline_predictions.csv") as tmp:
        predictions["sbr_baseline"].to_csv(tmp, index=False, float_format="%.8f")
    write_json(out_dir / "metrics.json", metrics, indent=1, sort_keys=True)
    return metrics, predictions
