"""Train one CNN for one fold: shard (training patients) -> early stopping on the fold's
inner-validation patients -> probabilities for the fold's validation and test patients.

`train_fold` is the loop, read top to bottom; each step is a small function below it. A
checkpoint (`spectstage.checkpoint`) is written after every epoch outside the rule's
outputs, so a killed job resumes where it stopped and ends with the same weights as an
uninterrupted run on CPU.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spectstage.checkpoint import (
    CHECKPOINT,
    Fitting,
    TrainState,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from spectstage.errors import InputError
from spectstage.fold_data import FoldData, load_fold_data
from spectstage.inference import predict
from spectstage.models import build_loss, build_model
from spectstage.provenance import source_hash
from spectstage.train_outputs import model_extras, write_outputs

log = logging.getLogger(__name__)


def deterministic_algorithms() -> None:
    """torch.use_deterministic_algorithms(True, warn_only=True), less its import of the
    compiler (torch._inductor, for a flag of compiled code: ~2 s of CPU at each start;
    nothing here is compiled). The private call is what the public one makes in the pinned
    torch; another torch without it gets the public call."""
    try:
        torch._C._set_deterministic_algorithms(True, warn_only=True)
    except (AttributeError, TypeError):  # a torch whose private call differs
        torch.use_deterministic_algorithms(True, warn_only=True)
    if not (
        torch.are_deterministic_algorithms_enabled()
        and torch.is_deterministic_algorithms_warn_only_enabled()
    ):
        torch.use_deterministic_algorithms(True, warn_only=True)


def train_fold(
    folds_csv: Path,
    cohort_csv: Path,
    shard_path: Path,
    fold: int,
    out_dir: Path,
    checkpoint_dir: Path,
    cfg: dict,
    threads: int = 1,
) -> dict:
    """Train, early-stop and predict one fold; returns the model's metadata."""
    from tqdm import tqdm

    settings = cfg["train"]
    torch.set_num_threads(threads)
    deterministic_algorithms()
    torch.manual_seed(settings["seed"] + fold)
    device = select_device(settings["device"])
    data = load_fold_data(folds_csv, cohort_csv, shard_path, fold, cfg)
    fit = build_fitting(settings, data, device)
    ckpt_path = checkpoint_dir / CHECKPOINT
    stamp = fingerprint(cfg, shard_path, fold, source_hash("train"))
    state = load_checkpoint(ckpt_path, stamp, fit, data.loader_gen)
    epochs = range(state.epoch, settings["epochs"])
    for _ in tqdm(epochs, desc=f"fold {fold}", unit="epoch", disable=None):
        if state.bad_epochs >= settings["patience"]:
            break
        train_loss, lr = train_epoch(fit, data.loader)
        val_ba, val_loss = validate(fit, data.x_val, data.y_val, settings)
        record_epoch(state, train_loss, val_ba, val_loss, lr)
        score = monitor_score(settings["monitor"], val_ba, val_loss)
        update_best(state, score, fit.model, settings["ensemble_top_k"])
        save_checkpoint(ckpt_path, stamp, fit, data.loader_gen, state)
        log.info(
            "fold %d epoch %d: train loss %.4f, val BA %.3f", fold, state.epoch, train_loss, val_ba
        )
    extras = model_extras(cfg, data.labels, folds_csv, cohort_csv, fold)
    return write_outputs(out_dir, fit, data, state, cfg, fold, extras)


def select_device(preference: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if preference == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if preference == "cuda":
        raise InputError(
            "train.device is cuda but no CUDA device is visible (check CUDA_VISIBLE_DEVICES)"
        )
    return torch.device("cpu")


def amp_enabled(device: torch.device, setting: str = "auto") -> bool:
    """Mixed precision on GPUs only: on CPU it would slow down and change the numbers."""
    if setting == "off":
        return False
    if setting == "on" and device.type != "cuda":
        raise InputError("train.amp is on but training runs on the CPU")
    return device.type == "cuda"


def build_fitting(settings: dict, data: FoldData, device: torch.device) -> Fitting:
    """Model, class-weighted loss (`train.loss`, weights from the shard), AdamW, cosine
    schedule."""
    n_classes = len(data.labels)
    model = build_model(settings["model"], n_classes, tuple(data.x_val.shape[2:])).to(device)
    counts = data.class_counts.float().clamp(min=1)
    loss_fn = build_loss(settings["loss"], (counts.sum() / counts / n_classes).to(device))
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"]
    )
    use_amp = amp_enabled(device, settings["amp"])
    return Fitting(
        model=model,
        loss_fn=loss_fn,
        optimiser=optimiser,
        scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=settings["epochs"]),
        scaler=torch.amp.GradScaler(device.type, enabled=use_amp),
        device=device,
        use_amp=use_amp,
    )


def train_epoch(fit: Fitting, loader: torch.utils.data.DataLoader) -> tuple[float, float]:
    """One pass over the shard; (mean training loss, learning rate used)."""
    fit.model.train()
    total, n = 0.0, 0
    for xb, yb in loader:
        xb, yb = xb.to(fit.device), yb.to(fit.device)
        fit.optimiser.zero_grad(set_to_none=True)
        with torch.autocast(fit.device.type, enabled=fit.use_amp):
            loss = fit.loss_fn(fit.model(xb), yb)
        fit.scaler.scale(loss).backward()
        fit.scaler.step(fit.optimiser)
        fit.scaler.update()
        total, n = total + loss.item() * len(yb), n + len(yb)
    lr = fit.optimiser.param_groups[0]["lr"]
    fit.scheduler.step()
    return total / n, lr


def validate(
    fit: Fitting, x_val: torch.Tensor, y_val: np.ndarray, settings: dict
) -> tuple[float, float]:
    """(balanced accuracy, mean negative log-likelihood) on the inner-validation scans."""
    from sklearn.metrics import balanced_accuracy_score

    p_val = predict(fit.model, x_val, fit.device, settings["batch_size"], settings["tta_flip"])
    score = float(balanced_accuracy_score(y_val, p_val.argmax(1)))
    log_p = torch.log(torch.from_numpy(p_val) + 1e-12)
    return score, float(nn.functional.nll_loss(log_p, torch.from_numpy(y_val)))


def monitor_score(monitor: str, val_balanced_accuracy: float, val_loss: float) -> list[float]:
    """What early stopping and the best-epoch choice maximise, compared as a list: the
    monitored quantity first, the other one breaking ties. Balanced accuracy over a few
    dozen validation patients moves in coarse steps and ties often; the validation loss
    is smooth, so it also tells apart epochs that classify the same patients."""
    if monitor == "loss":
        return [-val_loss, val_balanced_accuracy]
    return [val_balanced_accuracy, -val_loss]


def record_epoch(
    state: TrainState, train_loss: float, val_ba: float, val_loss: float, lr: float
) -> None:
    state.epoch += 1
    state.history.append(
        {
            "epoch": state.epoch,
            "train_loss": round(train_loss, 6),
            "val_loss": round(val_loss, 6),
            "val_balanced_accuracy": round(val_ba, 6),
            "lr": lr,
        }
    )


def update_best(state: TrainState, score: list[float], model: nn.Module, keep: int) -> None:
    """Early-stopping bookkeeping for the epoch just recorded, and the `keep` best epochs
    (best first; the earlier epoch wins a tie) whose weights the predictions average."""
    if state.best_score is None or score > state.best_score:
        state.best_score, state.best_epoch, state.bad_epochs = score, state.epoch, 0
    else:
        state.bad_epochs += 1
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    top = [*state.top, {"score": score, "epoch": state.epoch, "model": weights}]
    state.top = sorted(top, key=lambda t: ([-v for v in t["score"]], t["epoch"]))[:keep]
