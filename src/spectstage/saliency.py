"""Saliency of a prediction on MONAI: the input gradient (the default), HiResCAM or
Grad-CAM, averaged over every fold's ensemble.

For each fold, each of its top-k epochs and the left-right mirror (exactly the models and
inputs the prediction averages), the map of the predicted stage on the crop (the CAMs at the
network's last convolution, upsampled); each map is scaled to [0, 1], the maps are averaged
and put back on the canonical grid (zero outside the crop), so that they overlay the
canonical volume and the atlas. Written as NIfTI and as a PNG of coronal and axial slices
with orientation letters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spectstage.atomic import atomic_path
from spectstage.crop import Crop
from spectstage.predict_models import Ensemble

#: The input gradient (the default: `_input_gradient` says why), HiResCAM or Grad-CAM
#: (`_cam_class` says how they differ).
METHODS = ("vanillagrad", "hirescam", "gradcam")
#: What each method's map is called in figure titles.
TITLES = {"vanillagrad": "input gradient", "hirescam": "HiResCAM", "gradcam": "Grad-CAM"}
#: The last convolution of each network (Grad-CAM's usual layer).
TARGET_LAYERS = {
    "small": "features.2.0",
    "seed": "features.6",
    "resnet10": "layer4",
    "densenet121": "features.denseblock4",
}


def _cam_class(method: str):
    """MONAI's Grad-CAM, or HiResCAM on MONAI's Grad-CAM machinery (hooks, upsampling).

    Grad-CAM weighs each channel by its gradient averaged over space. The networks here end
    in flatten + linear (where uptake is lost is the signal), so the gradient differs per
    voxel and averaging it throws the location away; HiResCAM multiplies activation and
    gradient voxel by voxel, which for such a head is exactly each voxel's contribution to
    the class score (Draelos & Carin, 2020)."""
    from monai.visualize import GradCAM

    if method == "gradcam":
        return GradCAM

    class HiResCAM(GradCAM):
        def compute_map(self, x, class_idx=None, retain_graph=False, layer_idx=-1, **kwargs):
            _, acti, grad = self.nn_module(x, class_idx=class_idx, retain_graph=retain_graph)
            contribution = (acti[layer_idx] * grad[layer_idx]).sum(1, keepdim=True)
            return torch.nn.functional.relu(contribution)

    if method == "hirescam":
        return HiResCAM
    raise ValueError(f"saliency method {method!r}: use one of {METHODS}")


def _zero_to_one(maps: torch.Tensor) -> torch.Tensor:
    """Each map scaled to [0, 1], most salient 1. (MONAI's default post-processing maps
    the maximum to 0: it flips magnitudes, as its docstring warns.)"""
    flat = maps.flatten(1)
    low, high = flat.min(1).values, flat.max(1).values
    scale = torch.where(high > low, high - low, torch.ones_like(high))
    shape = (-1, *[1] * (maps.dim() - 1))
    return (maps - low.view(shape)) / scale.view(shape)


def _input_gradient(network: torch.nn.Module):
    """|d class score / d input voxel| (Simonyan et al. 2014; MONAI's VanillaGrad), in [0, 1].

    The default because it answers what the maps are read for: where a change of uptake
    would change the stage. On early (one-sided) scans that is the worse side, where the
    loss is; HiResCAM and Grad-CAM show where activations (remaining uptake) are large and
    point at the better-preserved side (README, `benchmarks/saliency.py`)."""
    from monai.visualize import VanillaGrad

    gradient = VanillaGrad(network)

    def maps(x: torch.Tensor, class_idx: int) -> torch.Tensor:
        one = x.detach().clone()  # VanillaGrad sets requires_grad on its input
        return _zero_to_one(gradient(one, index=class_idx).abs())

    return maps


def member_maps(
    network: torch.nn.Module, model: str, x: torch.Tensor, classes, method: str = METHODS[0]
) -> torch.Tensor:
    """(n, X, Y, Z) saliency maps of `classes` for x and for its mirror (flipped back)."""
    network.eval()
    if method == "vanillagrad":
        cam = _input_gradient(network)
    else:
        cam = _cam_class(method)(
            nn_module=network, target_layers=TARGET_LAYERS[model], postprocessing=_zero_to_one
        )
    with torch.enable_grad():
        direct = cam(x, class_idx=classes)
        mirrored = torch.flip(cam(torch.flip(x, dims=[2]), class_idx=classes), dims=[2])
    return ((direct + mirrored) / 2)[:, 0].detach()


def crop_saliency(
    ensemble: Ensemble, crops: np.ndarray, classes: np.ndarray, method: str = METHODS[0]
) -> np.ndarray:
    """(n, X, Y, Z) on the crop: the mean over folds and their ensemble members."""
    x = torch.from_numpy(crops)
    total, count = 0.0, 0
    for fold in ensemble.folds:
        for weights in fold.members:
            fold.network.load_state_dict(weights)
            for i in range(len(x)):  # Grad-CAM takes one class for the whole batch
                one = x[i : i + 1]
                maps = member_maps(fold.network, fold.meta["model"], one, int(classes[i]), method)
                if isinstance(total, float):
                    total = torch.zeros((len(x), *maps.shape[1:]))
                total[i] += maps[0]
            count += 1
    return (total / count).numpy()


def to_canonical(crop_map: np.ndarray, crop: Crop) -> np.ndarray:
    """A map on the crop's voxels spread back onto the canonical grid (zero outside)."""
    full = np.zeros(crop.grid.shape, dtype=np.float32)
    f = crop.factor
    up = crop_map.repeat(f, 0).repeat(f, 1).repeat(f, 2)
    full[crop.canonical_box()] = up  # the box holds whole input voxels
    return full


def write_saliency(saliency: np.ndarray, volume: np.ndarray, tmpl, title: str, stem: Path):
    """stem.nii.gz (the map on the canonical grid) and stem.png (overlay on the scan)."""
    import nibabel as nib

    img = nib.Nifti1Image(saliency.astype(np.float32), tmpl.affine)
    img.header.set_xyzt_units("mm")
    with atomic_path(stem.with_name(stem.name + ".nii.gz")) as tmp:
        nib.save(img, tmp)
    _draw_overlay(saliency, volume, tmpl, title, stem.with_name(stem.name + ".png"))


def _draw_overlay(saliency, volume, tmpl, title: str, path: Path) -> None:
    import nibabel as nib

    from spectstage.qc import striatal_view

    fig, display = striatal_view(volume, tmpl, title, "gray", (8, 3.2))  # as the QC montage
    peak = float(saliency.max()) or 1.0
    masked = np.where(saliency >= 0.2 * peak, saliency, 0).astype(np.float32)
    display.add_overlay(
        nib.Nifti1Image(masked, tmpl.affine),
        cmap="hot",
        vmin=0.2 * peak,
        vmax=peak,
        transparency=0.6,
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, facecolor="black")


def measures(saliency: np.ndarray, tmpl) -> dict:
    """Where the map's mass lies: inside the six striatal regions, and left vs right."""
    from spectstage.atlas import STRIATAL_REGIONS

    total = float(saliency.sum()) or 1.0
    sides = {"left": 0.0, "right": 0.0}
    for name in STRIATAL_REGIONS:
        mass = float(saliency[tmpl.mask(name)].sum())
        sides["left" if name.endswith("_left") else "right"] += mass
    striatal = sides["left"] + sides["right"]
    return {
        "striatal_mass_fraction": striatal / total,
        "left_striatal_mass": sides["left"] / total,
        "right_striatal_mass": sides["right"] / total,
        "more_salient_side": "left" if sides["left"] > sides["right"] else "right",
    }
