"""DaTQUANT-style summary measures as documented, and the baseline's explicit feature list."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spectstage import template
from spectstage.baseline import feature_table
from spectstage.errors import InputError
from spectstage.sbr import region_voxels, regional_sbr, striatal_summary


def test_whole_putamen_is_the_mean_over_its_voxels_not_the_mean_of_two_means():
    tmpl = template.load()
    rng = np.random.default_rng(0)
    volume = np.ones(tmpl.atlas.shape, dtype=np.float32)
    levels = {"caudate_left": 3.2, "caudate_right": 3.0, "putamen_anterior_left": 2.6}
    levels |= {"putamen_anterior_right": 2.0, "putamen_posterior_left": 1.4}
    levels |= {"putamen_posterior_right": 0.9}
    for region, level in levels.items():
        mask = tmpl.mask(region)
        volume[mask] = level + rng.normal(scale=0.1, size=mask.sum())
    sbr = regional_sbr(volume, tmpl)
    got = striatal_summary(sbr, region_voxels(tmpl))
    for side in ("left", "right"):
        whole = tmpl.mask(f"putamen_anterior_{side}") | tmpl.mask(f"putamen_posterior_{side}")
        assert got[f"sbr_putamen_{side}"] == pytest.approx(volume[whole].mean() - 1, abs=2e-4)
        caudate = volume[tmpl.mask(f"caudate_{side}")].mean() - 1
        ratio = caudate / (volume[whole].mean() - 1)
        assert got[f"caudate_putamen_ratio_{side}"] == pytest.approx(ratio, abs=1e-3)
    left = volume[tmpl.mask("putamen_anterior_left") | tmpl.mask("putamen_posterior_left")].mean()
    right = volume[
        tmpl.mask("putamen_anterior_right") | tmpl.mask("putamen_posterior_right")
    ].mean()
    expected = abs(left - right) / (((left - 1) + (right - 1)) / 2)
    assert got["putamen_asymmetry"] == pytest.approx(expected, abs=1e-3)


def test_ratio_without_putamen_uptake_is_undefined():
    sbr = {f"sbr_{r}": 0.0 for r in template.STRIATAL_REGIONS} | {"sbr_caudate_left": 1.0}
    got = striatal_summary(sbr, dict.fromkeys(template.STRIATAL_REGIONS, 10))
    assert math.isnan(got["caudate_putamen_ratio_left"]) and math.isnan(got["putamen_asymmetry"])


def test_baseline_features_are_the_named_columns_and_unknown_names_are_refused():
    table = pd.DataFrame(
        {"scan_id": ["a", "b"], **{f"sbr_{r}": [1.0, 2.0] for r in template.STRIATAL_REGIONS}}
    )
    table["sbr_new_region"] = [5.0, 6.0]  # a new column does not enter the baseline
    voxels = dict.fromkeys(template.STRIATAL_REGIONS, 10)
    names = ["sbr_caudate_left", "sbr_putamen_left"]  # derived from the regions when absent
    got = feature_table(table, names, "cohort.csv", voxels)
    assert list(got.columns) == names and got.loc["b", "sbr_putamen_left"] == 2.0
    with pytest.raises(InputError, match=r"\['sbr_putamen_whole'\] not columns of cohort.csv"):
        feature_table(table, ["sbr_putamen_whole"], "cohort.csv", voxels)


def test_baseline_predicts_each_scan_in_its_test_fold_from_the_other_patients_only():
    from spectstage.baseline import logistic_baseline

    rng = np.random.default_rng(0)
    n = 40
    stages = np.repeat(["1", "2"], n // 2)
    features = pd.DataFrame(
        {"x": rng.normal(size=n) + (stages == "2") * 2.0}, index=[f"s{i}" for i in range(n)]
    )
    fold_of = np.arange(n) % 2
    folds = pd.concat(
        pd.DataFrame(
            {
                "fold": k,
                "patient_id": features.index,
                "scan_id": features.index,
                "stage": stages,
                "split": np.where(fold_of == k, "test", "train"),
            }
        )
        for k in (0, 1)
    )
    out = logistic_baseline(features, folds, ["1", "2"], seed=0)
    assert sorted(out["scan_id"]) == sorted(features.index)
    assert (out.set_index("scan_id")["fold"].loc[features.index] == fold_of).all()
    # The test patients' stages never reach the model: scrambling them changes nothing.
    scrambled = folds.copy()
    test = scrambled["split"] == "test"
    scrambled.loc[test, "stage"] = rng.permutation(scrambled.loc[test, "stage"].to_numpy())
    again = logistic_baseline(features, scrambled, ["1", "2"], seed=0)
    np.testing.assert_allclose(
        again.sort_values("scan_id")[["p_1", "p_2"]], out.sort_values("scan_id")[["p_1", "p_2"]]
    )
