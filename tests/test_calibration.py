"""Temperature scaling and ECE against independent truths (a known miscalibration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spectstage.calibration import (
    calibrate_folds,
    expected_calibration_error,
    fit_temperature,
    reliability,
    scale,
)


def overconfident(n: int, true_t: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z); the model reports softmax(z * true_t): too sharp."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=(n, 4))
    p_true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(4, p=p) for p in p_true])
    sharp = np.exp(z * true_t) / np.exp(z * true_t).sum(1, keepdims=True)
    return y, sharp


def test_fitted_temperature_recovers_the_true_one_and_lowers_ece():
    y, proba = overconfident(4000, true_t=2.5, seed=0)
    t = fit_temperature(y, proba)
    assert t == pytest.approx(2.5, rel=0.1)
    assert expected_calibration_error(y, scale(proba, t)) < expected_calibration_error(y, proba) / 3
    np.testing.assert_array_equal(scale(proba, t).argmax(1), proba.argmax(1))


def test_ece_of_known_bins():
    # Two scans at confidence 0.9 (one right), two at 0.6 (both right): ECE = 0.5*0.4 + 0.5*0.4.
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    y = np.array([0, 1, 0, 0])
    assert expected_calibration_error(y, proba) == pytest.approx(0.4)
    table = reliability(y, proba)
    assert table["count"][9] == 2 and table["accuracy"][9] == 0.5 and table["count"][6] == 2


def test_each_fold_is_calibrated_from_its_own_validation_rows_only():
    y0, p0 = overconfident(2000, 2.0, 1)
    y1, p1 = overconfident(2000, 0.5, 2)  # under-confident fold
    labels = ["1", "2", "3", "4"]

    def frame(fold, y, p):
        return pd.DataFrame({"fold": fold, "stage": [labels[i] for i in y]}).join(
            pd.DataFrame(p, columns=[f"p_{label}" for label in labels])
        )

    validation = pd.concat([frame(0, y0[:1000], p0[:1000]), frame(1, y1[:1000], p1[:1000])])
    test = pd.concat([frame(0, y0[1000:], p0[1000:]), frame(1, y1[1000:], p1[1000:])])
    test = test.reset_index(drop=True)
    _, summary = calibrate_folds(test, validation, labels)
    assert summary[0]["temperature"] == pytest.approx(2.0, rel=0.15)
    assert summary[1]["temperature"] == pytest.approx(0.5, rel=0.15)
    # Poisoning the test rows does not move the temperatures (they never see them).
    shuffled = test.assign(stage=np.random.default_rng(0).permutation(test["stage"].to_numpy()))
    _, again = calibrate_folds(shuffled, validation, labels)
    assert [s["temperature"] for s in again] == [s["temperature"] for s in summary]
    assert all(s["test_ece_calibrated"] < s["test_ece_raw"] for s in summary)
