"""NM DICOM vendor variants against the generator's truth (never against dcm2niix, which
ignores the sign of SpacingBetweenSlices: its issue 885).

The truth is a small asymmetric, anisotropic count volume with a bright marker in the
right-anterior-superior corner: a flip of any axis, a swapped PixelSpacing or a wrong
stacking sign moves the marker to the wrong side.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataelem import DataElement

from marked_volume import VOXEL_MM, marker_ras, truth_volume
from spectstage.check import inspect
from spectstage.demo import writers
from spectstage.demo.writers import DicomVariant
from spectstage.errors import InputError
from spectstage.inputs import ScanInput
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions

CONV = SliceConventions()
PHI = {"PatientName": "Testperson^Jane", "PatientID": "MRN1234567"}

VARIANTS = [
    DicomVariant(*v)
    for v in itertools.product(
        writers.DICOM_LAYOUTS,
        writers.GEOMETRY_PLACES,
        (False, True),
        (False, True),
        writers.RESCALES,
    )
]


def write(variant: DicomVariant, volume, affine, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    if variant.layout == "series":
        rng = np.random.default_rng(1)
        writers.write_dicom_series(volume, affine, folder, PHI, rng, variant)
    else:
        writers.write_dicom_multiframe(volume, affine, folder / "NM00001", PHI, variant)


def assert_matches_truth(scan, volume, affine) -> None:
    want_ras = marker_ras(volume, affine)
    got_ras = marker_ras(scan.data, scan.affine)
    # Right, anterior, superior: each sign tested on its own, then the position exactly.
    assert (np.sign(got_ras) == np.sign(want_ras)).all(), (got_ras, want_ras)
    np.testing.assert_allclose(got_ras, want_ras, atol=1e-3)
    got = nib.as_closest_canonical(nib.Nifti1Image(scan.data, scan.affine))
    want = nib.as_closest_canonical(nib.Nifti1Image(volume, affine))
    np.testing.assert_allclose(got.affine, want.affine, atol=1e-3)
    np.testing.assert_array_equal(got.get_fdata(), want.get_fdata())  # rescale is exact


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_every_dicom_variant_matches_truth(tmp_path, variant):
    volume, affine = truth_volume()
    write(variant, volume, affine, tmp_path)
    scan = load_scan(tmp_path, CONV)
    assert scan.format == "dicom" and scan.voxel_mm == list(VOXEL_MM)
    assert_matches_truth(scan, volume, affine)


def test_ge_layout_is_what_the_real_file_holds(tmp_path):
    """The writer's GE variant has the real file's header facts (../shared/notes/dicom-nm.md)."""
    volume, affine = truth_volume()
    writers.write_dicom_multiframe(volume, affine, tmp_path / "NM00001", PHI, writers.GE_VARIANT)
    ds = pydicom.dcmread(tmp_path / "NM00001")
    assert "ImageOrientationPatient" not in ds and "ImagePositionPatient" not in ds
    assert "ImageOrientationPatient" in ds.DetectorInformationSequence[0]
    assert float(ds.SpacingBetweenSlices) == -VOXEL_MM[2] and float(ds.SliceThickness) > 0
    assert ds.PixelRepresentation == 1 and "RescaleSlope" not in ds
    # The first frame is the most superior slice; the file reads as L-P-I.
    assert ds.DetectorInformationSequence[0].ImagePositionPatient[2] > 0
    assert load_scan(tmp_path, CONV).axcodes == "LPI"


@pytest.mark.parametrize("variant", [writers.GE_VARIANT, DicomVariant("series", "detector")])
def test_oblique_volume_matches_truth(tmp_path, variant):
    volume, affine = truth_volume(tilt_deg=12.0)
    write(variant, volume, affine, tmp_path)
    assert_matches_truth(load_scan(tmp_path, CONV), volume, affine)


def test_ignoring_the_spacing_sign_would_flip_superior_inferior(tmp_path):
    """The test can fail: read with |spacing|, the GE file is upside down (marker inferior)."""
    volume, affine = truth_volume()
    writers.write_dicom_multiframe(volume, affine, tmp_path / "NM00001", PHI, writers.GE_VARIANT)
    path = tmp_path / "NM00001"
    ds = pydicom.dcmread(path)
    ds.SpacingBetweenSlices = abs(float(ds.SpacingBetweenSlices))
    ds.save_as(path)
    scan = load_scan(tmp_path, CONV)

    def height_above_centre(data, aff):
        return marker_ras(data, aff)[2] - (aff @ [*((np.array(data.shape) - 1) / 2), 1])[2]

    assert height_above_centre(scan.data, scan.affine) < 0 < height_above_centre(volume, affine)


def test_frames_are_stacked_by_slice_vector(tmp_path):
    """NM multi-frame numbers each frame's slice in SliceVector: frames stored out of order
    (with their slice numbers) read back as the true volume."""
    volume, affine = truth_volume()
    path = tmp_path / "NM00001"
    writers.write_dicom_multiframe(volume, affine, path, PHI, writers.GE_VARIANT)
    ds = pydicom.dcmread(path)
    shuffle = np.random.default_rng(2).permutation(int(ds.NumberOfFrames))
    ds.PixelData = np.ascontiguousarray(ds.pixel_array[shuffle]).tobytes()
    ds.SliceVector = [int(k) + 1 for k in shuffle]
    ds.save_as(path)
    assert_matches_truth(load_scan(tmp_path, CONV), volume, affine)


def edited(tmp_path: Path, variant: DicomVariant, **changes) -> Path:
    volume, affine = truth_volume()
    write(variant, volume, affine, tmp_path)
    path = sorted(p for p in tmp_path.iterdir())[0]
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        elif isinstance(value, DataElement):  # a value pydicom would not write as its VR
            ds[value.tag] = value
        else:
            setattr(ds, key, value)
    ds.save_as(path)
    return path


MULTIFRAME_BOTH = DicomVariant("multiframe", "both")
SERIES = DicomVariant("series", "top_level")


@pytest.mark.parametrize(
    ("variant", "changes", "message"),
    [
        (MULTIFRAME_BOTH, {"RescaleSlope": 0}, "RescaleSlope is 0"),
        (
            MULTIFRAME_BOTH,
            {"RescaleSlope": DataElement(0x00281053, "LO", "abc")},
            "RescaleSlope is not a number",
        ),
        (MULTIFRAME_BOTH, {"ImagePositionPatient": [0, 0, 50]}, "differ between the top level"),
        (MULTIFRAME_BOTH, {"NumberOfSlices": 3}, "9 frames but 3 slices"),
        (MULTIFRAME_BOTH, {"SliceVector": [1] * 9}, "SliceVector does not number"),
        (MULTIFRAME_BOTH, {"PixelSpacing": None}, "no PixelSpacing"),
        (MULTIFRAME_BOTH, {"PixelSpacing": [0, 2]}, "PixelSpacing must be positive"),
        (
            MULTIFRAME_BOTH,
            {"SpacingBetweenSlices": None, "SliceThickness": None},
            "without a usable SpacingBetweenSlices",
        ),
        (
            MULTIFRAME_BOTH,
            {"ImageType": ["ORIGINAL", "PRIMARY", "RECON GATED TOMO", "EMISSION"]},
            "RECON GATED TOMO",
        ),
        (SERIES, {"ImageOrientationPatient": [1, 0, 0, 0, 0.8, 0.6]}, "ImageOrientationPatient"),
        (SERIES, {"ImageOrientationPatient": [1, 0, 0, 1, 0, 0]}, "not two unit vectors"),
        (SERIES, {"PixelSpacing": [3, 3]}, "PixelSpacing differs"),
    ],
)
def test_unusable_variant_is_refused_naming_the_file(tmp_path, variant, changes, message):
    path = edited(tmp_path, variant, **changes)
    with pytest.raises(InputError, match=message) as err:
        load_scan(tmp_path, CONV)
    assert str(path.parent) in str(err.value)
    # `spectstage check` reads headers only: it sees all but the slice-to-slice differences.
    if "differs" not in message and message != "ImageOrientationPatient":
        with pytest.raises(InputError, match=message):
            inspect(ScanInput("P", "P", "1", tmp_path))
