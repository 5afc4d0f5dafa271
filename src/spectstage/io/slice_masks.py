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
# changes; JPEG compression makes them vary a little from slice to slice. The tolerance is
# in colour-scale units, the same for every map: measured on realistic JPEG stacks (quality
# 75-95; tests/test_slices_masks.py), >= 96 % of the colour-bar pixels stay within 1.5 % of
# the scale of their median on 75 % of the slices with jet, hot and grey (82 % with
# nipy_spectral, whose JPEG colours stray most: the mask's one-pixel ring takes the rest),
# no brain pixel does.
# (The former 12 RGB units, tuned on jet, are 4.7 % of the grey scale: 14-20 % of the brain
# of grey JPEG stacks passed for static and was refilled.)
STATIC_VALUE_TOLERANCE = 0.015
STATIC_SHARE = 0.75
STATIC_MIN_SLICES = 8  # fewer (or lossless files): only exactly repeated pixels count
# A stroke standing half the colour scale above the pixels on both its sides is text or a
# drawn line: uptake (resolution ~10 mm, >= 2.5 pixels at 4 mm) falls off more gently.
SHARP_STEP = 0.5
# A window/level that clipped the top of the scale piles the brightest uptake into the top
# colour. Measured on realistic demo stacks (6 patients, 64 and 128 matrices, counted in
# image pixels beyond each slice's own maximum): a window at 0.95 of the maximum gives a
# top bin up to 4x the mean of the 25 bins below, 0.9 gives 7-11x (with < 30 pixels),
# 0.7 gives 17-46x, also magnified 4x; full-range and per-slice-scaled exports 0.
SATURATION_BINS = 25
SATURATION_SPIKE = 10.0
SATURATION_MIN_PIXELS = 30
# A slice's own maximum may reach the top colour with a few pixels quantised with it.
SLICE_MAXIMUM_PIXELS = 4
# Most slices at the top colour: each was scaled to its own maximum (a stack-wide scale
# puts it on the few slices through the hottest striatum, a clipped window on the striatal
# ones, never on the slices in front of and behind the striatum).
SLICE_SCALED_SHARE = 0.9
MAX_MAGNIFICATION = 8
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


def static_overlay(rgb: np.ndarray, values: np.ndarray, lossy: bool) -> np.ndarray:
    """(row, col) True where the image is the same on (nearly) every slice and not
    background: a colour bar or a fixed label, not anatomy."""
    if lossy and len(rgb) >= STATIC_MIN_SLICES:  # robust to JPEG noise, a few odd slices
        deviation = np.abs(values - np.median(values, axis=0))
        static = (deviation <= STATIC_VALUE_TOLERANCE).mean(axis=0) >= STATIC_SHARE
    else:
        static = (rgb == rgb[0]).all(axis=(0, 3))
    return static & (np.median(values, axis=0) > 2 / 255)


def lone_strokes(values: np.ndarray) -> np.ndarray:
    """Thin-stroke pixels with at most one more around them: a lone noise peak, not text."""
    from scipy import ndimage

    strokes = thin_strokes(values)
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = True  # groups within a slice
    labels, _ = ndimage.label(strokes, structure=in_plane)
    sizes = np.bincount(labels.ravel())
    return strokes & (sizes[labels] <= 2)


def overlay_mask(
    rgb: np.ndarray, values: np.ndarray, on_map: np.ndarray, lossy: bool = False
) -> np.ndarray:
    """True where a pixel is an annotation, not uptake: off the colour map, the same on
    every slice (colour bar, fixed labels; nearly the same in `lossy` JPEG files), or part
    of a sharp stroke (text that changes per slice, drawn in a colour of the map)."""
    from scipy import ndimage

    mask = ~on_map | static_overlay(rgb, values, lossy)[None] | thin_strokes(values)
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


def magnification(values: np.ndarray, valid: np.ndarray) -> int:
    """Display pixels per image pixel side: a viewer that magnified a 64 x 64 matrix by
    nearest neighbour changes colour only every k-th column (at one phase); 1 otherwise."""
    changes = (values[:, :, 1:] != values[:, :, :-1]) & valid[:, :, 1:] & valid[:, :, :-1]
    columns = np.nonzero(changes)[2]
    if len(columns) < 100:
        return 1
    for k in range(MAX_MAGNIFICATION, 1, -1):
        if np.bincount(columns % k, minlength=k).max() >= 0.95 * len(columns):
            return k
    return 1


def refuse_saturated(values: np.ndarray, overlay: np.ndarray, folder: Path) -> float:
    """How much the top colour stands out of the histogram; InputError when the window
    clipped the uptake, or when each slice was scaled to its own maximum. Counted in image
    pixels (a magnified display repeats each one) and per slice: in a full-range export
    the maximum reaches the top colour alone, its bin no fuller than those just below; a
    window below the maximum piles every brighter pixel into it; a viewer that scales
    each slice to its own maximum puts a small plateau at the top colour on every slice."""
    side = magnification(values, ~overlay)
    index = np.rint(np.where(overlay, 0, values) * 255).astype(np.int64)
    top = (index == 255).sum(axis=(1, 2)) / side**2  # per slice, in image pixels
    counts = np.bincount(index[~overlay], minlength=256) / side**2
    below = max(float(counts[255 - SATURATION_BINS : 255].mean()), 1.0)
    plateau = float(np.clip(top - SLICE_MAXIMUM_PIXELS, 0, None).sum())
    spike = plateau / below
    if spike > SATURATION_SPIKE and plateau >= SATURATION_MIN_PIXELS:
        raise InputError(
            f"{folder}: {plateau:.0f} image pixels sit at the colour map's top colour, "
            f"{spike:.0f}x as many as at each colour just below: the window/level clipped "
            "the uptake, so the striatal values are lost. Export the slices with the full "
            "range (window from 0 to the maximum)"
        )
    # A slice's own maximum can be a lone peak pixel, which the text mask took for a dot:
    # count those too (text strokes form larger groups).
    # Inside a 10 % margin: the colour bar and the labels sit at the edges.
    at_top = (values >= 254.5 / 255) & (~overlay | lone_strokes(values))
    h, w = values.shape[1:]
    inner = at_top[:, h // 10 : h - h // 10, w // 10 : w - w // 10]
    reaching = int(inner.any(axis=(1, 2)).sum())
    if len(top) >= 3 and reaching >= SLICE_SCALED_SHARE * len(top):
        raise InputError(
            f"{folder}: {reaching} of {len(top)} slices reach the colour map's top colour: "
            "the viewer scaled each slice to its own maximum, so values cannot be compared "
            "between slices (the striatum with the reference region). Export the stack "
            "with one colour scale for all slices"
        )
    return float(spike)
