"""A user's DaT template and label image in MNI space (ingest.template, .atlas, .atlas_labels).

Users of SPM-based DaTSCAN analysis have one. Both images are resampled onto the canonical
grid (template trilinear, labels nearest), so stored volumes and the CNN crop never depend
on the user's grid. Refused with an InputError, naming the file: images that are not 3D,
not finite, coarser than 4 mm, that do not cover the striata and the reference, a label
table without the regions ingest needs, or labels that are not where MNI152 anatomy has them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from spectstage.atlas import LABELS, STRIATAL_REGIONS
from spectstage.errors import InputError
from spectstage.geometry import CANONICAL, apply

KEYS = ("template", "atlas", "atlas_labels")
MAX_VOXEL_MM = 4.0
# Expected MNI centroids (mm) of the striatal regions, and how far a user's may be from them:
# catches a label image in another space, or with left and right swapped.
EXPECTED_X_SIGN = {r: (-1 if r.endswith("left") else 1) for r in STRIATAL_REGIONS}
MAX_CENTROID_OFFSET_MM = 15.0
EXPECTED_CENTROIDS = {
    "caudate": (13.0, 10.0, 10.0),
    "putamen_anterior": (24.0, 8.0, -1.0),
    "putamen_posterior": (28.0, -9.0, 2.0),
}


def user_files(settings: dict) -> list[str]:
    """The user template's three files, or [] for the built-in one (all or none)."""
    given = [settings.get(k, "") for k in KEYS]
    if not any(given):
        return []
    if not all(given):
        missing = [f"ingest.{k}" for k, v in zip(KEYS, given, strict=True) if not v]
        raise InputError(
            "a user template needs ingest.template, ingest.atlas and ingest.atlas_labels;"
            f" missing: {', '.join(missing)}"
        )
    return given


def _image(path: Path, what: str):
    import nibabel as nib

    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as err:  # nibabel raises many types for unreadable files
        raise InputError(f"{path}: {what} is not a readable NIfTI image ({err})") from err
    data = np.squeeze(data)
    if data.ndim != 3:
        raise InputError(f"{path}: {what} must be a 3D image, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise InputError(f"{path}: {what} contains NaN or infinite values")
    voxel = np.linalg.norm(img.affine[:3, :3], axis=0)
    if voxel.max() > MAX_VOXEL_MM or voxel.min() <= 0:
        raise InputError(f"{path}: {what} voxels {voxel.round(2).tolist()} mm; need <= 4 mm")
    return data, img.affine.astype(float)


def _onto_canonical(data: np.ndarray, affine: np.ndarray, order: int):
    """(data on the canonical grid, mask of canonical voxels the image covers)."""
    to_src = np.linalg.inv(affine) @ CANONICAL.affine
    idx = apply(to_src, np.indices(CANONICAL.shape, dtype=np.float64).reshape(3, -1).T)
    covered = np.all((idx >= -0.5) & (idx <= np.array(data.shape) - 0.5), axis=1)
    values = ndimage.map_coordinates(data, idx.T, order=order, mode="nearest")
    values[~covered] = 0
    return values.reshape(CANONICAL.shape), covered.reshape(CANONICAL.shape)


def _label_table(path: Path, needed: list[str]) -> dict[int, str]:
    import pandas as pd

    if not path.is_file():
        raise InputError(f"{path}: atlas label table not found")
    table = pd.read_csv(path, sep=None, engine="python", dtype=str)
    if not {"label", "name"} <= set(table.columns):
        raise InputError(f"{path}: the label table needs columns label,name")
    try:
        labels = {int(v): str(n).strip() for v, n in zip(table.label, table.name, strict=True)}
    except ValueError as err:
        raise InputError(f"{path}: labels must be integers ({err})") from err
    missing = sorted(set(needed) - set(labels.values()))
    if missing:
        raise InputError(f"{path}: the label table does not name {', '.join(missing)}")
    return {k: v for k, v in labels.items() if v in needed}


def _check_anatomy(atlas_path: Path, atlas: np.ndarray, labels: dict[int, str]) -> None:
    for label, name in labels.items():
        voxels = np.argwhere(atlas == label)
        if len(voxels) < 4:
            raise InputError(f"{atlas_path}: region {name} (label {label}) is empty on the grid")
        if name not in STRIATAL_REGIONS:
            continue
        centre = apply(CANONICAL.affine, voxels.astype(float)).mean(axis=0)
        part = name.rsplit("_", 1)[0]
        expected = np.array(EXPECTED_CENTROIDS[part]) * [EXPECTED_X_SIGN[name], 1, 1]
        if np.linalg.norm(centre - expected) > MAX_CENTROID_OFFSET_MM:
            raise InputError(
                f"{atlas_path}: region {name} is centred at {centre.round(1).tolist()} mm,"
                f" not near MNI {expected.tolist()}: is the atlas in MNI space, left and right"
                " as labelled?"
            )


def load_user(settings: dict) -> tuple[np.ndarray, np.ndarray, dict[int, str], str]:
    """(image, atlas in canonical labels, {label: name}, source) on the canonical grid;
    `spectstage.template.load` wraps them into its Template."""
    template_path, atlas_path, table_path = (Path(p) for p in user_files(settings))
    needed = [*STRIATAL_REGIONS, settings.get("reference_region", "occipital")]
    if settings.get("reference_fallback", "none") != "none":
        needed.append(settings["reference_fallback"])
    names = _label_table(table_path, needed)
    image, image_aff = _image(template_path, "ingest.template")
    labels, labels_aff = _image(atlas_path, "ingest.atlas")
    image, covered = _onto_canonical(image, image_aff, order=1)
    atlas_values, _ = _onto_canonical(np.rint(labels), labels_aff, order=0)
    if not covered[(atlas_values > 0)].all() or image.max() <= 0:
        raise InputError(f"{template_path}: the template does not cover the atlas regions")
    # Canonical label values, so the rest of the pipeline sees one convention.
    atlas = np.zeros(CANONICAL.shape, dtype=np.int16)
    canonical_label = {v: k for k, v in LABELS.items()}
    for label, name in names.items():
        atlas[atlas_values == label] = canonical_label.get(name, 0)
    kept = {k: v for k, v in LABELS.items() if v in names.values()}
    _check_anatomy(atlas_path, atlas, kept)
    source = f"user: {template_path.name}, {atlas_path.name}"
    return image.astype(np.float32), atlas, kept, source
