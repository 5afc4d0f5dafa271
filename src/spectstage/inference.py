"""Class probabilities of a trained network: the left-right mirror and the top-k epoch
ensemble, shared by training (validation and test predictions) and `spectstage predict`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


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


def ensemble_probabilities(
    model: nn.Module,
    members: list[dict],
    x: torch.Tensor,
    device: torch.device,
    settings: dict,
) -> np.ndarray:
    """Probabilities averaged over the ensemble's weights (`members`, state_dicts), each
    with the left-right mirror when `tta_flip` is set. `spectstage predict` applies the
    same function to new patients."""
    p = 0.0
    for weights in members:
        model.load_state_dict(weights)
        p = p + predict(model, x, device, settings["batch_size"], settings["tta_flip"])
    return p / len(members)
