"""What a trained model applies to: the settings that shape its input, recorded in model.pt.

A model only stages scans made exactly like its training scans: the same canonical grid,
template and atlas, ingest settings, crop and class labels. Training records them (the
"card"); `spectstage predict` compares the cards of every fold with each other and with
this installation and refuses, naming the key, what would give wrong answers.

The canonical volumes are versioned by a declared number, not by a hash of the source
code: a refactor that leaves the volumes unchanged must not invalidate trained models.
tests/test_predict_golden.py turns a fixed input into its canonical volume and compares it
with a stored checksum, so a change that does alter the volumes fails there until
PREPROCESSING_VERSION is raised (and the stored checksum renewed).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from spectstage.config import plain
from spectstage.errors import InputError

#: Version of the canonical volumes ingest writes (reading, registration, resampling,
#: reference normalisation). Raise it with any change that alters them.
# 2: SimpleITK resampling, binning and 30 iterations (stop 13); 3: the striatal binding
# model fitted only inside a partial stack (its poses move by up to ~0.1 mm).
PREPROCESSING_VERSION = 3

#: Card keys every fold's model must share, and that the input must be prepared with.
SHAPING_KEYS = (
    "preprocessing_version",
    "labels",
    "grid",
    "template_checksum",
    "ingest",
    "crop",
    "n_folds",
    "folds_sha256",
)


def template_checksum(tmpl) -> str:
    """Checksum of the template's content (image, atlas, region names), not its code."""
    h = hashlib.sha256(np.ascontiguousarray(tmpl.image, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(tmpl.atlas, dtype=np.int16).tobytes())
    h.update(json.dumps({str(k): v for k, v in sorted(tmpl.labels.items())}).encode())
    return h.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def input_settings(cfg) -> dict:
    """The parts of a config that shape a model's input (ingest jobs excluded)."""
    return {
        "ingest": {k: v for k, v in plain(cfg["ingest"]).items() if k != "batches"},
        "crop": plain(cfg["train"]["crop"]),
    }


def card(cfg, labels: list[str], folds_csv: Path, n_folds: int) -> dict:
    """The card training writes into model.pt."""
    from spectstage.template import load

    tmpl = load(cfg["ingest"])
    return {
        "preprocessing_version": PREPROCESSING_VERSION,
        "labels": list(labels),
        "grid": {"shape": list(tmpl.grid.shape), "affine": np.asarray(tmpl.grid.affine).tolist()},
        "template_checksum": template_checksum(tmpl),
        "template_source": tmpl.source,
        # How slice images were read: it describes the files, so another site may differ.
        "slices": plain(cfg["slices"]),
        **input_settings(cfg),
        "n_folds": int(n_folds),
        "folds_sha256": file_sha256(folds_csv),
        # Trained on pseudonymised IDs: new patients are pseudonymised too, unless told.
        "pseudonymise": bool(cfg["pseudonymise"]),
    }


def check_folds(cards: dict[int, dict], where: Path) -> dict:
    """The cards of a models folder (fold -> card), refused unless they hold folds
    0..n-1 of one training run; returns the shared card."""
    if not cards:
        raise InputError(f"{where}: no fold_<k>/model.pt found")
    for fold, meta in sorted(cards.items()):
        absent = [k for k in SHAPING_KEYS if k not in meta]
        if absent:
            raise InputError(
                f"{where}/fold_{fold}/model.pt: no {absent[0]!r} recorded (trained by an "
                "older spectstage); train again"
            )
    first_fold = min(cards)
    first = cards[first_fold]
    for fold, meta in sorted(cards.items()):
        for key in SHAPING_KEYS:
            if meta[key] != first[key]:
                raise InputError(
                    f"{where}: mixed models: fold {fold} differs from fold {first_fold} in "
                    f"{key!r} ({_short(meta[key])} vs {_short(first[key])}); use the folds "
                    "of one training run"
                )
    expected = list(range(first["n_folds"]))
    if sorted(cards) != expected:
        missing = sorted(set(expected) - set(cards))
        extra = sorted(set(cards) - set(expected))
        raise InputError(
            f"{where}: the models were trained as {first['n_folds']} folds (n_folds) but "
            f"folds {missing} are missing" + (f" and {extra} unexpected" if extra else "")
        )
    return first


def check_against(model_card: dict, here: dict, where: Path) -> None:
    """Refuse when this installation or the given config would prepare the input
    differently from the models' training (`here` holds the keys to compare)."""
    for key, value in here.items():
        if model_card[key] != value:
            raise InputError(
                f"{where}: the models differ from this input preparation in {key!r}: "
                f"trained with {_short(model_card[key])}, here {_short(value)}" + HINTS.get(key, "")
            )


HINTS = {
    "preprocessing_version": (
        "; the canonical volumes changed since training: train again with this version"
    ),
    "labels": "; set `stages` to the models' labels or train again",
    "template_checksum": "; ingest uses another template or atlas than training did",
    "ingest": "; use the training's ingest settings (or predict without --config)",
    "crop": "; use the training's train.crop (or predict without --config)",
}


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
