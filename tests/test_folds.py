"""Patient-grouped folds and the guards that refuse leakage."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from spectstage.errors import InputError
from spectstage.folds import check_duplicate_scans, check_folds, make_folds, write_folds


def synthetic_cohort(per_stage=(10, 10, 10, 6), longitudinal=5) -> pd.DataFrame:
    rows = []
    for s, n in enumerate(per_stage, start=1):
        for i in range(n):
            pid = f"S{s}P{i}"
            rows.append({"patient_id": pid, "scan_id": f"{pid}_a", "stage": str(s)})
            if i < longitudinal:  # a second scan of the same patient
                rows.append({"patient_id": pid, "scan_id": f"{pid}_b", "stage": str(s)})
    return pd.DataFrame(rows)


def write_cohort_csv(cohort: pd.DataFrame, tmp_path) -> Path:
    """The cohort as results/cohort.csv, each scan with its own small random volume."""
    rng = np.random.default_rng(0)
    volumes = []
    for scan_id in cohort["scan_id"]:
        volumes.append(tmp_path / f"{scan_id}.nii.gz")
        data = rng.random((8, 8, 8)).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.eye(4)), volumes[-1])
    path = tmp_path / "cohort.csv"
    cohort.assign(volume=[str(v) for v in volumes]).to_csv(path, index=False)
    return path


def frozen_config(tmp_path, seed: int = 0) -> dict:
    """folds settings that import tmp_path/frozen.csv (3 folds)."""
    return {"folds": {"k": 3, "seed": seed, "val_folds": 4, "file": str(tmp_path / "frozen.csv")}}


def test_folds_group_patients_and_stratify_stages():
    cohort = synthetic_cohort()
    folds = make_folds(cohort, k=3, seed=0, val_folds=4)
    check_folds(folds, cohort)
    test = folds[folds["split"] == "test"]
    assert sorted(test["scan_id"]) == sorted(cohort["scan_id"])  # every scan tested once
    assert (test.groupby("patient_id")["fold"].nunique() == 1).all()
    for _, part in test.groupby("fold"):
        assert set(part["stage"]) == {"1", "2", "3", "4"}
    for _, part in folds.groupby("fold"):
        assert set(part["split"]) == {"train", "val", "test"}
        assert (part.groupby("patient_id")["split"].nunique() == 1).all()


def test_same_seed_same_folds_other_seed_other_folds():
    cohort = synthetic_cohort()
    a, b = make_folds(cohort, 3, 7, 4), make_folds(cohort, 3, 7, 4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(make_folds(cohort, 3, 8, 4))


def test_too_few_patients_of_a_stage_says_what_to_do():
    with pytest.raises(
        InputError, match=r"stage 4: 2 patient\(s\), fewer than the 5 folds; lower folds.k"
    ):
        make_folds(synthetic_cohort((10, 10, 10, 2)), k=5, seed=0, val_folds=4)


def test_patient_in_two_test_folds_is_refused():
    folds = make_folds(synthetic_cohort(), 3, 0, 4)
    victim = folds.loc[folds["split"] == "test", "patient_id"].iloc[0]
    fold = folds.loc[(folds["patient_id"] == victim) & (folds["split"] == "test"), "fold"].iloc[0]
    other = folds[(folds["patient_id"] == victim) & (folds["fold"] != fold)].index[0]
    folds.loc[other, "split"] = "test"
    with pytest.raises(InputError, match="more than one test fold"):
        check_folds(folds)


def test_scan_split_across_train_and_test_of_one_fold_is_refused():
    cohort = synthetic_cohort()
    folds = make_folds(cohort, 3, 0, 4)
    pid = cohort.loc[cohort["scan_id"].str.endswith("_b"), "patient_id"].iloc[0]  # two scans
    rows = folds[(folds["patient_id"] == pid) & (folds["split"] == "test")]
    folds.loc[rows.index[0], "split"] = "train"
    with pytest.raises(InputError, match="two splits of one fold"):
        check_folds(folds)


def test_frozen_file_is_reused_and_unknown_scans_are_listed(tmp_path):
    cohort = synthetic_cohort()
    frozen = make_folds(cohort, 3, 0, 4)
    frozen.to_csv(tmp_path / "frozen.csv", index=False)
    cohort_csv = write_cohort_csv(cohort, tmp_path)
    cfg = frozen_config(tmp_path, seed=99)
    written = write_folds(cohort_csv, tmp_path / "folds.csv", cfg)
    pd.testing.assert_frame_equal(written.reset_index(drop=True), frozen)
    bigger = pd.concat(
        [cohort, pd.DataFrame([{"patient_id": "NEW", "scan_id": "NEW_a", "stage": "1"}])]
    )
    cohort_csv = write_cohort_csv(bigger, tmp_path)
    with pytest.raises(InputError, match=r"frozen.csv does not know these scans.*\['NEW_a'\]"):
        write_folds(cohort_csv, tmp_path / "folds.csv", cfg)


def test_same_scan_under_two_ids_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, data in enumerate([rng.random((8, 8, 8)), rng.random((8, 8, 8))]):
        paths.append(tmp_path / f"s{i}.nii.gz")
        nib.save(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), paths[-1])
    paths.append(tmp_path / "copy.nii.gz")
    nib.save(nib.load(paths[0]), paths[-1])
    cohort = pd.DataFrame({"scan_id": ["s0", "s1", "copy"], "volume": [str(p) for p in paths]})
    check_duplicate_scans(cohort.iloc[:2])
    with pytest.raises(InputError, match="s0 = copy"):
        check_duplicate_scans(cohort)


def test_frozen_file_cannot_relabel_scans_or_change_the_fold_count(tmp_path):
    cohort = synthetic_cohort()
    cohort_csv = write_cohort_csv(cohort, tmp_path)
    frozen = make_folds(cohort, 3, 0, 4)
    frozen.loc[frozen["scan_id"] == "S1P0_a", "stage"] = "4"  # a stale label in the file
    frozen.to_csv(tmp_path / "frozen.csv", index=False)
    cfg = frozen_config(tmp_path)
    written = write_folds(cohort_csv, tmp_path / "folds.csv", cfg)
    assert set(written.loc[written["scan_id"] == "S1P0_a", "stage"]) == {"1"}
    cfg["folds"]["k"] = 5
    with pytest.raises(InputError, match=r"has 3 folds and folds\.k is 5"):
        write_folds(cohort_csv, tmp_path / "folds.csv", cfg)


def test_alike_scans_of_one_patient_are_allowed_and_blocks_cover_all_pairs(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"s{i}.nii.gz")
        nib.save(nib.Nifti1Image(rng.random((16, 16, 16)).astype(np.float32), np.eye(4)), paths[-1])
    paths.append(tmp_path / "repeat.nii.gz")
    nib.save(nib.load(paths[4]), paths[-1])
    cohort = pd.DataFrame(
        {"scan_id": ["s0", "s1", "s2", "s3", "s4", "repeat"], "volume": [str(p) for p in paths]}
    )
    same_patient = cohort.assign(patient_id=["a", "b", "c", "d", "e", "e"])
    check_duplicate_scans(same_patient, chunk=2)
    with pytest.raises(InputError, match="s4 = repeat"):
        check_duplicate_scans(cohort.assign(patient_id=cohort["scan_id"]), chunk=2)


def test_frozen_file_with_an_untested_scan_or_odd_fold_numbers_is_refused(tmp_path):
    cohort = synthetic_cohort()
    cohort_csv = write_cohort_csv(cohort, tmp_path)
    cfg = frozen_config(tmp_path)
    frozen = make_folds(cohort, 3, 0, 4)
    never = frozen[(frozen["scan_id"] == "S1P9_a") & (frozen["split"] == "test")].index
    frozen.loc[never, "split"] = "train"
    frozen.to_csv(tmp_path / "frozen.csv", index=False)
    with pytest.raises(InputError, match=r"frozen.csv.*never tested: \['S1P9_a'\]"):
        write_folds(cohort_csv, tmp_path / "folds.csv", cfg)
    make_folds(cohort, 3, 0, 4).assign(fold=lambda t: t["fold"] + 1).to_csv(
        tmp_path / "frozen.csv", index=False
    )
    with pytest.raises(InputError, match=r"numbered 0 to k-1, found \[1, 2, 3\]"):
        write_folds(cohort_csv, tmp_path / "folds.csv", cfg)
    assert not (tmp_path / "folds.csv").exists()


def test_frozen_file_is_checked_for_the_same_scan_under_two_ids(tmp_path):
    cohort = synthetic_cohort()
    cohort_csv = write_cohort_csv(cohort, tmp_path)
    make_folds(cohort, 3, 0, 4).to_csv(tmp_path / "frozen.csv", index=False)
    nib.save(nib.load(tmp_path / "S1P0_a.nii.gz"), tmp_path / "S2P0_a.nii.gz")
    cfg = frozen_config(tmp_path)
    with pytest.raises(InputError, match="S1P0_a = S2P0_a"):
        write_folds(cohort_csv, tmp_path / "folds.csv", cfg)


def test_too_few_training_patients_for_the_inner_split_says_what_to_do():
    # 4 stage-4 patients in 2 folds leave 2 for training: 3 validation folds cannot hold them
    with pytest.raises(InputError, match=r"fold 0: stage 4: 2 patient\(s\).*folds.val_folds"):
        make_folds(synthetic_cohort((6, 6, 6, 4)), k=2, seed=0, val_folds=3)


def test_frozen_file_with_a_repeated_row_or_an_empty_cell_is_refused(tmp_path):
    cohort = synthetic_cohort()
    cohort_csv = write_cohort_csv(cohort, tmp_path)
    cfg = frozen_config(tmp_path)
    frozen = make_folds(cohort, 3, 0, 4)
    train_row = frozen[frozen["split"] == "train"].iloc[[0]]  # not caught as tested twice
    pd.concat([frozen, train_row]).to_csv(tmp_path / "frozen.csv", index=False)
    with pytest.raises(InputError, match="appear once in every fold"):
        write_folds(cohort_csv, tmp_path / "folds.csv", cfg)
    frozen.assign(scan_id=frozen["scan_id"].mask(frozen.index == 3)).to_csv(
        tmp_path / "frozen.csv", index=False
    )
    with pytest.raises(InputError, match=r"empty cells in column\(s\) \['scan_id'\]"):
        write_folds(cohort_csv, tmp_path / "folds.csv", cfg)
