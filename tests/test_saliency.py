"""Saliency maps against what a network computes: for a flatten + linear head, the class
score is a sum of per-voxel contributions, which HiResCAM must return."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spectstage.saliency import member_maps


class _Toy(nn.Module):
    """One convolution that keeps the grid, then flatten + linear: the layout of the
    project's networks, small enough to compute each voxel's contribution by hand."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        # "features.2.0", the layer the maps of the `small` network are taken at
        conv = nn.Sequential(nn.Conv3d(1, 3, 3, padding=1), nn.ReLU())
        self.features = nn.Sequential(nn.Identity(), nn.Identity(), conv)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * int(np.prod(shape)), 2))

    def forward(self, x):
        return self.head(self.features(x))


def test_hirescam_gives_each_voxels_contribution_to_the_class_score():
    torch.manual_seed(0)
    shape = (6, 5, 4)
    net = _Toy(shape)
    x = torch.rand(1, 1, *shape)
    with torch.no_grad():
        acti = net.features(x)[0]  # (3, X, Y, Z)
        weights = net.head[1].weight[1].reshape(3, *shape)
        truth = (acti * weights).sum(0).clamp(min=0)
        mirrored = torch.flip(
            (net.features(torch.flip(x, dims=[2]))[0] * weights).sum(0).clamp(min=0), dims=[0]
        )
    ours = member_maps(net, "small", x, 1, "hirescam")[0]
    expected = _normalised(truth) + _normalised(mirrored)
    assert np.corrcoef(ours.numpy().ravel(), expected.numpy().ravel())[0, 1] > 0.999
    # Grad-CAM averages the gradient over space: with a flatten head it loses the map
    gradcam = member_maps(net, "small", x, 1, "gradcam")[0]
    assert np.corrcoef(gradcam.numpy().ravel(), expected.numpy().ravel())[0, 1] < 0.9


def _normalised(m: torch.Tensor) -> torch.Tensor:
    return (m - m.min()) / (m.max() - m.min()) / 2


class _Linear(nn.Module):
    """Flatten + linear: the gradient of class k's score is weight row k, known by hand."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), 3))

    def forward(self, x):
        return self.head(x)


def test_vanillagrad_gives_the_class_scores_input_gradient():
    torch.manual_seed(1)
    shape = (6, 5, 4)
    net = _Linear(shape)
    x = torch.rand(1, 1, *shape)
    weight = net.head[1].weight[2].detach().reshape(shape).abs()
    # the mirrored input's gradient, flipped back onto the scan, is the weight flipped
    expected = _normalised(weight) + _normalised(torch.flip(weight, dims=[0]))
    ours = member_maps(net, "small", x, 2, "vanillagrad")[0]
    assert torch.allclose(ours, expected, atol=1e-6)
    other_class = member_maps(net, "small", x, 0, "vanillagrad")[0]
    assert not torch.allclose(other_class, expected, atol=1e-3)
    assert x.grad is None  # the caller's input is left alone
