"""Training state and its checkpoint: everything a killed training job needs to resume.

The checkpoint holds plain types only (tensors, numbers, lists, dicts), so it loads with
`torch.load(weights_only=True)`. It is written after every epoch, atomically, outside the
rule's outputs; a fingerprint of the settings, the shard and the code guards against
resuming weights that other settings or other data produced.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from spectstage.atomic import atomic_path
from spectstage.config import plain

log = logging.getLogger(__name__)
CHECKPOINT = "last.pt"


@dataclass
class TrainState:
    """What changes from epoch to epoch, besides the weights and the optimiser."""

    epoch: int = 0  # epochs done
    history: list[dict] = field(default_factory=list)  # one row per epoch (history.csv)
    best_score: list[float] | None = None  # monitor_score of the best epoch
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs in a row that did not beat the best
    top: list[dict] = field(default_factory=list)  # best epochs: {"score", "epoch", "model"}


@dataclass
class Fitting:
    """The model and what updates it; one object so steps take one argument."""

    model: torch.nn.Module
    loss_fn: torch.nn.Module
    optimiser: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    use_amp: bool


def fingerprint(cfg: dict, shard: Path, fold: int, code: str) -> str:
    """What a checkpoint must match to be resumed: settings, training data, fold, code."""
    settings = {k: plain(cfg[k]) for k in ("stages", "augment", "train")}
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    h.update(shard.read_bytes())
    h.update(str(fold).encode())
    h.update(code.encode())  # changed code must not resume old weights
    return h.hexdigest()


def rng_state(loader_gen: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "loader": loader_gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, loader_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    loader_gen.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: Path, fingerprint: str, fit: Fitting, loader_gen: torch.Generator, state: TrainState
) -> None:
    checkpoint = {
        "fingerprint": fingerprint,
        "model": fit.model.state_dict(),
        "optimiser": fit.optimiser.state_dict(),
        "scheduler": fit.scheduler.state_dict(),
        "scaler": fit.scaler.state_dict(),
        "rng": rng_state(loader_gen),
        "state": dict(vars(state)),
    }
    with atomic_path(path) as tmp:
        torch.save(checkpoint, tmp)


def load_checkpoint(
    path: Path, fingerprint: str, fit: Fitting, loader_gen: torch.Generator
) -> TrainState:
    """The saved state, restored into `fit` and `loader_gen`; a fresh state when there is
    no checkpoint or it comes from other settings, data or code."""
    if not path.exists():
        return TrainState()
    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    if ckpt["fingerprint"] != fingerprint:
        log.info("%s is from other settings or data; starting afresh", path)
        return TrainState()
    fit.model.load_state_dict(ckpt["model"])
    fit.optimiser.load_state_dict(ckpt["optimiser"])
    fit.scheduler.load_state_dict(ckpt["scheduler"])
    fit.scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"], loader_gen)
    state = TrainState(**ckpt["state"])
    log.info("resuming after epoch %d from %s", state.epoch, path)
    return state
