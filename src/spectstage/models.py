"""3D classifiers for the striatal crop, chosen by `train.model`.

- `small` (default): three conv blocks and a linear head on the flattened coarse map
  (where uptake is lost is the signal); fast on a laptop CPU.
- `seed`: the usual first attempt re-implemented in torch (Conv3D 32-64-128, dense 256,
  dropout 0.5) - the baseline to beat, same crop, epochs, optimiser and augmentation.
- `densenet121`, `resnet10`: MONAI networks, for GPUs (densenet121 needs a larger crop).
"""

from __future__ import annotations

import torch
from torch import nn

from spectstage.errors import InputError

MODELS = ("small", "seed", "densenet121", "resnet10")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool3d(2, ceil_mode=True),
    )


class SmallCNN(nn.Module):
    """Three conv blocks; the head keeps the coarse spatial layout (flatten, not global
    pooling) because *where* uptake is lost (putamen or caudate, one side or both) is the
    signal."""

    def __init__(
        self,
        n_classes: int,
        input_shape: tuple[int, int, int],
        width: int = 16,
        dropout: float = 0.3,
    ):
        super().__init__()
        self.features = nn.Sequential(
            _block(1, width), _block(width, 2 * width), _block(2 * width, 4 * width)
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, 1, *input_shape)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(n_flat, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SeedCNN(nn.Module):
    """Conv3D 32-64-128 (ReLU, max-pool) -> dense 256 -> dropout 0.5 -> classes."""

    def __init__(self, n_classes: int, input_shape: tuple[int, int, int]):
        super().__init__()
        layers, c_in = [], 1
        for c_out in (32, 64, 128):
            layers += [
                nn.Conv3d(c_in, c_out, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool3d(2, ceil_mode=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, 1, *input_shape)).numel()
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_flat, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(256, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(name: str, n_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """The network, refused with the crop it cannot take (deep nets downsample 32-fold)."""
    if name == "small":
        model = SmallCNN(n_classes, input_shape)
    elif name == "seed":
        model = SeedCNN(n_classes, input_shape)
    elif name == "densenet121":
        from monai.networks.nets import DenseNet121

        model = DenseNet121(spatial_dims=3, in_channels=1, out_channels=n_classes)
    elif name == "resnet10":
        from monai.networks.nets import resnet10

        model = resnet10(spatial_dims=3, n_input_channels=1, num_classes=n_classes)
    else:
        raise InputError(f"train.model: unknown model {name!r} (choose from {', '.join(MODELS)})")
    model.eval()  # a probe, not a training step: batch norm statistics stay untouched
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, *input_shape))
    except RuntimeError as err:
        hint = {"densenet121": "; it needs about 32 voxels per side: voxel_mm 2, size_mm >= 64"}
        raise InputError(
            f"train.model {name} cannot take the {list(input_shape)}-voxel input that "
            f"train.crop gives ({err}): enlarge train.crop.size_mm or lower its voxel_mm"
            + hint.get(name, "")
        ) from err
    return model.train()


LOSSES = ("cross_entropy", "cumulative")


class CumulativeLinkLoss(nn.Module):
    """An ordinal loss on the usual softmax output: for each threshold k between stages,
    the binary cross-entropy of P(stage > k) = sum of the probabilities above k against
    whether the true stage is above k. Confusing stage 4 with 3 costs one threshold,
    with 1 three, so rare stage 4 borrows strength from stage 3; the output stays a
    probability per stage, so prediction, the mirror, calibration and metrics are
    unchanged. `weight`: per-class weights, applied per sample as in cross-entropy."""

    def __init__(self, weight: torch.Tensor | None = None):
        super().__init__()
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits.float(), 1)
        # log P(stage > k) for k = 0..K-2: log-sum-exp over the classes above k
        above = torch.stack(
            [torch.logsumexp(log_p[:, k + 1 :], 1) for k in range(logits.shape[1] - 1)], 1
        )
        below = torch.log1p(-above.exp().clamp(max=1 - 1e-6))
        is_above = (
            target[:, None] > torch.arange(logits.shape[1] - 1, device=logits.device)
        ).float()
        per_sample = -(is_above * above + (1 - is_above) * below).sum(1)
        if self.weight is None:
            return per_sample.mean()
        w = self.weight[target]
        return (w * per_sample).sum() / w.sum()


def build_loss(name: str, weight: torch.Tensor) -> nn.Module:
    if name == "cross_entropy":
        return nn.CrossEntropyLoss(weight=weight)
    if name == "cumulative":
        return CumulativeLinkLoss(weight)
    raise InputError(f"train.loss: unknown loss {name!r} (choose from {', '.join(LOSSES)})")
