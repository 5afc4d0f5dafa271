"""Out-of-fold aggregation refuses double or missing predictions; metrics are sound."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spectstage.errors import InputError
from spectstage.evaluate import classification_metrics, gather_oof


def predictions(tmp_path, scans_per_fold):
    files = []
    for fold, scans in enumerate(scans_per_fold):
        f = tmp_path / f"fold{fold}.csv"
        pd.DataFrame(
            {"fold": fold, "patient_id": scans, "scan_id": scans, "stage": "1", "p_1": 1.0}
        ).to_csv(f, index=False)
        files.append(f)
    return files


def test_scan_predicted_twice_or_never_or_by_the_wrong_fold_is_refused(tmp_path):
    cohort = pd.DataFrame({"scan_id": ["a", "b", "c"]})
    folds = pd.DataFrame({"scan_id": ["a", "b", "c"], "fold": [0, 1, 1], "split": "test"})

    def gather(scans_per_fold):
        return gather_oof(predictions(tmp_path, scans_per_fold), cohort, folds, ["1"])

    assert len(gather([["a"], ["b", "c"]])) == 3
    with pytest.raises(InputError, match=r"more than one fold: \['b'\]"):
        gather([["a", "b"], ["b", "c"]])
    with pytest.raises(InputError, match=r"no fold: \['c'\]"):
        gather([["a"], ["b"]])
    with pytest.raises(InputError, match=r"does not test them in folds.csv: \['b'\]"):
        gather([["a", "b"], ["c"]])  # stale: fold 0 predicted a scan fold 1 tests


def test_prediction_file_without_probabilities_is_named(tmp_path):
    cohort = pd.DataFrame({"scan_id": ["a"]})
    folds = pd.DataFrame({"scan_id": ["a"], "fold": [0], "split": "test"})
    files = predictions(tmp_path, [["a"]])
    with pytest.raises(InputError, match=r"fold0.csv: missing column\(s\) \['p_2'\]"):
        gather_oof(files, cohort, folds, ["1", "2"])


def test_metrics_of_a_known_confusion():
    labels = ["1", "2", "3"]
    y = ["1", "1", "2", "2", "3", "3"]
    proba = np.eye(3)[[0, 0, 1, 2, 2, 2]]  # one stage-2 scan called stage 3
    m = classification_metrics(y, proba, labels)
    assert m["balanced_accuracy"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert m["recall"] == {"1": 1.0, "2": 0.5, "3": 1.0}
    assert m["confusion_matrix"]["rows_true_cols_predicted"] == [[2, 0, 0], [0, 1, 1], [0, 0, 2]]
    assert 0.8 < m["quadratic_weighted_kappa"] < 1.0
