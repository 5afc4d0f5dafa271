"""95 % bootstrap intervals that resample patients, stratified by stage.

A resample draws, within each stage, as many patients as that stage has (with replacement)
and takes all their scans: scans of one patient are not independent, and every stage - rare
stage 4 included - is in every resample. A patient's stratum is the stage of most of their
scans (ties: the later stage). A metric undefined in a resample (AUC or recall of a stage a
subset lacks, precision of a stage never predicted) is left out of that metric's interval; the
interval is null when fewer than half of the resamples define it.

Paired comparison: two models' predictions of the same scans, scored on the same resamples;
the interval is that of the difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spectstage.metrics import flat, scores

LEVEL = 0.95


def patient_strata(table: pd.DataFrame) -> pd.Series:
    """patient_id -> stratum stage: the most frequent of the patient's stages, ties the later."""
    counts = table.groupby(["patient_id", "stage"]).size().rename("n").reset_index()
    counts = counts.sort_values(["patient_id", "n", "stage"])
    return counts.groupby("patient_id")["stage"].last()


def resamples(table: pd.DataFrame, n: int, seed: int) -> list[np.ndarray]:
    """Row indices of `table` (columns patient_id, stage) for `n` stratified patient resamples."""
    rng = np.random.default_rng(seed)
    rows_of = table.reset_index(drop=True).groupby("patient_id").indices
    strata = patient_strata(table)
    groups = [strata.index[strata == s].to_numpy() for s in sorted(strata.unique())]
    out = []
    for _ in range(n):
        drawn = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        out.append(np.concatenate([rows_of[p] for p in drawn]))
    return out


def interval(values: np.ndarray) -> list[float] | None:
    defined = values[np.isfinite(values)]
    if len(defined) < max(1, len(values) / 2):
        return None
    tail = (1 - LEVEL) / 2 * 100
    return [float(v) for v in np.percentile(defined, [tail, 100 - tail])]


def intervals(y: np.ndarray, proba: np.ndarray, labels: list[str], draws: list[np.ndarray]) -> dict:
    """metric name -> [low, high] over the resamples `draws` (row indices)."""
    table = pd.DataFrame([flat(scores(y[rows], proba[rows]), labels) for rows in draws])
    return {name: interval(table[name].to_numpy()) for name in table.columns}


def paired_difference(
    y: np.ndarray,
    proba_a: np.ndarray,
    proba_b: np.ndarray,
    labels: list[str],
    draws: list[np.ndarray],
) -> dict:
    """Metric of a minus metric of b, point value and interval, for the headline metrics."""
    out = {}
    for name in ("balanced_accuracy", "quadratic_weighted_kappa"):
        point = flat(scores(y, proba_a), labels)[name] - flat(scores(y, proba_b), labels)[name]
        diffs = np.array(
            [
                flat(scores(y[r], proba_a[r]), labels)[name]
                - flat(scores(y[r], proba_b[r]), labels)[name]
                for r in draws
            ]
        )
        out[name] = {
            "difference": float(point),
            "ci95": interval(diffs),
            "share_of_resamples_a_better": float(np.mean(diffs > 0)),
        }
    return out
