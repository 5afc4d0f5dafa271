"""The canonical space: a DaTSCAN template and its volumes of interest, shipped with the package.

They are built from the analytic phantom (`spectstage.demo.phantom`), never from a
cohort: a template averaged over patients would leak test patients into training.
`scripts/make_template.py` rebuilds the files; a test checks they match this code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from spectstage.demo import phantom

STRIATAL_REGIONS = phantom.STRIATAL_REGIONS
VOXEL_MM = 2.0
SHAPE = (80, 100, 76)  # x: -79..79, y: -113..85, z: -65..85 mm (voxel centres)
ORIGIN_MM = (-79.0, -113.0, -65.0)
FWHM_MM = 10.0  # same resolution as the scans it is compared with
TEMPLATE_SBR = 2.0  # between healthy (~3) and severe (<1): correlates with every stage
REFERENCE_MARGIN_MM = 12.0  # keep the fallback reference clear of striatal spill-over

#: Atlas labels (value -> name). Striatal regions first, in phantom order.
LABELS = {i + 1: name for i, name in enumerate(phantom.REGIONS)}
LABELS[len(LABELS) + 1] = "nonstriatal_brain"
TEMPLATE_FILE = "template_datscan.nii.gz"
ATLAS_FILE = "template_atlas.nii.gz"


def affine() -> np.ndarray:
    aff = np.diag([VOXEL_MM, VOXEL_MM, VOXEL_MM, 1.0])
    aff[:3, 3] = ORIGIN_MM
    return aff


@dataclass(frozen=True)
class Template:
    image: np.ndarray  # float32, healthy-ish DaTSCAN, grey matter = 1
    atlas: np.ndarray  # int16 labels, see LABELS
    affine: np.ndarray

    def mask(self, name: str) -> np.ndarray:
        (label,) = (k for k, v in LABELS.items() if v == name)
        return self.atlas == label

    def striatum(self) -> np.ndarray:
        return np.isin(self.atlas, [k for k, v in LABELS.items() if v in STRIATAL_REGIONS])


def build() -> Template:
    """Render template and atlas from the phantom (about 3 s)."""
    from scipy import ndimage

    from spectstage.geometry import grid_points

    fine = affine().copy()
    fine[:3, :3] /= 2
    fine[:3, 3] -= VOXEL_MM / 4
    fine_shape = tuple(2 * n for n in SHAPE)
    uptake = phantom.Uptake(sbr=dict.fromkeys(phantom.STRIATAL_REGIONS, TEMPLATE_SBR))
    act = phantom.evaluate(grid_points(fine_shape, fine), uptake).reshape(fine_shape)
    act = ndimage.gaussian_filter(act, FWHM_MM / 2.3548 / (VOXEL_MM / 2), mode="constant")
    image = act.reshape(SHAPE[0], 2, SHAPE[1], 2, SHAPE[2], 2).mean(axis=(1, 3, 5))

    masks = phantom.region_masks(grid_points(SHAPE, affine()))
    atlas = np.zeros(int(np.prod(SHAPE)), dtype=np.int16)
    striatum = np.zeros_like(atlas, dtype=bool)
    for label, name in LABELS.items():
        if name in masks:
            atlas[masks[name]] = label
        if name in phantom.STRIATAL_REGIONS:
            striatum |= masks[name]
    far = ndimage.distance_transform_edt(~striatum.reshape(SHAPE), sampling=VOXEL_MM).ravel()
    rest = masks["brain"] & (atlas == 0) & (far > REFERENCE_MARGIN_MM)
    atlas[rest] = max(LABELS)
    return Template(image.astype(np.float32), atlas.reshape(SHAPE), affine())


@cache
def load() -> Template:
    """The shipped template (read once per process)."""
    import nibabel as nib

    data = resources.files("spectstage") / "data"
    with resources.as_file(data / TEMPLATE_FILE) as t, resources.as_file(data / ATLAS_FILE) as a:
        image, atlas = nib.load(t), nib.load(a)
        return Template(
            np.asarray(image.dataobj, dtype=np.float32),
            np.asarray(atlas.dataobj, dtype=np.int16),
            image.affine.astype(float),
        )
