"""Train one CNN for one fold: shard (training patients) -> early stopping on the fold's
inner-validation patients -> probabilities for the fold's test patients.

Read top to bottom: device, data, model, then the epoch loop. A checkpoint with every
piece of state (RNG included, in plain types loadable with weights_only=True) is written
after each epoch outside the rule's outputs, so a killed job resumes where it stopped
and ends with the same weights as an uninterrupted run on CPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from spectstage.atomic import atomic_path
from spectstage.cohort import read_table
from spectstage.config import stage_labels
from spectstage.crop import Crop, load_crops
from spectstage.errors import InputError
from spectstage.folds import fold_split, read_folds
from spectstage.models import build_model
from spectstage.provenance import preprocessing_hash, source_hash

log = logging.getLogger(__name__)
CHECKPOINT = "last.pt"


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


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y_true, y_pred))


def monitor_score(monitor: str, val_balanced_accuracy: float, val_loss: float) -> list[float]:
    """What early stopping and the best-epoch choice maximise, compared as a list: the
    monitored quantity first, the other one breaking ties. Balanced accuracy over a few
    dozen validation patients moves in coarse steps and ties often; the validation loss
    is smooth, so it also tells apart epochs that classify the same patients."""
    if monitor == "loss":
        return [-val_loss, val_balanced_accuracy]
    return [val_balanced_accuracy, -val_loss]


def _fingerprint(cfg: dict, shard: Path, fold: int) -> str:
    """What the checkpoint must match to be resumed (settings and training data)."""
    h = hashlib.sha256(
        json.dumps({k: cfg[k] for k in ("stages", "augment", "train")}, sort_keys=True).encode()
    )
    h.update(shard.read_bytes())
    h.update(str(fold).encode())
    h.update(source_hash("train").encode())  # changed code must not resume old weights
    return h.hexdigest()


def _rng_state(loader_gen: torch.Generator) -> dict:
    state = {"torch": torch.get_rng_state(), "loader": loader_gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, loader_gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    loader_gen.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int, tta_flip: bool
) -> np.ndarray:
    """Class probabilities; with tta_flip, averaged with the left-right mirrored input
    (valid because training already flips left-right)."""
    model.eval()
    probs = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(device)
        p = torch.softmax(model(xb).float(), 1)
        if tta_flip:
            p = (p + torch.softmax(model(torch.flip(xb, dims=[2])).float(), 1)) / 2
        probs.append(p.cpu())
    return torch.cat(probs).numpy().astype(np.float64)


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
    from tqdm import tqdm

    settings = cfg["train"]
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(settings["seed"] + fold)
    device = select_device(settings["device"])
    use_amp = amp_enabled(device, settings["amp"])

    # --- data: the shard for training; un-augmented crops for validation and test ------------
    folds = read_folds(folds_csv)
    volumes = read_table(cohort_csv).set_index("scan_id")["volume"]
    labels = stage_labels(cfg)
    shard = load_shard(shard_path, fold_split(folds, fold, "train"), fold, labels)
    val, test = fold_split(folds, fold, "val"), fold_split(folds, fold, "test")
    crop = Crop.from_config(settings["crop"])
    x_val = torch.from_numpy(load_crops(volumes[val["scan_id"]], crop))
    y_val = np.array([labels.index(s) for s in val["stage"]])
    x_test = torch.from_numpy(load_crops(volumes[test["scan_id"]], crop))
    dataset = torch.utils.data.TensorDataset(shard["x"].float(), shard["y"])
    loader_gen = torch.Generator().manual_seed(settings["seed"] + fold)
    loader = torch.utils.data.DataLoader(
        dataset, settings["batch_size"], shuffle=True, generator=loader_gen
    )

    # --- model, loss (class weights from the shard), optimiser, schedule -------------------
    model = build_model(settings["model"], len(labels), tuple(x_val.shape[2:])).to(device)
    counts = torch.bincount(shard["y"], minlength=len(labels)).float().clamp(min=1)
    loss_fn = nn.CrossEntropyLoss(weight=(counts.sum() / counts / len(labels)).to(device))
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings["lr"], weight_decay=settings["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=settings["epochs"])
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)

    # --- resume -----------------------------------------------------------------------------
    fingerprint = _fingerprint(cfg, shard_path, fold)
    ckpt_path = checkpoint_dir / CHECKPOINT
    state = {
        "epoch": 0,
        "history": [],
        "best_score": None,
        "best_epoch": 0,
        "bad_epochs": 0,
        "top": [],  # the best epochs so far: {"score", "epoch", "model"}, best first
    }
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True, map_location="cpu")
        if ckpt["fingerprint"] == fingerprint:
            model.load_state_dict(ckpt["model"])
            optimiser.load_state_dict(ckpt["optimiser"])
            scheduler.load_state_dict(ckpt["scheduler"])
            scaler.load_state_dict(ckpt["scaler"])
            _set_rng_state(ckpt["rng"], loader_gen)
            state = ckpt["state"]
            log.info("fold %d: resuming after epoch %d from %s", fold, state["epoch"], ckpt_path)
        else:
            log.info("fold %d: %s is from other settings or data; starting afresh", fold, ckpt_path)

    # --- the epoch loop ---------------------------------------------------------------------
    epochs = tqdm(
        range(state["epoch"], settings["epochs"]), desc=f"fold {fold}", unit="epoch", disable=None
    )
    for epoch in epochs:
        if state["bad_epochs"] >= settings["patience"]:
            break
        model.train()
        total, n = 0.0, 0
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            optimiser.zero_grad(set_to_none=True)
            with torch.autocast(device.type, enabled=use_amp):
                loss = loss_fn(model(xb), yb)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            total, n = total + loss.item() * len(yb), n + len(yb)
        lr = optimiser.param_groups[0]["lr"]
        scheduler.step()
        p_val = predict(model, x_val, device, settings["batch_size"], settings["tta_flip"])
        score = balanced_accuracy(y_val, p_val.argmax(1))
        val_loss = float(
            nn.functional.nll_loss(
                torch.log(torch.from_numpy(p_val) + 1e-12), torch.from_numpy(y_val)
            )
        )
        state["history"].append(
            {
                "epoch": epoch + 1,
                "train_loss": round(total / n, 6),
                "val_loss": round(val_loss, 6),
                "val_balanced_accuracy": round(score, 6),
                "lr": lr,
            }
        )
        ranking = monitor_score(settings["monitor"], score, val_loss)
        if state["best_score"] is None or ranking > state["best_score"]:
            state.update(best_score=ranking, best_epoch=epoch + 1, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        top = [*state["top"], {"score": ranking, "epoch": epoch + 1, "model": weights}]
        state["top"] = sorted(top, key=lambda t: ([-v for v in t["score"]], t["epoch"]))[
            : settings["ensemble_top_k"]
        ]
        state["epoch"] = epoch + 1
        epochs.set_postfix(loss=f"{total / n:.3f}", val_ba=f"{score:.3f}")
        log.info(
            "fold %d epoch %d: train loss %.4f, val BA %.3f", fold, epoch + 1, total / n, score
        )
        checkpoint = {
            "fingerprint": fingerprint,
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": _rng_state(loader_gen),
            "state": state,
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(checkpoint, tmp)

    # --- outputs: best weights + metadata, history, test probabilities ----------------------
    # Test probabilities average the best few epochs: with a small validation set the single
    # best epoch is a noisy choice.
    p_test = np.zeros((len(x_test), len(labels)))
    for member in state["top"]:
        model.load_state_dict(member["model"])
        p_test += predict(model, x_test, device, settings["batch_size"], settings["tta_flip"])
    p_test /= len(state["top"])
    predictions = test[["fold", "patient_id", "scan_id", "stage"]].reset_index(drop=True)
    for i, label in enumerate(labels):
        predictions[f"p_{label}"] = p_test[:, i]
    best = state["history"][state["best_epoch"] - 1]
    meta = {
        "model": settings["model"],
        "input_shape": list(x_val.shape[1:]),
        "labels": labels,
        "fold": fold,
        "best_epoch": state["best_epoch"],
        "monitor": settings["monitor"],
        "val_balanced_accuracy": best["val_balanced_accuracy"],
        "val_loss": best["val_loss"],
        "ensemble_epochs": [t["epoch"] for t in state["top"]],
        "crop": settings["crop"],
        "preprocessing_hash": preprocessing_hash(cfg),
        "config": cfg["train"],
    }
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(
            {
                "state_dict": state["top"][0]["model"],  # the best epoch
                "ensemble": [t["model"] for t in state["top"]],  # what test predictions average
                "meta": meta,
            },
            tmp,
        )
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(state["history"]).to_csv(tmp, index=False)
    with atomic_path(out_dir / "test_predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False, float_format="%.8f")
    return meta
