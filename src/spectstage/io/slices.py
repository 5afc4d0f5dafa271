"""Coronal slice stacks (PNG/JPG/TIFF), coloured with a colour map, back to an intensity volume.

Geometry comes from the `slices` config because image files carry none: files sort
naturally into `order`, `image_left` says which patient side is on the image's left,
`pixel_mm`/`slice_mm` give the spacing, `window_low`/`window_high` the viewer's window (what
the bottom and top colours stand for). Rows run from superior (top) to inferior.
Annotation masking and the refusals of what an export lost: io/slice_masks.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from spectstage.config import default
from spectstage.errors import InputError
from spectstage.io.slice_masks import fill, masked_bright_share, overlay_mask, refuse_saturated

SLICE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
ORDERS = ("anterior_to_posterior", "posterior_to_anterior")
IMAGE_LEFT = ("patient_right", "patient_left")
# A pixel this far (RGB units) from every colour of the map is an annotation, not uptake.
OFF_MAP_DISTANCE = 40.0
# JPEG's chroma subsampling moves colours of a coloured map off it: on realistic quality-75
# stacks, 4 % (hot), 11 % (jet) and 28 % (nipy_spectral) of the bright striatum lie more
# than 40 RGB units from the map, at most 71, 70 and 90; burnt-in text colours lie >= 158
# from theirs (demo.stacks.annotation_colour). So JPEG files allow 100.
OFF_MAP_DISTANCE_LOSSY = 100.0
# Colour-map positions read as the bottom colour (JPEG moves black by a unit or so).
BOTTOM_COLOUR = 1.5 / 255
# Sizes read from the image header before any pixel is decoded: a SPECT slice is at most
# a few hundred pixels a side, so larger declarations are refused, not allocated (a 100 kB
# PNG may declare 50,000 x 50,000 pixels: 7.5 GB once decoded, Pillow's own bomb limit
# only stops it past 179 million pixels).
MAX_SLICE_PIXELS = 4096 * 4096
MAX_STACK_PIXELS = 2**25  # e.g. 128 slices of 512 x 512


@dataclass(frozen=True)
class SliceConventions:
    """How a stack's files map to space; defaults from the config schema's `slices`."""

    order: str = default("slices", "order")
    image_left: str = default("slices", "image_left")
    pixel_mm: float = default("slices", "pixel_mm")
    slice_mm: float = default("slices", "slice_mm")
    colormap: str = default("slices", "colormap")
    # The values the map's bottom and top colours stand for, as fractions of the maximum:
    # the viewer's window. Only a declared window can undo a lifted bottom (see README).
    window_low: float = default("slices", "window_low")
    window_high: float = default("slices", "window_high")

    def __post_init__(self) -> None:
        if not 0 <= self.window_low < self.window_high:
            raise InputError(
                f"slices window: window_low {self.window_low} must be >= 0 and below "
                f"window_high {self.window_high} (fractions of the displayed maximum)"
            )

    def displayed(self, colour_index: np.ndarray) -> np.ndarray:
        """Colour-map position in [0, 1] -> the value it shows, as a fraction of the max.
        The bottom colour stands for everything up to window_low, mostly air: read as 0
        (on the demo's lifted stacks that keeps the SBR gain within 1 % of the full
        window's; reading it as window_low lowered it by 2 %)."""
        shown = self.window_low + colour_index * (self.window_high - self.window_low)
        if self.window_low > 0:
            shown = np.where(colour_index < BOTTOM_COLOUR, 0.0, shown)
        return shown.astype(np.float32)

    @classmethod
    def from_config(cls, cfg: dict) -> SliceConventions:
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__ if k in cfg})


@cache
def colormap_lut(name: str) -> np.ndarray:
    """The map's 256-entry RGB lookup table (uint8)."""
    from matplotlib import colormaps

    try:
        cmap = colormaps[name]
    except KeyError as err:
        raise InputError(f"slices.colormap: unknown matplotlib colour map {name!r}") from err
    return np.rint(cmap(np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def stack_affine(shape: tuple[int, int, int], conv: SliceConventions) -> np.ndarray:
    """Voxel (slice, row, col) -> RAS mm, centred on the stack's middle voxel."""
    n, h, w = shape
    col_dir = -1.0 if conv.image_left == "patient_right" else 1.0  # image left = patient right = +x
    slice_dir = -1.0 if conv.order == "anterior_to_posterior" else 1.0
    aff = np.zeros((4, 4))
    aff[1, 0] = slice_dir * conv.slice_mm  # slice index -> y (anterior +)
    aff[2, 1] = -conv.pixel_mm  # row index -> z (top row is superior)
    aff[0, 2] = col_dir * conv.pixel_mm  # column index -> x
    aff[3, 3] = 1.0
    aff[:3, 3] = -aff[:3, :3] @ (np.array([n, h, w]) - 1) / 2
    return aff


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image's header, without decoding it; InputError when the
    file is not an image or declares more pixels than a slice can have."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            width, height = img.size
    except Exception as err:  # Pillow raises many types (OSError, SyntaxError, bomb errors...)
        raise InputError(f"{path}: not a readable image ({type(err).__name__}: {err})") from err
    if width * height > MAX_SLICE_PIXELS or min(width, height) < 1:
        raise InputError(
            f"{path}: declares {width} x {height} pixels, more than a slice image may have "
            f"({MAX_SLICE_PIXELS:,}); refused before decoding"
        )
    return width, height


def stack_size(files: list[Path]) -> tuple[int, int]:
    """The stack's one (width, height), checked from the headers before any decoding."""
    sizes = {image_size(f) for f in files}
    if len(sizes) > 1:
        listing = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
        raise InputError(f"{files[0].parent}: slice images differ in size ({listing})")
    (width, height) = sizes.pop()
    if width * height * len(files) > MAX_STACK_PIXELS:
        raise InputError(
            f"{files[0].parent}: {len(files)} slices of {width} x {height} pixels, more than "
            f"a slice stack may have ({MAX_STACK_PIXELS:,} pixels)"
        )
    return width, height


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except Exception as err:  # truncated, corrupt or bomb chunks: many exception types
        raise InputError(f"{path}: not a readable image ({type(err).__name__}: {err})") from err


def invert_colormap(
    rgb: np.ndarray, lut: np.ndarray, off_map: float = OFF_MAP_DISTANCE
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-colour lookup: (intensity in [0, 1], True where the colour is on the map)."""
    from scipy.spatial import cKDTree

    # Look up each distinct colour once: pack RGB into one integer (fast 1-D unique).
    packed = rgb.reshape(-1, 3).astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)
    codes, inverse = np.unique(packed, return_inverse=True)
    colours = np.stack([codes >> 16, (codes >> 8) & 255, codes & 255], axis=1).astype(np.float32)
    dist, idx = cKDTree(lut.astype(np.float32)).query(colours)
    value = (idx / 255.0).astype(np.float32)[inverse.ravel()]
    on_map = (dist <= off_map)[inverse.ravel()]
    return value.reshape(rgb.shape[:-1]), on_map.reshape(rgb.shape[:-1])


def read_slices(files: list[Path], conv: SliceConventions):
    """Read a naturally sorted list of slice images into a Scan (relative intensities)."""
    from spectstage.io.scan import Scan

    if len(files) < 2:
        raise InputError(f"{files[0].parent}: a slice stack needs at least 2 images, found 1")
    width, height = stack_size(files)
    images = [_read_rgb(f) for f in files]
    for f, img in zip(files, images, strict=True):
        if img.shape[:2] != (height, width):  # a header that lied about its size
            raise InputError(
                f"{f}: decoded to {img.shape[1]}x{img.shape[0]} pixels, "
                f"its header says {width}x{height}"
            )
    rgb = np.stack(images)
    lossy = any(f.suffix.lower() in (".jpg", ".jpeg") for f in files)
    off_map = OFF_MAP_DISTANCE_LOSSY if lossy else OFF_MAP_DISTANCE
    values, on_map = invert_colormap(rgb, colormap_lut(conv.colormap), off_map)
    overlay = overlay_mask(rgb, values, on_map, lossy)
    spike = refuse_saturated(values, overlay, files[0].parent)
    values = fill(conv.displayed(values), ~overlay)
    bright_masked = masked_bright_share(values, overlay, files[0].parent)
    affine = stack_affine(values.shape, conv)
    return Scan(
        data=values,
        affine=affine,
        format="slices",
        meta={
            "n_slices": len(files),
            "image_size": list(rgb.shape[1:3]),
            "masked_pixels": int(overlay.sum()),
            "top_colour_spike": round(spike, 2),
            "masked_bright_share": round(bright_masked, 4),
            "slice_conventions": asdict(conv),
        },
    )
