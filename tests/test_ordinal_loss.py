"""`train.loss: cumulative`: an ordinal loss that still trains a softmax over stages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spectstage.models import CumulativeLinkLoss, build_loss


def by_hand(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean over samples of -sum_k log P(right side of threshold k)."""
    total = 0.0
    for pi, yi in zip(p, y, strict=True):
        above = np.array([pi[k + 1 :].sum() for k in range(len(pi) - 1)])
        total += w[yi] * -np.sum(
            np.where(yi > np.arange(len(pi) - 1), np.log(above), np.log(1 - above))
        )
    return total / w[y].sum()


def test_loss_is_the_cumulative_binary_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(7, 4), torch.tensor([0, 1, 2, 3, 3, 1, 0])
    w = torch.tensor([1.0, 0.5, 1.0, 3.0])
    p = torch.softmax(logits, 1).numpy().astype(np.float64)
    expected = by_hand(p, y.numpy(), w.numpy().astype(np.float64))
    assert CumulativeLinkLoss(w)(logits, y).item() == pytest.approx(expected, rel=1e-5)


def test_a_near_miss_costs_less_than_a_far_one_unlike_cross_entropy():
    near = torch.log(torch.tensor([[0.05, 0.05, 0.85, 0.05]]))  # true stage 4, says 3
    far = torch.log(torch.tensor([[0.85, 0.05, 0.05, 0.05]]))  # says 1
    y = torch.tensor([3])
    ordinal, ce = build_loss("cumulative", None), build_loss("cross_entropy", None)
    assert ordinal(near, y) < ordinal(far, y)
    assert ce(near, y).item() == pytest.approx(ce(far, y).item())
    loss = ordinal(near.clone().requires_grad_(), y)
    loss.backward()  # differentiable
