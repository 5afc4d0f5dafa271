"""Slice stacks as users make them: screenshots of a viewer, not clean renderings.

What a viewer export adds (each drawn per patient, recorded in truth.csv): a window/level
that clips the bottom and the top of the colour scale, a colour bar with tick labels at
either edge, burnt-in text at varying corners (a header that is the same on every slice,
a slice label that changes per slice), white or coloured text, JPEG compression, and a
stack that covers only part of the brain (a few slices around the striatum).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from spectstage.demo.stacks import annotation_colour
from spectstage.io.slices import SliceConventions, colormap_lut

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
FULL_STACK = 30  # slices of a whole-stack export (cohort.STACK_SHAPE)
PARTIAL_SLICES = (14, 22)  # a partial export: ~56-88 mm around the striatum
PARTIAL_SHARE = 0.35
JPEG_SHARE = 0.5
JPEG_QUALITY = (75, 95)


# A multi-site cohort (Realism.sites): site 0 is the cohort's own `conv`, the others differ
# in colour map, display (radiological / neurological) and file order.
SITES = (
    {},
    {"colormap": "gray", "image_left": "patient_left", "order": "posterior_to_anterior"},
    {"colormap": "jet", "order": "posterior_to_anterior"},
    {"colormap": "nipy_spectral", "image_left": "patient_left"},
    {"colormap": "gray"},
    {"image_left": "patient_left"},
)


def site_conventions(conv: SliceConventions, site: int, shot: Screenshot | None):
    """Site `site`'s conventions, with the window its viewer exported (declared, as a
    site knows its viewer settings)."""
    window = {"window_low": shot.window_low, "window_high": shot.window_high} if shot else {}
    return replace(conv, **SITES[site % len(SITES)], **window)


@dataclass(frozen=True)
class Screenshot:
    """How one patient's stack was exported from a viewer."""

    window_low: float = 0.0  # fraction of the stack maximum shown as the bottom colour
    window_high: float = 1.0  # fraction shown as the top colour; above it saturates
    bar_side: str = "right"  # colour bar at the "left" or "right" edge, or "none"
    header_corner: str = "top_left"  # a fixed header, the same on every slice
    label_corner: str = "bottom_right"  # the slice label, which changes per slice
    white_text: bool = False  # white text (on the hot and grey maps: their top colour)
    jpeg_quality: int = 0  # 0: PNG
    n_slices: int = FULL_STACK
    slice_scaled: bool = False  # each slice scaled to its own maximum (some viewers do)
    magnify: int = 1  # display pixels per image pixel side (nearest neighbour), text after

    @property
    def ext(self) -> str:
        return "jpg" if self.jpeg_quality else "png"

    def row(self) -> dict:
        return {
            f"shot_{k}": round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()
        }


def sample_screenshot(rng: np.random.Generator) -> Screenshot:
    """A viewer export the slice reader is expected to read (mild clipping only: the
    reader refuses a saturated scale, tests write those on purpose)."""
    corners = rng.permutation(len(CORNERS))
    partial = rng.uniform() < PARTIAL_SHARE
    return Screenshot(
        # to 0.1 % of the maximum, as a viewer shows its thresholds
        window_low=0.0 if rng.uniform() < 0.6 else round(float(rng.uniform(0.01, 0.05)), 3),
        window_high=1.0 if rng.uniform() < 0.5 else round(float(rng.uniform(0.95, 1.0)), 3),
        bar_side=str(rng.choice(["left", "right", "right", "none"])),
        header_corner=CORNERS[corners[0]],
        label_corner=CORNERS[corners[1]],
        white_text=bool(rng.uniform() < 0.5),
        jpeg_quality=int(rng.integers(*JPEG_QUALITY)) if rng.uniform() < JPEG_SHARE else 0,
        n_slices=int(rng.integers(*PARTIAL_SLICES)) if partial else FULL_STACK,
    )


def _text_at(draw: ImageDraw.ImageDraw, corner: str, text: str, size, fill) -> None:
    h, w = size
    width = draw.textlength(text)
    x = 3 if corner.endswith("left") else w - 3 - width
    y = 2 if corner.startswith("top") else h - 13
    draw.text((x, y), text, fill=fill)


BAR_MARGIN = 18  # rows above and below the colour bar


def _bar_columns(side: str, w: int) -> slice:
    return slice(w - 9, w - 3) if side == "right" else slice(3, 9)


def _draw_bar(img: np.ndarray, lut: np.ndarray, side: str) -> None:
    """A vertical bar from the top colour (top) to the bottom one."""
    h, w = img.shape[:2]
    bar = lut[np.linspace(255, 0, h - 2 * BAR_MARGIN).astype(int)]
    img[BAR_MARGIN : h - BAR_MARGIN, _bar_columns(side, w)] = bar[:, None, :]


def _bar_labels(draw: ImageDraw.ImageDraw, side: str, size, fill) -> None:
    h, w = size
    x = w - 30 if side == "right" else 11
    for y, label in ((BAR_MARGIN - 2, "max"), (h - BAR_MARGIN - 9, "0")):
        draw.text((x, y), label, fill=fill)


def write_screenshots(
    stack: np.ndarray, folder: Path, conv: SliceConventions, shot: Screenshot
) -> None:
    """Write the coronal stack (slice, row, col) as viewer screenshots."""
    lut = colormap_lut(conv.colormap)
    top = stack.max(axis=(1, 2), keepdims=True) if shot.slice_scaled else stack.max()
    scaled = (stack / top - shot.window_low) / (shot.window_high - shot.window_low)
    rgb = lut[np.clip(np.rint(scaled * 255), 0, 255).astype(np.uint8)]
    rgb = rgb.repeat(shot.magnify, axis=1).repeat(shot.magnify, axis=2)
    text = (255, 255, 255) if shot.white_text else annotation_colour(lut)
    n, h, w = rgb.shape[:3]
    left, right = ("R", "L") if conv.image_left == "patient_right" else ("L", "R")
    for k in range(n):
        img = rgb[k].copy()
        if shot.bar_side != "none":
            _draw_bar(img, lut, shot.bar_side)
        pil = Image.fromarray(img)
        draw = ImageDraw.Draw(pil)
        if shot.bar_side != "none":
            _bar_labels(draw, shot.bar_side, (h, w), text)
        _text_at(draw, shot.header_corner, "DaTSCAN", (h, w), text)
        _text_at(draw, shot.label_corner, f"Im {k + 1}/{n}", (h, w), text)
        draw.text((3 if shot.bar_side != "left" else 12, h // 2 - 5), left, fill=text)
        draw.text((w - 10 if shot.bar_side != "right" else w - 18, h // 2 - 5), right, fill=text)
        name = f"slice_{k + 1}.{shot.ext}"  # natural order: slice_2 before slice_10
        if shot.jpeg_quality:
            pil.save(folder / name, quality=shot.jpeg_quality)
        else:
            pil.save(folder / name)
