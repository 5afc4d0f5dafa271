"""Pool the folds' test predictions into out-of-fold results and metrics.

Refuses to aggregate when a scan is predicted in two folds or not at all. Beside the CNN
it reports an SBR baseline (logistic regression on the measured regional SBRs, same
folds) and, on the demo, an oracle on the generator's true regional values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from spectstage.atomic import atomic_path, write_text
from spectstage.cohort import read_table
from spectstage.config import stage_labels
from spectstage.errors import InputError
from spectstage.folds import read_folds


def classification_metrics(y: list[str], proba: np.ndarray, labels: list[str]) -> dict:
    from sklearn.metrics import (
        balanced_accuracy_score,
        cohen_kappa_score,
        confusion_matrix,
        f1_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y)
    pred = np.asarray(labels)[proba.argmax(1)]
    recall = recall_score(y, pred, labels=labels, average=None, zero_division=0)
    auc = {}
    for i, label in enumerate(labels):
        positives = y == label
        auc[label] = (
            float(roc_auc_score(positives, proba[:, i])) if 0 < positives.sum() < len(y) else None
        )
    ordinal = {label: i for i, label in enumerate(labels)}
    return {
        "n_scans": len(y),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "quadratic_weighted_kappa": float(
            cohen_kappa_score(
                [ordinal[v] for v in y], [ordinal[v] for v in pred], weights="quadratic"
            )
        ),
        "recall": {label: float(r) for label, r in zip(labels, recall, strict=True)},
        "auc_one_vs_rest": auc,
        "confusion_matrix": {
            "labels": labels,
            "rows_true_cols_predicted": confusion_matrix(y, pred, labels=labels).tolist(),
        },
    }


def pooled_and_per_fold(oof: pd.DataFrame, labels: list[str]) -> dict:
    cols = [f"p_{label}" for label in labels]
    return {
        "pooled": classification_metrics(oof["stage"], oof[cols].to_numpy(), labels),
        "per_fold": {
            str(fold): classification_metrics(part["stage"], part[cols].to_numpy(), labels)
            for fold, part in oof.groupby("fold")
        },
    }


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


def logistic_baseline(
    features: pd.DataFrame, folds: pd.DataFrame, labels: list[str], seed: int
) -> pd.DataFrame:
    """Out-of-fold probabilities of a logistic regression on per-scan features, same folds:
    fitted on each fold's training + validation patients, applied to its test patients."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = []
    for _, part in folds.groupby("fold"):
        fit = part[part["split"] != "test"]
        test = part[part["split"] == "test"]
        model = make_pipeline(
            StandardScaler(),
            LogisticRegression(max_iter=5000, class_weight="balanced", random_state=seed),
        )
        model.fit(features.loc[fit["scan_id"]].to_numpy(), fit["stage"])
        proba = np.zeros((len(test), len(labels)))
        proba[:, [labels.index(c) for c in model.classes_]] = model.predict_proba(
            features.loc[test["scan_id"]].to_numpy()
        )
        out = test[["fold", "patient_id", "scan_id", "stage"]].reset_index(drop=True)
        for i, label in enumerate(labels):
            out[f"p_{label}"] = proba[:, i]
        rows.append(out)
    return pd.concat(rows, ignore_index=True)


def _sbr_features(table: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in table.columns if c.startswith("sbr_")]
    return table.set_index("scan_id")[cols]


def _finite(obj):
    """JSON has no NaN: turn it into null."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def plot_confusion(metrics: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(metrics["confusion_matrix"]["rows_true_cols_predicted"])
    labels = metrics["confusion_matrix"]["labels"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black"
        )
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted stage",
        ylabel="true stage",
        title=f"Out-of-fold CNN (BA {metrics['balanced_accuracy']:.2f})",
    )
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def evaluate(
    prediction_files: list[Path], folds_csv: Path, cohort_csv: Path, out_dir: Path, cfg: dict
) -> dict:
    labels = stage_labels(cfg)
    cohort = read_table(cohort_csv)
    folds = read_folds(folds_csv)
    oof = (
        gather_oof(prediction_files, cohort, folds, labels)
        .sort_values("scan_id")
        .reset_index(drop=True)
    )
    oof.insert(
        4,
        "predicted_stage",
        np.asarray(labels)[oof[[f"p_{label}" for label in labels]].to_numpy().argmax(1)],
    )
    metrics = {"cnn": {"model": cfg["train"]["model"], **pooled_and_per_fold(oof, labels)}}
    sbr = logistic_baseline(_sbr_features(cohort), folds, labels, cfg["folds"]["seed"])
    metrics["sbr_baseline"] = pooled_and_per_fold(sbr, labels)
    truth_table = cfg["evaluate"]["truth_table"]
    if truth_table:
        truth = read_table(truth_table)
        unknown = sorted(set(cohort["scan_id"]) - set(truth["scan_id"]))
        if unknown:
            raise InputError(
                f"evaluate.truth_table {truth_table} lacks scans {unknown[:5]}...; "
                'it is for the demo cohort only: set it to "" for your own data'
            )
        oracle = logistic_baseline(_sbr_features(truth), folds, labels, cfg["folds"]["seed"])
        metrics["oracle"] = pooled_and_per_fold(oracle, labels)
    metrics = _finite(metrics)
    columns = [
        "patient_id",
        "scan_id",
        "stage",
        "fold",
        "predicted_stage",
        *[f"p_{label}" for label in labels],
    ]
    with atomic_path(out_dir / "oof_predictions.csv") as tmp:
        oof[columns].to_csv(tmp, index=False, float_format="%.8f")
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    plot_confusion(metrics["cnn"]["pooled"], out_dir / "plots" / "confusion_matrix.png")
    return metrics
