"""What a trained fold leaves behind: model.pt (weights, ensemble, model card), the
training scans' fingerprints (kept apart from the model), history.csv and the ensemble's
validation and test probabilities."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from spectstage import torchfiles
from spectstage.atomic import atomic_path
from spectstage.checkpoint import Fitting, TrainState
from spectstage.config import plain
from spectstage.fold_data import FoldData
from spectstage.inference import ensemble_probabilities
from spectstage.model_card import card
from spectstage.provenance import preprocessing_hash

ID_COLUMNS = ["fold", "patient_id", "scan_id", "stage"]
TRAINING_SCANS = "training_scans.pt"


def ensemble_predictions(
    fit: Fitting, state: TrainState, x: torch.Tensor, ids: pd.DataFrame, settings: dict, labels
) -> pd.DataFrame:
    """Probabilities averaged over the best epochs: with a small validation set the single
    best epoch is a noisy choice."""
    members = [member["model"] for member in state.top]
    p = ensemble_probabilities(fit.model, members, x, fit.device, settings)
    table = ids[ID_COLUMNS].reset_index(drop=True)
    for i, label in enumerate(labels):
        table[f"p_{label}"] = p[:, i]
    return table


def model_extras(cfg, labels: list[str], folds_csv: Path, cohort_csv: Path, fold: int) -> dict:
    """What a fold keeps for prediction beside the weights: the card of the settings that
    shape the input (`spectstage.model_card`, in model.pt) and a fingerprint of each
    training and inner-validation scan (training_scans.pt: to warn when a new patient is
    one of them)."""
    from spectstage.cohort import read_table
    from spectstage.folds import read_folds, scan_vectors

    folds = read_folds(folds_csv)
    seen = folds[(folds["fold"] == fold) & (folds["split"] != "test")]
    volumes = read_table(cohort_csv).set_index("scan_id")["volume"]
    return {
        "card": card(cfg, labels, folds_csv, folds["fold"].nunique()),
        "training_scans": {
            "scan_ids": seen["scan_id"].tolist(),
            "vectors": torch.from_numpy(scan_vectors(volumes[seen["scan_id"]])).half(),
        },
    }


def write_outputs(
    out_dir: Path,
    fit: Fitting,
    data: FoldData,
    state: TrainState,
    cfg: dict,
    fold: int,
    extras: dict | None = None,
) -> dict:
    """model.pt (best epoch, the ensemble, metadata and `extras`' card), training_scans.pt
    (`extras`' fingerprints), history.csv, and the ensemble's probabilities for the
    validation (calibration) and test (evaluation) scans."""
    extras = extras or {}
    settings = cfg["train"]
    best = state.history[state.best_epoch - 1]
    meta = {
        "model": settings["model"],
        "input_shape": list(data.x_val.shape[1:]),
        "labels": data.labels,
        "fold": fold,
        "best_epoch": state.best_epoch,
        "monitor": settings["monitor"],
        "val_balanced_accuracy": best["val_balanced_accuracy"],
        "val_loss": best["val_loss"],
        "ensemble_epochs": [t["epoch"] for t in state.top],
        "crop": plain(settings["crop"]),
        "preprocessing_hash": preprocessing_hash(cfg),
        "config": plain(settings),
        **extras.get("card", {}),
    }
    tables = {
        "val_predictions.csv": ensemble_predictions(
            fit, state, data.x_val, data.val, settings, data.labels
        ),
        "test_predictions.csv": ensemble_predictions(
            fit, state, data.x_test, data.test, settings, data.labels
        ),
    }
    model = {
        "state_dict": state.top[0]["model"],  # the best epoch
        "ensemble": [t["model"] for t in state.top],  # what the predictions average
        "meta": meta,
    }
    torchfiles.save(model, out_dir / "model.pt")
    if "training_scans" in extras:
        # Low-resolution images of the training patients: a file of its own, so that a
        # models folder can be shared without them (README: Stage new patients).
        torchfiles.save(extras["training_scans"], out_dir / TRAINING_SCANS)
    else:  # never leave an earlier training's scans beside this model
        (out_dir / TRAINING_SCANS).unlink(missing_ok=True)
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(state.history).to_csv(tmp, index=False)
    for name, table in tables.items():
        with atomic_path(out_dir / name) as tmp:
            table.to_csv(tmp, index=False, float_format="%.8f")
    return meta
