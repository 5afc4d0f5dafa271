"""What in a slice screenshot is not uptake, and what a viewer's export lost.

Annotations (a colour bar, burnt-in text) are masked and refilled from their neighbours;
a window that clipped the uptake, or a viewer that scaled each slice to its own maximum,
is refused (spectstage.io.slices reads the stack).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from spectstage.errors import InputError

log = logging.getLogger(__name__)

# Burnt-in overlays (colour bar, fixed labels) stay the same on every slice while anatomy
# changes; JPEG compression makes them vary by a few RGB units from slice to slice.
# Measured on realistic jet JPEG stacks (quality 85): colour-bar pixels stay within 12 RGB
# units of their median colour on >= 83 % of the slices, brain pixels on <= 50 %.
STATIC_RGB_TOLERANCE = 12
STATIC_SHARE = 0.75
STATIC_MIN_SLICES = 8  # fewer (or lossless files): only exactly repeated pixels count
# A stroke standing half the colour scale above the pixels on both its sides is text or a
# drawn line: uptake (resolution ~10 mm, >= 2.5 pixels at 4 mm) falls off more gently.
SHARP_STEP = 0.5
# A window/level that clipped the top of the scale piles the brightest uptake into the top
# colour. Measured on the realistic demo (tests/test_demo_screenshots.py): a window at 0.9
# of the maximum gives a top bin up to ~7x the mean of the 25 bins below, 0.7 gives 18-38x.
SATURATION_BINS = 25
SATURATION_SPIKE = 10.0
SATURATION_MIN_PIXELS = 30
# More of the striatum than this taken for text: warn (measured on native 64 x 64 demo
# stacks: 0 % with thin-stroke masking; the old 3 x 3 step rule masked up to 8.5 %).
MAX_MASKED_BRIGHT = 0.02


def fill(values: np.ndarray, valid: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Fill masked pixels from valid neighbours in-plane (normalised convolution)."""
    from scipy import ndimage

    weights = ndimage.gaussian_filter(valid.astype(np.float32), (0, sigma, sigma))
    smooth = ndimage.gaussian_filter(np.where(valid, values, 0), (0, sigma, sigma))
    filled = np.divide(smooth, weights, out=np.zeros_like(smooth), where=weights > 1e-3)
    return np.where(valid, values, filled)


def thin_strokes(values: np.ndarray) -> np.ndarray:
    """True on text strokes one or two pixels wide: along some direction (row, column,
    diagonal) the pixel stands SHARP_STEP above the pixels on both sides of the stroke.
    A peak of uptake, however sharp at the native 4 mm matrix, falls off gently on at
    least one side, so it is never taken for text."""
    h, w = values.shape[1:]
    pad = np.pad(values, ((0, 0), (2, 2), (2, 2)), mode="edge")

    def shifted(dr: int, dc: int) -> np.ndarray:
        return pad[:, 2 + dr : 2 + dr + h, 2 + dc : 2 + dc + w]

    strokes = np.zeros(values.shape, bool)
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        before, after = shifted(-dr, -dc), shifted(dr, dc)
        before2, after2 = shifted(-2 * dr, -2 * dc), shifted(2 * dr, 2 * dc)
        # one pixel wide: above both neighbours; two wide: above the neighbour on one
        # side and the pixel beyond the (stroke) neighbour on the other
        for side_a, side_b in ((before, after), (before, after2), (before2, after)):
            strokes |= values - np.maximum(side_a, side_b) >= SHARP_STEP
    return strokes


def overlay_mask(
    rgb: np.ndarray, values: np.ndarray, on_map: np.ndarray, lossy: bool = False
) -> np.ndarray:
    """True where a pixel is an annotation, not uptake: off the colour map, the same on
    every slice (colour bar, fixed labels; nearly the same in `lossy` JPEG files), or part
    of a sharp stroke (text that changes per slice, drawn in a colour of the map)."""
    from scipy import ndimage

    if lossy and len(rgb) >= STATIC_MIN_SLICES:  # robust to JPEG noise, a few odd slices
        typical = np.median(rgb, axis=0).astype(np.int16)
        deviation = np.abs(rgb.astype(np.int16) - typical).max(axis=-1)
        close = (deviation <= STATIC_RGB_TOLERANCE).mean(axis=0)
        static = close >= STATIC_SHARE
    else:
        static = (rgb == rgb[0]).all(axis=(0, 3))
    static &= np.median(values, axis=0) > 2 / 255
    mask = ~on_map | static[None] | thin_strokes(values)
    # JPEG rings around strokes and edges: the neighbours go too.
    return ndimage.binary_dilation(mask, structure=np.ones((1, 3, 3), bool))


def masked_bright_share(values: np.ndarray, overlay: np.ndarray, folder: Path) -> float:
    """The share of the bright centre (the middle half of the image, at least half the
    colour scale: the striatum) taken for text and refilled; a warning above
    MAX_MASKED_BRIGHT, since refilled striatal pixels lower the SBRs."""
    h, w = values.shape[1:]
    centre = np.s_[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    bright = values[centre] >= 0.5 * values.max()
    share = float(overlay[centre][bright].mean()) if bright.any() else 0.0
    if share > MAX_MASKED_BRIGHT:
        log.warning(
            "%s: %.0f%% of the bright striatal pixels looked like burnt-in text and were "
            "refilled from their neighbours: the SBRs may be too low. Export without text "
            "over the brain, or check the QC montage",
            folder,
            100 * share,
        )
    return share


def refuse_saturated(values: np.ndarray, overlay: np.ndarray, folder: Path) -> float:
    """How much the top colour stands out of the histogram; InputError when the window
    clipped the uptake. A full-range export puts the maximum alone at the top colour, its
    bin no fuller than those just below; a window below the maximum piles every brighter
    voxel into it."""
    index = np.rint(values[~overlay] * 255).astype(np.int64)
    counts = np.bincount(index, minlength=256)
    below = max(float(counts[255 - SATURATION_BINS : 255].mean()), 1.0)
    spike = counts[255] / below
    if spike > SATURATION_SPIKE and counts[255] >= SATURATION_MIN_PIXELS:
        raise InputError(
            f"{folder}: {counts[255]} pixels sit at the colour map's top colour, {spike:.0f}x "
            "as many as at each colour just below: the window/level clipped the uptake, so "
            "the striatal values are lost. Export the slices with the full range (window "
            "from 0 to the maximum)"
        )
    return float(spike)
