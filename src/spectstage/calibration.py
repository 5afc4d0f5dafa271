"""Calibration: expected calibration error, reliability bins, temperature scaling per fold.

The temperature of fold k is fitted on fold k's inner-validation patients only (the patients
that already choose its stopping epoch), never on its test patients, and then applied to its
test predictions. Models output averaged probabilities (an ensemble of epochs and a mirrored
input), so log-probabilities stand in for logits: p_T = softmax(log p / T). A temperature
changes no argmax, so accuracy-type metrics are unchanged; only the confidence moves.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

BINS = 10
EPS = 1e-12
LOG_T_BOUNDS = (-3.0, 3.0)  # T between 0.05 and 20


def scale(proba: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(proba, EPS, 1)) / temperature
    logits -= logits.max(1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(1, keepdims=True)


def nll(y: np.ndarray, proba: np.ndarray) -> float:
    return float(-np.log(np.clip(proba[np.arange(len(y)), y], EPS, 1)).mean())


def fit_temperature(y: np.ndarray, proba: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of class indices `y`."""
    if len(y) == 0:
        return 1.0
    found = minimize_scalar(
        lambda log_t: nll(y, scale(proba, float(np.exp(log_t)))),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


def reliability(y: np.ndarray, proba: np.ndarray, bins: int = BINS) -> dict[str, list]:
    """Top-label reliability in equal-width confidence bins: mean confidence, accuracy, count."""
    confidence = proba.max(1)
    correct = proba.argmax(1) == y
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    out: dict[str, list] = {"confidence": [], "accuracy": [], "count": []}
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        out["count"].append(n)
        out["confidence"].append(float(confidence[inside].mean()) if n else None)
        out["accuracy"].append(float(correct[inside].mean()) if n else None)
    return out


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = BINS) -> float:
    """Sum over bins of (share of scans) x |accuracy - mean confidence| (top label)."""
    table = reliability(y, proba, bins)
    n = len(y)
    return float(
        sum(
            c / n * abs(a - conf)
            for c, a, conf in zip(
                table["count"], table["accuracy"], table["confidence"], strict=True
            )
            if c
        )
    )


def calibrate_folds(oof, validation, labels: list[str]) -> tuple[np.ndarray, list[dict]]:
    """Calibrated test probabilities (rows of `oof`) and one summary per fold.

    `validation` holds every fold's inner-validation predictions (`fold, stage, p_<label>`);
    fold k's temperature comes from its own validation rows only.
    """
    cols = [f"p_{label}" for label in labels]
    index = {label: i for i, label in enumerate(labels)}
    calibrated = oof[cols].to_numpy(dtype=float).copy()
    summary = []
    for fold in sorted(oof["fold"].unique()):
        val = validation[validation["fold"] == fold]
        y_val = val["stage"].map(index).to_numpy(dtype=int)
        temperature = fit_temperature(y_val, val[cols].to_numpy(dtype=float))
        rows = (oof["fold"] == fold).to_numpy()
        y_test = oof.loc[rows, "stage"].map(index).to_numpy(dtype=int)
        calibrated[rows] = scale(calibrated[rows], temperature)
        raw = oof.loc[rows, cols].to_numpy(dtype=float)
        summary.append(
            {
                "fold": int(fold),
                "temperature": round(temperature, 4),
                "n_validation_scans": len(val),
                "test_ece_raw": expected_calibration_error(y_test, raw),
                "test_ece_calibrated": expected_calibration_error(y_test, calibrated[rows]),
                "test_nll_raw": nll(y_test, raw),
                "test_nll_calibrated": nll(y_test, calibrated[rows]),
            }
        )
    return calibrated, summary
