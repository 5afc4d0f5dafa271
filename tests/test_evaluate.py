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


# ---- metrics against scikit-learn -----------------------------------------------------------


def random_predictions(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(k, size=n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, proba


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_metrics_equal_scikit_learn(seed):
    from sklearn import metrics as skm

    from spectstage.metrics import scores

    y, proba = random_predictions(60, 4, seed)
    y[:3] = 3  # a rare class
    pred = proba.argmax(1)
    got = scores(y, proba)
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert got["macro_f1"] == pytest.approx(
        skm.f1_score(y, pred, labels=range(4), average="macro", zero_division=0)
    )
    assert got["quadratic_weighted_kappa"] == pytest.approx(
        skm.cohen_kappa_score(y, pred, weights="quadratic")
    )
    np.testing.assert_allclose(
        got["recall"], skm.recall_score(y, pred, labels=range(4), average=None)
    )
    np.testing.assert_allclose(
        got["precision"],
        skm.precision_score(y, pred, labels=range(4), average=None, zero_division=np.nan),
    )
    for i in range(4):
        assert got["auc_one_vs_rest"][i] == pytest.approx(skm.roc_auc_score(y == i, proba[:, i]))
    np.testing.assert_array_equal(got["confusion"], skm.confusion_matrix(y, pred))


def test_undefined_metrics_are_nan_not_zero():
    from spectstage.metrics import scores

    y = np.array([0, 0, 1, 1])
    proba = np.eye(3)[[0, 0, 1, 0]]  # stage 3 neither present nor predicted
    got = scores(y, proba)
    assert np.isnan(got["recall"][2]) and np.isnan(got["precision"][2])
    assert np.isnan(got["auc_one_vs_rest"][2])
    assert got["balanced_accuracy"] == pytest.approx((1 + 0.5) / 2)  # present stages only


# ---- bootstrap --------------------------------------------------------------------------------


def scan_table(patients_per_stage: dict[str, int], scans_per_patient: int = 1) -> pd.DataFrame:
    rows = []
    for stage, n in patients_per_stage.items():
        for p in range(n):
            rows += [
                {"patient_id": f"{stage}-{p}", "scan_id": f"{stage}-{p}-{s}", "stage": stage}
                for s in range(scans_per_patient)
            ]
    return pd.DataFrame(rows)


def test_resamples_draw_whole_patients_and_keep_every_stage_at_its_size():
    from spectstage.bootstrap import resamples

    table = scan_table({"1": 20, "2": 10, "4": 2}, scans_per_patient=2)
    draws = resamples(table, 200, seed=3)
    assert len(draws) == 200
    for rows in draws:
        drawn = table.iloc[rows]
        # Per stage as many patients (with repeats) as it has, each with both scans.
        per_stage = drawn.groupby("stage").size().to_dict()
        assert per_stage == {"1": 40, "2": 20, "4": 4}
        assert (drawn.groupby("patient_id").size() % 2 == 0).all()
    # Seeded: the same seed gives the same resamples, another seed others.
    assert all((a == b).all() for a, b in zip(draws, resamples(table, 200, 3), strict=True))
    assert any(
        len(a) != len(b) or (a != b).any()
        for a, b in zip(draws, resamples(table, 200, 4), strict=True)
    )


def test_interval_covers_the_truth_of_a_known_accuracy():
    # 100 patients, each correct with probability 0.7: the 95 % interval of the accuracy of
    # one class is close to the binomial one (0.7 +- 1.96 * sqrt(0.21 / 100) = +- 0.09).
    from spectstage.bootstrap import intervals, resamples

    rng = np.random.default_rng(0)
    table = scan_table({"1": 100})
    y = np.zeros(100, dtype=int)
    correct = rng.uniform(size=100) < 0.7
    proba = np.where(correct[:, None], [[0.9, 0.1]], [[0.1, 0.9]])
    ci = intervals(y, proba, ["1", "2"], resamples(table, 2000, 1))["recall_1"]
    centre = correct.mean()
    assert ci[0] < centre < ci[1]
    assert ci[1] - ci[0] == pytest.approx(2 * 1.96 * np.sqrt(centre * (1 - centre) / 100), rel=0.15)
    assert intervals(y, proba, ["1", "2"], resamples(table, 50, 1))["auc_1"] is None  # no negatives


def test_paired_difference_of_a_model_with_itself_is_zero_and_of_a_better_one_positive():
    from spectstage.bootstrap import paired_difference, resamples

    table = scan_table({"1": 30, "2": 30, "3": 30})
    y = np.repeat([0, 1, 2], 30)
    perfect = np.eye(3)[y]
    noisy = np.eye(3)[np.where(np.arange(90) % 3 == 0, (y + 1) % 3, y)]
    draws = resamples(table, 300, 0)
    same = paired_difference(y, noisy, noisy, ["1", "2", "3"], draws)
    assert same["balanced_accuracy"]["difference"] == 0 and same["balanced_accuracy"]["ci95"] == [
        0,
        0,
    ]
    better = paired_difference(y, perfect, noisy, ["1", "2", "3"], draws)["balanced_accuracy"]
    assert better["difference"] == pytest.approx(1 / 3)
    assert 0 < better["ci95"][0] < 1 / 3 < better["ci95"][1]


def test_breakdown_adds_a_patient_level_when_patients_have_several_scans():
    from spectstage.evaluate import breakdown

    table = scan_table({"1": 6, "2": 6}, scans_per_patient=2)
    y = (table["stage"] == "2").to_numpy().astype(int)
    table["fold"] = np.arange(len(table)) // 2 % 2  # a patient's scans in one fold
    table["p_1"], table["p_2"] = 1.0 - y * 0.8, y * 0.8
    formats = pd.Series("nifti", index=table["scan_id"])
    out = breakdown(table, ["1", "2"], {"n": 20, "seed": 0}, formats)
    assert out["pooled"]["n_scans"] == 24 and out["pooled"]["n_patients"] == 12
    assert out["patient_level"]["n_scans"] == 12 and out["patient_level"]["balanced_accuracy"] == 1
    assert set(out["per_fold"]) == {"0", "1"} and set(out["per_format"]) == {"nifti"}
    assert out["pooled"]["ci95"]["balanced_accuracy"] == [1.0, 1.0]
    single = breakdown(
        table.drop_duplicates("patient_id"), ["1", "2"], {"n": 0, "seed": 0}, formats
    )
    assert "patient_level" not in single and single["pooled"]["ci95"] == {}
