"""A fold's model inputs: the training shard (checked against folds.csv) and the
un-augmented striatal crops of the fold's inner-validation and test scans."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spectstage.cohort import read_table
from spectstage.config import stage_labels
from spectstage.crop import Crop, load_crops
from spectstage.errors import InputError
from spectstage.folds import fold_split, read_folds


@dataclass
class FoldData:
    """A fold's model inputs: the shard's samples for training, un-augmented crops of the
    inner-validation and test scans."""

    labels: list[str]
    loader: torch.utils.data.DataLoader
    loader_gen: torch.Generator  # the shuffling order, part of the checkpoint
    class_counts: torch.Tensor
    val: pd.DataFrame
    x_val: torch.Tensor
    y_val: np.ndarray
    test: pd.DataFrame
    x_test: torch.Tensor


def load_shard(path: Path, train: pd.DataFrame, fold: int, labels: list[str]) -> dict:
    """The fold's training shard, refused unless its samples come from exactly the fold's
    training scans, with their stages (a shard made from other folds would leak)."""
    shard = torch.load(path, weights_only=True)
    if "scan_ids" not in shard:
        raise InputError(
            f"{path}: shard without source scan IDs (older version); run augment again"
        )
    if shard["labels"] != labels or shard["fold"] != fold:
        raise InputError(
            f"{path}: shard of fold {shard['fold']} with labels {shard['labels']}, "
            f"expected fold {fold} with {labels}"
        )
    stage_of = train.set_index("scan_id")["stage"]
    foreign = sorted(set(shard["scan_ids"]) - set(stage_of.index))
    missing = sorted(set(stage_of.index) - set(shard["scan_ids"]))
    if foreign or missing:
        raise InputError(
            f"{path}: the shard is stale, run augment again: samples from scans that are not "
            f"training scans of fold {fold} in folds.csv: {foreign[:10]}; training scans "
            f"without samples: {missing[:10]}"
        )
    expected = [labels.index(stage_of[s]) for s in shard["scan_ids"]]
    if shard["y"].tolist() != expected:
        raise InputError(
            f"{path}: sample labels differ from the stages in folds.csv; run augment again"
        )
    return shard


def load_fold_data(
    folds_csv: Path, cohort_csv: Path, shard_path: Path, fold: int, cfg: dict
) -> FoldData:
    settings = cfg["train"]
    folds = read_folds(folds_csv)
    volumes = read_table(cohort_csv).set_index("scan_id")["volume"]
    labels = stage_labels(cfg)
    shard = load_shard(shard_path, fold_split(folds, fold, "train"), fold, labels)
    val, test = fold_split(folds, fold, "val"), fold_split(folds, fold, "test")
    crop = Crop.from_config(settings["crop"])
    dataset = torch.utils.data.TensorDataset(shard["x"].float(), shard["y"])
    loader_gen = torch.Generator().manual_seed(settings["seed"] + fold)
    loader = torch.utils.data.DataLoader(
        dataset, settings["batch_size"], shuffle=True, generator=loader_gen
    )
    return FoldData(
        labels=labels,
        loader=loader,
        loader_gen=loader_gen,
        class_counts=torch.bincount(shard["y"], minlength=len(labels)),
        val=val.reset_index(drop=True),
        x_val=torch.from_numpy(load_crops(volumes[val["scan_id"]], crop)),
        y_val=np.array([labels.index(s) for s in val["stage"]]),
        test=test.reset_index(drop=True),
        x_test=torch.from_numpy(load_crops(volumes[test["scan_id"]], crop)),
    )
