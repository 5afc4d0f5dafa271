"""Coloured coronal slice stacks of a rendered volume: resampled onto the stack's grid and
rendered with a colour map, a colour bar and labels (viewer screenshots: demo/screenshots.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from spectstage.io.slices import SliceConventions, colormap_lut, stack_affine


def annotation_colour(lut: np.ndarray) -> tuple[int, int, int]:
    """A text colour as far as possible from every colour of the map (so it can be masked)."""
    candidates = np.array([[0, 255, 0], [0, 255, 255], [255, 0, 255], [0, 0, 255], [255, 0, 0]])
    dist = np.linalg.norm(candidates[:, None, :] - lut[None, :, :].astype(float), axis=2).min(
        axis=1
    )
    return tuple(int(c) for c in candidates[int(np.argmax(dist))])


def sample_stack(
    volume: np.ndarray,
    affine: np.ndarray,
    conv: SliceConventions,
    shape: tuple[int, int, int],
    centre_mm,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a RAS volume onto a coronal stack (slice, row, col) centred at `centre_mm`."""
    stack_aff = stack_affine(shape, conv)
    stack_aff[:3, 3] += np.asarray(centre_mm, dtype=float)
    idx = np.indices(shape, dtype=np.float64).reshape(3, -1)
    to_native = np.linalg.inv(affine) @ stack_aff
    coords = to_native[:3, :3] @ idx + to_native[:3, 3:4]
    values = ndimage.map_coordinates(volume, coords, order=1, mode="constant", cval=0.0)
    return values.reshape(shape).astype(np.float32), stack_aff


def write_slices(stack: np.ndarray, folder: Path, conv: SliceConventions, ext: str = "png") -> None:
    """Colour each coronal slice with the stack's shared scale, add a colour bar and labels."""
    lut = colormap_lut(conv.colormap)
    index = np.clip(np.rint(stack / stack.max() * 255), 0, 255).astype(np.uint8)
    rgb = lut[index]
    text = annotation_colour(lut)
    n, h, w = stack.shape
    bar = lut[np.linspace(255, 0, h - 20).astype(int)]
    left_label, right_label = ("R", "L") if conv.image_left == "patient_right" else ("L", "R")
    for k in range(n):
        img = rgb[k].copy()
        img[10 : h - 10, w - 7 : w - 2] = bar[:, None, :]  # burnt-in colour bar, right edge
        pil = Image.fromarray(img)
        draw = ImageDraw.Draw(pil)
        draw.text((3, 2), f"{k + 1}/{n}", fill=text)
        draw.text((3, h - 14), left_label, fill=text)
        draw.text((w - 20, h - 14), right_label, fill=text)
        name = f"slice_{k + 1}.{ext}"  # natural order: slice_2 before slice_10
        if ext == "png":
            pil.save(folder / name)
        else:
            pil.save(folder / name, quality=95)
