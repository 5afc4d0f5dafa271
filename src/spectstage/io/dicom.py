"""NM (SPECT) DICOM: one multi-frame file or a one-file-per-slice series, any file names.

A folder may hold several series (projections, planar views, screenshots): the single
reconstructed tomographic NM series is selected and the others are reported.
DICOM patient coordinates are LPS; the returned affine is RAS.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectstage.errors import InputError
from spectstage.io.dicom_header import (
    geometry,
    pixel_spacing,
    positive_int,
    rescale,
    slice_step,
)
from spectstage.io.limits import (
    check_compressed_frames,
    check_declared_size,
    check_deflated,
)

log = logging.getLogger(__name__)

RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
# Value 3 of NM ImageType; only reconstructed tomography is a volume ("TOMO" = projections).
# "RECON GATED TOMO" holds one volume per gate: not one volume, refused too.
NON_VOLUME_NM_TYPES = {
    "STATIC",
    "DYNAMIC",
    "GATED",
    "WHOLE BODY",
    "TOMO",
    "GATED TOMO",
    "RECON GATED TOMO",
}


@dataclass
class Series:
    uid: str
    files: list[Path]
    headers: list  # pydicom Datasets without pixel data
    reason: str = ""  # why it is not a reconstructed volume ("" = candidate)

    def describe(self, with_file: bool = True) -> str:
        h = self.headers[0]
        kind = "\\".join(getattr(h, "ImageType", []) or ["?"])
        n = h.get("NumberOfFrames") or 1
        modality = getattr(h, "Modality", "?")
        text = f"modality {modality}, type {kind}, {len(self.files)} file(s), {n} frame(s)"
        return f"{text}, first file {self.files[0].name}" if with_file else text


def _read_header(path: Path):
    import pydicom

    check_deflated(path)
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as err:  # InvalidDicomError, OSError, EOFError, struct.error, ...
        raise InputError(
            f"{path}: not a readable DICOM file, nor a supported format "
            f"(.nii, .nii.gz, .png, .jpg, .tif) ({err})"
        ) from err
    try:  # pydicom parses values (and sequences) lazily: a damaged header fails here, once
        for _ in header.iterall():
            pass
    except Exception as err:  # pydicom raises many types for damaged values
        raise InputError(f"{path}: damaged DICOM header ({type(err).__name__}: {err})") from err
    return header


def _classify(series: Series) -> str:
    h = series.headers[0]
    if getattr(h, "Modality", None) != "NM":
        return f"modality {getattr(h, 'Modality', 'missing')}, not NM"
    if str(getattr(h, "SOPClassUID", "")).startswith(SECONDARY_CAPTURE_PREFIX):
        return "secondary capture (a screenshot), not a volume"
    image_type = [str(v).upper() for v in (getattr(h, "ImageType", None) or [])]
    if len(image_type) > 2 and image_type[2] in NON_VOLUME_NM_TYPES:
        return f"NM image type {image_type[2]}, not a reconstructed tomographic volume"
    frames = positive_int(h, "NumberOfFrames", series.files[0], default=1)
    if len(series.files) == 1 and frames < 2:
        return "a single planar image, not a volume"
    if len(series.files) > 1 and frames > 1:
        return "several multi-frame files in one series"
    return ""


def find_series(files: list[Path]) -> tuple[Series, list[Series]]:
    """(the reconstructed NM volume, the series ignored); error if zero or several candidates."""
    groups: dict[str, Series] = defaultdict(lambda: Series("", [], []))
    for f in files:
        h = _read_header(f)
        uid = str(getattr(h, "SeriesInstanceUID", f"no-uid:{f}"))
        groups[uid].uid = uid
        groups[uid].files.append(f)
        groups[uid].headers.append(h)
    for s in groups.values():
        s.reason = _classify(s)
    candidates = [s for s in groups.values() if not s.reason]
    ignored = [s for s in groups.values() if s.reason]
    folder = files[0].parent
    if len(candidates) != 1:
        listing = "; ".join(f"[{s.describe()}: {s.reason or 'candidate'}]" for s in groups.values())
        what = "no reconstructed NM volume" if not candidates else "several NM volumes"
        raise InputError(f"{folder}: {what} among {len(groups)} series: {listing}")
    return candidates[0], ignored


def _pixels(ds, path: Path) -> np.ndarray:
    slope, intercept = rescale(ds, path)
    check_declared_size(ds, path)
    check_compressed_frames(ds, path)
    try:
        arr = ds.pixel_array.astype(np.float32)  # signed/unsigned per PixelRepresentation
    except Exception as err:  # pydicom raises several types for missing decoders/truncation
        raise InputError(f"{path}: cannot decode pixel data ({err})") from err
    with np.errstate(over="ignore", invalid="ignore"):
        counts = arr * np.float32(slope) + np.float32(intercept)
    if not np.isfinite(counts).all():
        raise InputError(f"{path}: RescaleSlope {slope} / RescaleIntercept {intercept} overflow")
    return counts


def _affine(row: np.ndarray, col: np.ndarray, normal: np.ndarray, spacing, origin) -> np.ndarray:
    """RAS affine of an array indexed (column, row, slice)."""
    lps = np.eye(4)
    lps[:3, 0] = row * spacing[0]
    lps[:3, 1] = col * spacing[1]
    lps[:3, 2] = normal * spacing[2]
    lps[:3, 3] = origin
    return RAS_FROM_LPS @ lps


def frames_are_slices(ds, path: Path) -> None:
    """Frames must be one per slice: gated or multi-window files are refused, not stacked."""
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        slices = int(ds.get("NumberOfSlices") or frames)
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: NumberOfFrames/NumberOfSlices are not integers") from err
    if slices != frames:
        raise InputError(
            f"{path}: {frames} frames but {slices} slices (gated, dynamic or several "
            "energy windows?); only one reconstructed volume per file is supported"
        )


def slice_order(ds, n_frames: int, path: Path) -> np.ndarray:
    """Frame indices in slice order: SliceVector gives each frame's slice (1-based,
    DICOM PS3.3 C.8.4.8); absent means the frames are in slice order already."""
    vector = ds.get("SliceVector")
    if vector in (None, ""):
        return np.arange(n_frames)
    try:
        numbers = np.array([int(v) for v in np.atleast_1d(vector)])
    except (TypeError, ValueError) as err:
        raise InputError(f"{path}: SliceVector is not a list of integers") from err
    if sorted(numbers.tolist()) != list(range(1, n_frames + 1)):
        raise InputError(
            f"{path}: SliceVector does not number the {n_frames} frames 1..{n_frames} once each"
        )
    return np.argsort(numbers)


def _read_multiframe(path: Path):
    import pydicom

    ds = pydicom.dcmread(path)
    frames_are_slices(ds, path)
    row, col, origin = geometry(ds, path)
    dz = slice_step(ds, path)
    dr, dc = pixel_spacing(ds, path)
    frames = _pixels(ds, path)  # (frame, row, col)
    if frames.ndim != 3:
        raise InputError(f"{path}: expected frames x rows x columns, got shape {frames.shape}")
    frames = frames[slice_order(ds, len(frames), path)]
    affine = _affine(row, col, np.cross(row, col), (dc, dr, dz), origin)
    return frames.transpose(2, 1, 0), affine, ds


def _same_in_every_slice(files: list[Path], values: list, what: str) -> None:
    for f, v in zip(files, values, strict=True):
        if not np.allclose(v, values[0], atol=1e-3):
            raise InputError(f"{f}: {what} differs from {files[0].name}'s")


def _read_series(files: list[Path], headers: list):
    import pydicom

    check_declared_size(headers[0], files[0], files=len(files))
    planes = [geometry(h, f) for h, f in zip(headers, files, strict=True)]
    _same_in_every_slice(files, [np.r_[p[0], p[1]] for p in planes], "ImageOrientationPatient")
    spacings = [pixel_spacing(h, f) for h, f in zip(headers, files, strict=True)]
    _same_in_every_slice(files, spacings, "PixelSpacing")
    row, col, _ = planes[0]
    normal = np.cross(row, col)
    positions = np.array([p[2] for p in planes])
    along = positions @ normal
    order = np.argsort(along)
    steps = np.diff(along[order])
    if len(np.unique(np.round(along, 3))) != len(files):
        raise InputError(f"{files[0].parent}: several slices share one position")
    if np.ptp(steps) > 0.01 * abs(steps.mean()):
        raise InputError(
            f"{files[0].parent}: slice spacing is not uniform "
            f"({steps.min():.2f}-{steps.max():.2f} mm)"
        )
    slices = [_pixels(pydicom.dcmread(files[i]), files[i]) for i in order]
    if len({s.shape for s in slices}) > 1 or slices[0].ndim != 2:
        raise InputError(f"{files[0].parent}: slices differ in size or are not 2D images")
    dr, dc = spacings[0]
    affine = _affine(row, col, normal, (dc, dr, float(steps.mean())), positions[order[0]])
    return np.stack(slices).transpose(2, 1, 0), affine, headers[0]


MAX_REPORTED_AGE = 90  # older ages are identifying (HIPAA Safe Harbor): reported as 90


def demographics(h) -> dict:
    """Age at scan in whole years and sex: what analysis may use, never names or dates."""
    out: dict = {"sex": str(getattr(h, "PatientSex", "") or "") or None, "age_years": None}
    age = str(getattr(h, "PatientAge", "") or "")
    if age.endswith("Y") and age[:-1].isdigit():
        out["age_years"] = int(age[:-1])
    else:
        birth, study = str(getattr(h, "PatientBirthDate", "")), str(getattr(h, "StudyDate", ""))
        if len(birth) == 8 and len(study) == 8 and (birth + study).isdigit():
            years = int(study[:4]) - int(birth[:4]) - ((study[4:]) < (birth[4:]))
            out["age_years"] = years if 0 <= years < 130 else None
    if out["age_years"] is not None:
        out["age_years"] = min(out["age_years"], MAX_REPORTED_AGE)
    return out


def read_dicom(files: list[Path]):
    from spectstage.io.scan import Scan

    series, ignored = find_series(files)
    for s in ignored:
        log.info("%s: ignoring series (%s): %s", files[0].parent, s.describe(), s.reason)
    if len(series.files) == 1:
        data, affine, header = _read_multiframe(series.files[0])
        layout = "multiframe"
    else:
        data, affine, header = _read_series(series.files, series.headers)
        layout = "series"
    meta = {
        "dicom_layout": layout,
        "manufacturer": str(getattr(header, "Manufacturer", "")),
        "ignored_series": [f"{s.describe(with_file=False)}: {s.reason}" for s in ignored],
        **demographics(header),
    }
    return Scan(
        data=np.ascontiguousarray(data, dtype=np.float32), affine=affine, format="dicom", meta=meta
    )
