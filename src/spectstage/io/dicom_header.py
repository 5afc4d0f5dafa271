"""Geometry and scaling attributes of an NM DICOM header, each checked (InputError naming
the file): orientation/position (top level or DetectorInformationSequence), pixel spacing,
the signed slice step of the NM Reconstruction module, rescale slope and intercept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectstage.errors import InputError


def _numbers(source, key: str, count: int, path: Path) -> np.ndarray:
    """A numeric multi-valued attribute with `count` finite values, else InputError."""
    try:
        values = np.array([float(v) for v in source.get(key)], dtype=float)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: {key} is not numeric ({source.get(key)!r})") from err
    if values.shape != (count,) or not np.isfinite(values).all():
        raise InputError(f"{path}: {key} needs {count} finite numbers, got {source.get(key)!r}")
    return values


def _plane(source, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iop = _numbers(source, "ImageOrientationPatient", 6, path)
    row, col = iop[:3], iop[3:]
    unit = np.allclose(np.linalg.norm([row, col], axis=1), 1, atol=1e-3)
    if not unit or abs(row @ col) > 1e-3:
        raise InputError(f"{path}: ImageOrientationPatient {list(iop)} is not two unit vectors")
    return row, col, _numbers(source, "ImagePositionPatient", 3, path)


def geometry(h, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row direction, column direction, first position) in LPS, top level or detector sequence.

    NM files may hold them only in DetectorInformationSequence (GE); when both places
    hold them they must agree, else the file is ambiguous.
    """
    places = []
    if "ImageOrientationPatient" in h and "ImagePositionPatient" in h:
        places.append(("top level", _plane(h, path)))
    detectors = h.get("DetectorInformationSequence") or []
    if len(detectors) and "ImageOrientationPatient" in detectors[0]:
        places.append(("DetectorInformationSequence", _plane(detectors[0], path)))
    if not places:
        raise InputError(f"{path}: no ImageOrientationPatient/ImagePositionPatient")
    if len(places) == 2 and not all(
        np.allclose(a, b, atol=1e-3) for a, b in zip(places[0][1], places[1][1], strict=True)
    ):
        raise InputError(
            f"{path}: orientation/position differ between the top level and "
            "DetectorInformationSequence; cannot tell which is right"
        )
    return places[0][1]


def pixel_spacing(h, path: Path) -> tuple[float, float]:
    """(between rows, between columns) in mm, as PixelSpacing orders them."""
    if "PixelSpacing" not in h:
        raise InputError(f"{path}: no PixelSpacing")
    dr, dc = _numbers(h, "PixelSpacing", 2, path)
    if dr <= 0 or dc <= 0:
        raise InputError(f"{path}: PixelSpacing must be positive, got {[dr, dc]}")
    return float(dr), float(dc)


def _number(ds, key: str, path: Path, default: float | None = None) -> float | None:
    """A single numeric attribute (finite), `default` when absent or empty."""
    value = ds.get(key)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: {key} is not a number ({value!r})") from err
    if not np.isfinite(number):
        raise InputError(f"{path}: {key} is not finite ({value!r})")
    return number


def slice_step(ds, path: Path) -> float:
    """Signed slice step along row x column (DICOM PS3.3 C.8.4.15): negative = stacked
    against the normal, as GE writes it. SliceThickness (unsigned) only as a fallback."""
    spacing = _number(ds, "SpacingBetweenSlices", path)
    if spacing:
        return spacing
    thickness = _number(ds, "SliceThickness", path)
    if thickness and thickness > 0:
        return thickness
    raise InputError(
        f"{path}: multi-frame NM without a usable SpacingBetweenSlices or SliceThickness"
    )


def rescale(ds, path: Path) -> tuple[float, float]:
    """(slope, intercept); absent means (1, 0); a zero slope is refused."""
    slope = _number(ds, "RescaleSlope", path, 1.0)
    intercept = _number(ds, "RescaleIntercept", path, 0.0)
    if slope == 0:
        raise InputError(f"{path}: RescaleSlope is 0: every voxel would be {intercept}")
    return slope, intercept


def image_size(h, path: Path) -> tuple[int, int, int, int]:
    """(rows, columns, frames, bits allocated), each a positive integer, else InputError."""
    values = []
    for key, default in (("Rows", None), ("Columns", None), ("NumberOfFrames", 1)):
        values.append(positive_int(h, key, path, default))
    bits = positive_int(h, "BitsAllocated", path, None)
    return values[0], values[1], values[2], bits


def positive_int(h, key: str, path: Path, default: int | None) -> int:
    value = h.get(key)
    if value in (None, "") and default is not None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: {key} missing or not an integer ({value!r})") from err
    if number <= 0:
        raise InputError(f"{path}: {key} must be positive, got {number}")
    return number
