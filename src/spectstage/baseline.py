"""The SBR baseline: a logistic regression on named per-scan features, on the CNN's folds.

The features are an explicit list (`evaluate.sbr_features`), so a new column in the cohort
table never changes the baseline silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spectstage.errors import InputError
from spectstage.sbr import striatal_summary

QUANTITY_PREFIXES = ("sbr_", "caudate_", "putamen_")


def feature_table(table: pd.DataFrame, names: list[str], source: str, voxels: dict) -> pd.DataFrame:
    """The named features of every scan (scan_id index). Summary measures (whole putamen,
    ratios, asymmetry) are derived from the regional SBRs when the table lacks them (the demo's
    truth table has regional values only)."""
    table = table.set_index("scan_id")
    missing = [n for n in names if n not in table.columns]
    if missing:
        derived = pd.DataFrame(
            [striatal_summary(row, voxels) for row in table.to_dict("records")], index=table.index
        )
        table = table.join(derived[[c for c in derived.columns if c not in table.columns]])
    unknown = [n for n in names if n not in table.columns]
    if unknown:
        known = sorted(c for c in table.columns if c.startswith(QUANTITY_PREFIXES))
        raise InputError(
            f"evaluate.sbr_features: {unknown} not columns of {source}; known: {known}"
        )
    features = table[names].astype(float)
    undefined = features.index[~np.isfinite(features.to_numpy()).all(1)].tolist()
    if undefined:
        raise InputError(
            f"{source}: evaluate.sbr_features undefined (NaN) for scans {undefined[:5]}"
        )
    return features


def sbr_classifier(seed: int):
    """The baseline's model: standardised features, class-balanced logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(),
        LogisticRegression(max_iter=5000, class_weight="balanced", random_state=seed),
    )


def logistic_baseline(
    features: pd.DataFrame, folds: pd.DataFrame, labels: list[str], seed: int
) -> pd.DataFrame:
    """Out-of-fold probabilities of a logistic regression on per-scan features, same folds:
    fitted on each fold's training + validation patients, applied to its test patients."""
    rows = []
    for _, part in folds.groupby("fold"):
        fit = part[part["split"] != "test"]
        test = part[part["split"] == "test"]
        model = sbr_classifier(seed)
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
