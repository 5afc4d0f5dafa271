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

log = logging.getLogger(__name__)

RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
# Value 3 of NM ImageType; only reconstructed tomography is a volume ("TOMO" = projections).
NON_VOLUME_NM_TYPES = {"STATIC", "DYNAMIC", "GATED", "WHOLE BODY", "TOMO", "GATED TOMO"}


@dataclass
class Series:
    uid: str
    files: list[Path]
    headers: list  # pydicom Datasets without pixel data
    reason: str = ""  # why it is not a reconstructed volume ("" = candidate)

    def describe(self, with_file: bool = True) -> str:
        h = self.headers[0]
        kind = "\\".join(getattr(h, "ImageType", []) or ["?"])
        n = int(getattr(h, "NumberOfFrames", 1) or 1)
        modality = getattr(h, "Modality", "?")
        text = f"modality {modality}, type {kind}, {len(self.files)} file(s), {n} frame(s)"
        return f"{text}, first file {self.files[0].name}" if with_file else text


def _read_header(path: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as err:
        raise InputError(
            f"{path}: not a readable DICOM file, nor a supported format "
            f"(.nii, .nii.gz, .png, .jpg, .tif) ({err})"
        ) from err


def _classify(series: Series) -> str:
    h = series.headers[0]
    if getattr(h, "Modality", None) != "NM":
        return f"modality {getattr(h, 'Modality', 'missing')}, not NM"
    if str(getattr(h, "SOPClassUID", "")).startswith(SECONDARY_CAPTURE_PREFIX):
        return "secondary capture (a screenshot), not a volume"
    image_type = [str(v).upper() for v in (getattr(h, "ImageType", None) or [])]
    if len(image_type) > 2 and image_type[2] in NON_VOLUME_NM_TYPES:
        return f"NM image type {image_type[2]}, not a reconstructed tomographic volume"
    frames = int(getattr(h, "NumberOfFrames", 1) or 1)
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


def geometry(h, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row direction, column direction, first position) in LPS, top level or detector sequence."""
    source = h
    if "ImageOrientationPatient" not in h or "ImagePositionPatient" not in h:
        detectors = getattr(h, "DetectorInformationSequence", None)
        if not detectors or "ImageOrientationPatient" not in detectors[0]:
            raise InputError(f"{path}: no ImageOrientationPatient/ImagePositionPatient")
        source = detectors[0]
    iop = np.array(source.ImageOrientationPatient, dtype=float)
    return iop[:3], iop[3:], np.array(source.ImagePositionPatient, dtype=float)


def _pixels(ds, path: Path) -> np.ndarray:
    try:
        arr = ds.pixel_array.astype(np.float32)
    except Exception as err:  # pydicom raises several types for missing decoders/truncation
        raise InputError(f"{path}: cannot decode pixel data ({err})") from err
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    return arr * slope + float(getattr(ds, "RescaleIntercept", 0) or 0)


def _affine(row: np.ndarray, col: np.ndarray, normal: np.ndarray, spacing, origin) -> np.ndarray:
    """RAS affine of an array indexed (column, row, slice)."""
    lps = np.eye(4)
    lps[:3, 0] = row * spacing[0]
    lps[:3, 1] = col * spacing[1]
    lps[:3, 2] = normal * spacing[2]
    lps[:3, 3] = origin
    return RAS_FROM_LPS @ lps


def _read_multiframe(path: Path):
    import pydicom

    ds = pydicom.dcmread(path)
    row, col, origin = geometry(ds, path)
    dz = getattr(ds, "SpacingBetweenSlices", None) or getattr(ds, "SliceThickness", None)
    if dz is None:
        raise InputError(f"{path}: multi-frame NM without SpacingBetweenSlices or SliceThickness")
    dr, dc = (float(v) for v in ds.PixelSpacing)
    frames = _pixels(ds, path)  # (frame, row, col)
    if frames.ndim != 3:
        raise InputError(f"{path}: expected frames x rows x columns, got shape {frames.shape}")
    affine = _affine(row, col, np.cross(row, col), (dc, dr, float(dz)), origin)
    return frames.transpose(2, 1, 0), affine, ds


def _read_series(files: list[Path], headers: list):
    import pydicom

    row, col, _ = geometry(headers[0], files[0])
    normal = np.cross(row, col)
    positions = np.array([np.asarray(h.ImagePositionPatient, dtype=float) for h in headers])
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
    if len({s.shape for s in slices}) > 1:
        raise InputError(f"{files[0].parent}: slices differ in size")
    dr, dc = (float(v) for v in headers[0].PixelSpacing)
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
