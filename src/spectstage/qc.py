"""Quality control: a montage per scan and flags a human should look at.

The montage shows a coronal and an axial slice through the striata of the canonical
volume, with the shipped template's striatal outline: a misregistration or a swapped
side is visible at a glance. Patient right is on the image's left (radiological).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from spectstage.atomic import atomic_path
from spectstage.io.slices import colormap_lut
from spectstage.template import Template

# Flags (not errors): thresholds with their reasons.
MIN_CORRELATION = 0.85  # with the template after registration; real scans reach > 0.9
MAX_SCALE_CHANGE = 0.2  # |scale - 1| beyond which a head size is implausible
MAX_OFFSET_MM = 60.0  # the head centre this far from the scanner's: off-centre acquisition
MIN_STRIATAL_SBR = 0.2  # below this in every striatal region the striatum was not found
MAX_STRIATAL_SBR = 8.0  # above this the intensities are not DaTSCAN-like
MIN_REFERENCE_COUNTS = 5.0  # mean counts per voxel in the reference: too noisy below
OUTLINE = np.array([0, 255, 255], dtype=np.uint8)  # cyan: off the hot colour map
UPSCALE = 3


def flags(reg, ref, sbr: dict[str, float], fmt: str) -> dict[str, bool]:
    offset = float(np.linalg.norm(reg.pose.translation_mm))
    return {
        "flag_registration": reg.correlation < MIN_CORRELATION
        or abs(reg.pose.scale - 1) > MAX_SCALE_CHANGE,
        "flag_off_centre": offset > MAX_OFFSET_MM,
        "flag_reference_fallback": ref.fallback,
        "flag_striatum_not_found": max(sbr.values()) < MIN_STRIATAL_SBR,
        "flag_implausible_intensity": max(sbr.values()) > MAX_STRIATAL_SBR
        or min(sbr.values()) < -1.0,
        # Slice images carry relative intensities only: counts are unknown there.
        "flag_low_counts": fmt != "slices" and ref.mean < MIN_REFERENCE_COUNTS,
    }


def _panel(plane: np.ndarray, outline: np.ndarray, vmax: float) -> np.ndarray:
    lut = colormap_lut("hot")
    rgb = lut[np.clip(plane / vmax * 255, 0, 255).astype(np.uint8)]
    rgb[outline] = OUTLINE
    return rgb


def montage(volume: np.ndarray, tmpl: Template) -> np.ndarray:
    """RGB image: coronal | axial through the striata, template striatal outline in cyan."""
    striatum = tmpl.striatum()
    edge = ndimage.binary_dilation(striatum) & ~striatum  # drawn just outside the regions
    _, cy, cz = (round(c) for c in ndimage.center_of_mass(striatum))
    vmax = max(float(np.percentile(volume[striatum], 99)), 2.0)
    # Arrays are RAS: reversing x puts patient right on the image's left; reversing z (y)
    # puts superior (anterior) on top.
    coronal = _panel(volume[::-1, cy, ::-1].T, edge[::-1, cy, ::-1].T, vmax)
    axial = _panel(volume[::-1, ::-1, cz].T, edge[::-1, ::-1, cz].T, vmax)
    height = max(coronal.shape[0], axial.shape[0])
    pad = [np.pad(p, ((0, height - p.shape[0]), (0, 2), (0, 0))) for p in (coronal, axial)]
    image = np.concatenate(pad, axis=1)
    return np.repeat(np.repeat(image, UPSCALE, axis=0), UPSCALE, axis=1)


def write_montage(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
