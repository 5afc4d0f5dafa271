"""Reading and writing torch files (shards, checkpoints, models) safely.

Loading takes tensors and plain data only (`weights_only=True`): a pickle carrying code,
from a tampered or foreign file, is refused and never run. Saving serialises in memory
first, so a full disk surfaces as the same clear error as for every other output.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch

from spectstage.atomic import atomic_path
from spectstage.errors import InputError


def load(path: Path) -> dict:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        raise InputError(
            f"{path}: refused: it holds more than tensors and plain data, so it was not "
            f"written by spectstage or was altered ({str(err).splitlines()[0]})"
        ) from err


def save(obj: dict, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)  # torch reports a failed file write as RuntimeError, not OSError
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
