"""Training shards: training patients only, configured class balance, replayable samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from spectstage import config
from spectstage.augment import SampleParams, build_shard, plan_samples, replay
from spectstage.cohort import read_table
from spectstage.crop import Crop
from spectstage.errors import InputError
from spectstage.folds import read_folds


@pytest.fixture(scope="module")
def tables(workflow_run):
    folds = read_folds(workflow_run / "results" / "folds.csv")
    cohort = read_table(workflow_run / "results" / "cohort.csv")
    cohort["volume"] = [str(workflow_run / v) for v in cohort["volume"]]
    return folds, cohort


def settings(copies=2, balance=1.0, seed=0):
    return config.validate(
        {"stages": [1, 2, 3, 4], "augment": {"copies": copies, "balance": balance, "seed": seed}}
    )


def test_plan_oversamples_minority_stages():
    train = pd.DataFrame(
        {"scan_id": [f"s{i}" for i in range(13)], "stage": ["1"] * 8 + ["4"] * 3 + ["2"] * 2}
    )
    balanced = pd.Series(plan_samples(train, copies=2, balance=1.0)).map(
        train.set_index("scan_id")["stage"]
    )
    assert balanced.value_counts().to_dict() == {"1": 16, "2": 16, "4": 16}
    plain = pd.Series(plan_samples(train, copies=2, balance=0.0)).map(
        train.set_index("scan_id")["stage"]
    )
    assert plain.value_counts().to_dict() == {"1": 16, "4": 6, "2": 4}
    half = pd.Series(plan_samples(train, copies=1, balance=0.5)).map(
        train.set_index("scan_id")["stage"]
    )
    assert half.value_counts().to_dict() == {"1": 8, "4": 4, "2": 4}


def test_shard_holds_only_training_patients_with_configured_counts(tables):
    folds, cohort = tables
    for fold in sorted(folds["fold"].unique()):
        shard, samples = build_shard(folds, cohort, fold, settings())
        part = folds[folds["fold"] == fold]
        held_out = set(part.loc[part["split"] != "train", "patient_id"])
        assert not held_out & set(samples["patient_id"])
        train = part[part["split"] == "train"]
        counts = samples["stage"].value_counts()
        assert counts.nunique() == 1 and counts.iloc[0] == 2 * train["stage"].value_counts().max()
        assert shard["x"].shape == (
            len(samples),
            1,
            *Crop.from_config(settings()["train"]["crop"]).shape,
        )
        labels = ["1", "2", "3", "4"]
        assert [labels[i] for i in shard["y"].tolist()] == samples["stage"].tolist()


def test_same_seed_same_shard_and_rows_replay(tables):
    folds, cohort = tables
    a, rows_a = build_shard(folds, cohort, 0, settings(copies=1))
    b, rows_b = build_shard(folds, cohort, 0, settings(copies=1))
    c, _ = build_shard(folds, cohort, 0, settings(copies=1, seed=1))
    assert torch.equal(a["x"], b["x"]) and rows_a.equals(rows_b)
    assert not torch.equal(a["x"], c["x"])
    import nibabel as nib

    row = rows_a.iloc[3].to_dict()
    volume = np.asarray(
        nib.load(cohort.set_index("scan_id").loc[row["scan_id"], "volume"]).dataobj, np.float32
    )
    again = replay(
        volume, SampleParams.from_row(row), Crop.from_config(settings()["train"]["crop"])
    )
    np.testing.assert_allclose(again.astype(np.float16), a["x"][3, 0].numpy())


def test_lr_flip_mirrors_and_identity_is_a_plain_crop(tables):
    _, cohort = tables
    import nibabel as nib

    volume = np.asarray(nib.load(cohort["volume"].iloc[0]).dataobj, np.float32)
    crop = Crop.from_config(settings()["train"]["crop"])
    identity = SampleParams(False, (0, 0, 0), 1.0, (0, 0, 0), 1.0, 1.0, 0.0, 0.0, 0)
    np.testing.assert_allclose(replay(volume, identity, crop), crop(volume), atol=1e-4)
    flipped = replay(volume, SampleParams(True, *list(identity.__dict__.values())[1:]), crop)
    np.testing.assert_allclose(flipped, crop(volume[::-1]), atol=1e-4)


def test_crop_outside_the_grid_or_at_odd_resolution_names_the_key():
    crop = {"centre_mm": [0, 2, 4], "size_mm": [80, 64, 48], "voxel_mm": 4}
    assert Crop.from_config(crop).shape == (20, 16, 12)
    with pytest.raises(InputError, match=r"train.crop .* leaves the canonical grid"):
        Crop.from_config({**crop, "size_mm": [400, 64, 48]}).canonical_box()
    with pytest.raises(InputError, match=r"train.crop.voxel_mm must be a multiple"):
        Crop.from_config({**crop, "voxel_mm": 3}).factor  # noqa: B018 (a property)
