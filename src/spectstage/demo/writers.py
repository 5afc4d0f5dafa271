"""Write a rendered volume the way real data arrive: NM DICOM, NIfTI (and, from
demo/stacks.py, coloured slice images).

The DICOM headers carry fake PHI on purpose, so that de-identification can be tested.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

# Slice stacks are written by demo/stacks.py; callers use writers.* for every format.
from spectstage.demo.stacks import annotation_colour, sample_stack, write_slices

__all__ = [
    "DicomVariant",
    "annotation_colour",
    "fake_phi",
    "sample_stack",
    "write_dicom_multiframe",
    "write_dicom_planar",
    "write_dicom_series",
    "write_nifti",
    "write_slices",
]

NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


# Which orientation fields a NIfTI file fills, as (sform_code, qform_code); the field whose
# code is 0 holds the left-right mirror image, so a reader that uses it is caught.
# "both_differ": registered images (FSL, SPM) keep the scanner qform beside an aligned sform;
# nibabel (and the NIfTI-1 standard's "method 3") then use the sform.
NIFTI_FORMS = {
    "both": (1, 1),
    "sform": (2, 0),
    "qform": (0, 1),
    "both_differ": (4, 1),
    "none": (0, 0),
}


def write_nifti(
    volume: np.ndarray, affine: np.ndarray, path: Path, axcodes: str, form: str = "both"
) -> None:
    """Save a RAS volume re-oriented to `axcodes` (e.g. "LPS", "PIR"), orientation in `form`."""
    img = nib.Nifti1Image(volume.astype(np.float32), affine)
    ornt = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt("RAS"), nib.orientations.axcodes2ornt(tuple(axcodes))
    )
    img = img.as_reoriented(ornt)
    true = img.affine.copy()
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0]) @ true
    sform_code, qform_code = NIFTI_FORMS[form]
    img.set_sform(true if sform_code or form == "none" else mirror, code=sform_code)
    qform_true = form in ("both", "qform", "none")
    img.set_qform(true if qform_true else mirror, code=qform_code)
    nib.save(img, path)


def _lps_frames(volume: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip an axis-aligned RAS volume so rows run to patient left and columns to posterior.

    Returns pixel frames (k, row, col) and the LPS affine of the flipped (col, row, k) array.
    """
    flipped = volume[::-1, ::-1, :]
    n0, n1 = volume.shape[:2]
    flip = np.array([[-1, 0, 0, n0 - 1], [0, -1, 0, n1 - 1], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    return flipped.transpose(2, 1, 0), LPS_FROM_RAS @ affine @ flip


def _base_dataset(phi: dict[str, str], series_uid: str, study_uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = NM_IMAGE_STORAGE
    ds.Modality = "NM"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesDescription = "DaTSCAN SPECT recon"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.Manufacturer = "spectstage-demo"
    for key, value in phi.items():
        setattr(ds, key, value)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def _save(ds: Dataset, path: Path) -> None:
    ds.SOPInstanceUID = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)


@dataclass(frozen=True)
class DicomVariant:
    """How a vendor lays out an NM reconstruction (see ../shared/notes/dicom-nm.md)."""

    layout: str = "multiframe"  # "multiframe" (one file) or "series" (one file per slice)
    geometry: str = "both"  # where IOP/IPP are: "detector" sequence, "top_level" or "both"
    negative_spacing: bool = False  # frames stacked against the row x column normal (GE)
    signed: bool = False  # PixelRepresentation 1 (int16) instead of uint16
    rescale: str = "identity"  # "absent", "identity" (1, 0) or "scaled" (slope and intercept)

    def __post_init__(self) -> None:
        assert self.layout in DICOM_LAYOUTS and self.geometry in GEOMETRY_PLACES
        assert self.rescale in RESCALES

    @property
    def name(self) -> str:
        spacing = "negative" if self.negative_spacing else "positive"
        pixels = "int16" if self.signed else "uint16"
        return f"{self.layout}-{self.geometry}-{spacing}-{pixels}-rescale_{self.rescale}"


DICOM_LAYOUTS = ("multiframe", "series")
GEOMETRY_PLACES = ("detector", "top_level", "both")
RESCALES = ("absent", "identity", "scaled")
# The real GE Discovery file: detector-only geometry, negative spacing, int16, no slope.
GE_VARIANT = DicomVariant("multiframe", "detector", True, True, "absent")
# Slopes are powers of two so that stored integers decode to the true counts exactly;
# series files get one slope per slice, as vendors that scale each slice to full range do.
SERIES_VARIANT = DicomVariant("series", "top_level")
SCALED_SLOPES = (0.5, 0.25, 0.125)
SCALED_INTERCEPT = {False: -10.0, True: 40.0}  # signed: stored values go negative


def _stacking(lps_aff: np.ndarray, variant: DicomVariant, n: int) -> tuple[np.ndarray, int]:
    """(affine, frame order sign) with slices stacked along or against row x column."""
    normal = np.cross(lps_aff[:3, 0], lps_aff[:3, 1])
    sign = float(np.sign(normal @ lps_aff[:3, 2]))
    want = -1.0 if variant.negative_spacing else 1.0
    if sign == want:
        return lps_aff, 1
    reverse = np.eye(4)
    reverse[2, 2], reverse[2, 3] = -1.0, n - 1
    return lps_aff @ reverse, -1


def _geometry(lps_aff: np.ndarray, k: int) -> tuple[list[float], list[float], dict]:
    """(IOP, IPP of slice k, spacing attributes) of an LPS affine of a (col, row, k) array."""
    spacing = np.linalg.norm(lps_aff[:3, :3], axis=0)
    row, col = lps_aff[:3, 0] / spacing[0], lps_aff[:3, 1] / spacing[1]
    step = float(np.cross(row, col) @ lps_aff[:3, 2])  # signed, as PS3.3 C.8.4.15 defines
    iop = [round(float(v), 6) for v in (*row, *col)]
    ipp = [round(float(v), 4) for v in (lps_aff @ [0, 0, k, 1])[:3]]
    attrs = {
        "PixelSpacing": [round(float(spacing[1]), 6), round(float(spacing[0]), 6)],
        "SliceThickness": round(abs(step), 6),
        "SpacingBetweenSlices": round(step, 6),
    }
    return iop, ipp, attrs


def _place_geometry(ds: Dataset, iop: list[float], ipp: list[float], where: str) -> None:
    if where in ("detector", "both"):
        detector = Dataset()
        detector.ImageOrientationPatient = iop
        detector.ImagePositionPatient = ipp
        ds.DetectorInformationSequence = Sequence([detector])
    if where in ("top_level", "both"):
        ds.ImageOrientationPatient = iop
        ds.ImagePositionPatient = ipp


def _set_pixels(ds: Dataset, counts: np.ndarray, variant: DicomVariant, slope: float) -> None:
    """Store counts as integers, with the variant's pixel representation and rescale."""
    ds.PixelRepresentation = int(variant.signed)
    intercept = SCALED_INTERCEPT[variant.signed] if variant.rescale == "scaled" else 0.0
    if variant.rescale != "scaled":
        slope = 1.0
    stored = np.rint((counts - intercept) / slope)
    dtype = np.int16 if variant.signed else np.uint16
    info = np.iinfo(dtype)
    assert stored.min() >= info.min and stored.max() <= info.max, "counts overflow the pixels"
    if variant.rescale != "absent":
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
    ds.PixelData = np.ascontiguousarray(stored.astype(dtype)).tobytes()


def write_dicom_multiframe(
    volume: np.ndarray,
    affine: np.ndarray,
    path: Path,
    phi: dict[str, str],
    variant: DicomVariant = GE_VARIANT,
) -> None:
    """One NM multi-frame file laid out as `variant` says."""
    frames, lps_aff = _lps_frames(volume, affine)
    lps_aff, order = _stacking(lps_aff, variant, frames.shape[0])
    frames = frames[::order]
    ds = _base_dataset(phi, generate_uid(), generate_uid())
    iop, ipp, spacing = _geometry(lps_aff, 0)
    for key, value in spacing.items():
        setattr(ds, key, value)
    _place_geometry(ds, iop, ipp, variant.geometry)
    ds.NumberOfFrames = frames.shape[0]
    ds.FrameIncrementPointer = (0x0054, 0x0080)
    ds.SliceVector = list(range(1, frames.shape[0] + 1))
    ds.NumberOfSlices = frames.shape[0]
    ds.Rows, ds.Columns = frames.shape[1:]
    _set_pixels(ds, frames, variant, SCALED_SLOPES[0])
    _save(ds, path)


def write_dicom_series(
    volume: np.ndarray,
    affine: np.ndarray,
    folder: Path,
    phi: dict[str, str],
    rng: np.random.Generator,
    variant: DicomVariant = SERIES_VARIANT,
) -> None:
    """One file per axial slice, named with random hex so names do not sort in slice order."""
    frames, lps_aff = _lps_frames(volume, affine)
    lps_aff, order = _stacking(lps_aff, variant, frames.shape[0])
    frames = frames[::order]
    series_uid, study_uid = generate_uid(), generate_uid()
    for k, frame in enumerate(frames):
        ds = _base_dataset(phi, series_uid, study_uid)
        iop, ipp, spacing = _geometry(lps_aff, k)
        for key, value in spacing.items():
            setattr(ds, key, value)
        _place_geometry(ds, iop, ipp, variant.geometry)
        ds.InstanceNumber = k + 1
        ds.Rows, ds.Columns = frame.shape
        _set_pixels(ds, frame, variant, SCALED_SLOPES[k % len(SCALED_SLOPES)])
        _save(ds, folder / f"{rng.integers(16**12):012x}")


def fake_phi(rng: np.random.Generator, index: int) -> dict[str, str]:
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 35)))
    return {
        "PatientName": f"Testperson^Jane{index:04d}",
        "PatientID": f"MRN{rng.integers(10**6, 10**7)}",
        "PatientBirthDate": birth.strftime("%Y%m%d"),
        "PatientSex": str(rng.choice(["F", "M"])),
        "InstitutionName": "Saint Example Hospital",
        "StudyDate": "20240315",
        "ReferringPhysicianName": "Doctor^Example",
    }


def write_dicom_planar(volume: np.ndarray, path: Path, phi: dict[str, str]) -> None:
    """A planar (STATIC) NM view of the head in its own series: a file ingest must ignore."""
    ds = _base_dataset(phi, generate_uid(), generate_uid())
    ds.ImageType = ["ORIGINAL", "PRIMARY", "STATIC", "EMISSION"]
    ds.SeriesDescription = "Planar anterior"
    view = volume.sum(axis=1).T[::-1]  # anterior projection, superior at the top
    view = np.rint(view / view.max() * 1000).astype(np.uint16)
    ds.NumberOfFrames = 1
    ds.Rows, ds.Columns = view.shape
    ds.PixelSpacing = [4.0, 4.0]
    ds.PixelData = np.ascontiguousarray(view).tobytes()
    _save(ds, path)
