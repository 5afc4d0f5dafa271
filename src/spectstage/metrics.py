"""Classification metrics from one confusion matrix and per-class score ranks.

Computed with numpy so that thousands of bootstrap resamples stay cheap; tests compare every
number with scikit-learn's. Undefined values are NaN (JSON null): recall of a stage absent
from the truth, precision of a stage never predicted, AUC without both positives and negatives.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

#: Scalar metrics, in the order tables show them.
HEADLINE = ("balanced_accuracy", "macro_f1", "quadratic_weighted_kappa")


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Counts, rows true stage, columns predicted (both as class indices 0..k-1)."""
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def quadratic_kappa(cm: np.ndarray) -> float:
    k = len(cm)
    n = cm.sum()
    weights = (np.subtract.outer(np.arange(k), np.arange(k)) ** 2) / max((k - 1) ** 2, 1)
    expected = np.outer(cm.sum(1), cm.sum(0)) / n
    den = (weights * expected).sum()
    return float(1 - (weights * cm).sum() / den) if den > 0 else float("nan")


def one_vs_rest_auc(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per class (ties count one half), NaN without both classes."""
    k = proba.shape[1]
    positive = y[:, None] == np.arange(k)
    n_pos = positive.sum(0)
    n_neg = len(y) - n_pos
    ranks = rankdata(proba, axis=0)  # one call for every class: the bootstrap's hot spot
    rank_sum = (ranks * positive).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


def scores(y: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray | float]:
    """Every metric of class indices `y` against probabilities `proba` (n x k)."""
    k = proba.shape[1]
    cm = confusion(y, proba.argmax(1), k)
    hits = np.diag(cm).astype(float)
    recall = _divide(hits, cm.sum(1))
    precision = _divide(hits, cm.sum(0))
    present = cm.sum(1) > 0
    f1 = _divide(2 * hits, cm.sum(1) + cm.sum(0))
    return {
        "balanced_accuracy": float(np.nanmean(recall[present])),
        # scikit-learn's macro-F1 over all labels: a stage never seen nor predicted scores 0
        "macro_f1": float(np.nan_to_num(f1).mean()),
        "quadratic_weighted_kappa": quadratic_kappa(cm),
        "recall": recall,
        "precision": precision,
        "auc_one_vs_rest": one_vs_rest_auc(y, proba),
        "confusion": cm,
    }


def flat(values: dict, labels: list[str]) -> dict[str, float]:
    """Scalars only: `recall_<stage>`, `precision_<stage>`, `auc_<stage>` beside the headline."""
    out = {name: float(values[name]) for name in HEADLINE}
    for key, prefix in (
        ("recall", "recall"),
        ("precision", "precision"),
        ("auc_one_vs_rest", "auc"),
    ):
        out.update(
            {f"{prefix}_{label}": float(v) for label, v in zip(labels, values[key], strict=True)}
        )
    return out
