"""A trained models folder (`results/models/fold_<k>/model.pt`) as one fold ensemble.

Every fold's card (`spectstage.model_card`) must come from one training run, with this
installation's preprocessing version and template; otherwise prediction is refused with
the differing key named. Nothing but tensors and plain data is loaded (`torchfiles`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spectstage import torchfiles
from spectstage.config import plain, stage_labels
from spectstage.errors import InputError
from spectstage.model_card import (
    PREPROCESSING_VERSION,
    check_against,
    check_folds,
    input_settings,
    template_checksum,
)

FOLD_DIR = re.compile(r"^fold_(\d+)$")


@dataclass
class FoldModel:
    fold: int
    meta: dict
    network: torch.nn.Module
    members: list[dict]  # the top-k epochs' weights the fold's test predictions averaged


@dataclass
class Ensemble:
    card: dict
    folds: list[FoldModel]
    training_ids: list[str]  # training and inner-validation scans of any fold
    # their duplicate-check fingerprints (folds.scan_vectors); None: not shipped
    training_vectors: np.ndarray | None

    @property
    def labels(self) -> list[str]:
        return list(self.card["labels"])


def _read(path: Path, fold: int) -> dict:
    model = torchfiles.load(path)
    if not isinstance(model, dict) or "meta" not in model or "ensemble" not in model:
        raise InputError(f"{path}: not a spectstage model (no meta / ensemble)")
    if model["meta"].get("fold") != fold:
        raise InputError(
            f"{path}: holds fold {model['meta'].get('fold')!r} but sits in fold_{fold}/"
        )
    return model


def _network(meta: dict, labels: list[str]) -> torch.nn.Module:
    from spectstage.models import build_model

    shape = tuple(meta["input_shape"][1:])  # (channel, x, y, z)
    return build_model(meta["model"], len(labels), shape)


def load_ensemble(models_dir: Path) -> Ensemble:
    """Every fold of `models_dir`, checked to form one training run (missing or mixed
    folds are refused)."""
    if not models_dir.is_dir():
        raise InputError(f"--models {models_dir}: no such folder")
    raw = {}
    for folder in sorted(models_dir.iterdir()):
        match = FOLD_DIR.match(folder.name)
        if match and (folder / "model.pt").is_file():
            raw[int(match.group(1))] = _read(folder / "model.pt", int(match.group(1)))
    card = check_folds({k: m["meta"] for k, m in raw.items()}, models_dir)
    labels = list(card["labels"])
    folds = []
    for fold, model in sorted(raw.items()):
        network = _network(model["meta"], labels)
        network.load_state_dict(model["ensemble"][0])
        folds.append(FoldModel(fold, model["meta"], network, list(model["ensemble"])))
    ids, vectors = _training_scans(models_dir, raw)
    return Ensemble(card, folds, ids, vectors)


def _training_scans(models_dir: Path, raw: dict[int, dict]) -> tuple[list[str], np.ndarray | None]:
    """The fingerprints of every fold's training and inner-validation scans, for the
    duplicate check, from training_scans.pt (or, for models trained before it existed,
    model.pt); None when a fold has neither (a models folder shared without them)."""
    from spectstage.train_outputs import TRAINING_SCANS

    ids: dict[str, int] = {}
    vectors = []
    for fold, model in sorted(raw.items()):
        path = models_dir / f"fold_{fold}" / TRAINING_SCANS
        if path.is_file():
            seen = torchfiles.load(path)
        elif "training_scans" in model:
            seen = model["training_scans"]
        else:
            return [], None
        for sid, vec in zip(seen["scan_ids"], seen["vectors"], strict=True):
            if sid not in ids:
                ids[sid] = len(vectors)
                vectors.append(vec.float().numpy())
    return list(ids), np.stack(vectors) if vectors else np.zeros((0, 1), np.float32)


def preparation(ensemble: Ensemble, user_cfg: Mapping | None) -> dict:
    """The config ingest runs with: the models' own settings, or the user's config once
    it is checked to prepare scans the same way. Slice conventions describe how another
    site's image files are read, so the user's config may change them."""
    card = ensemble.card
    cfg = {
        "stages": card["labels"],
        "slices": card["slices"],
        "ingest": {**card["ingest"], "batches": 1},
        "train": {"crop": card["crop"]},
        "pseudonymise": bool(card.get("pseudonymise", False)),
        "exclude": [],
    }
    if user_cfg is not None:
        given = {"labels": stage_labels(user_cfg), **input_settings(user_cfg)}
        check_against(card, given, Path("--config"))
        cfg["slices"] = plain(user_cfg["slices"])
        cfg["pseudonymise"] = bool(user_cfg["pseudonymise"])
    return cfg


def check_installation(ensemble: Ensemble, tmpl, models_dir: Path) -> None:
    """This installation must make the volumes the models were trained on."""
    here = {
        "preprocessing_version": PREPROCESSING_VERSION,
        "template_checksum": template_checksum(tmpl),
        "grid": {"shape": list(tmpl.grid.shape), "affine": np.asarray(tmpl.grid.affine).tolist()},
    }
    check_against(ensemble.card, here, models_dir)
