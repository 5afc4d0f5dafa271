"""Every reader against the generator's true volume, and DICOM against dcm2niix."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spectstage.demo import writers
from spectstage.demo.acquisition import CLEAN
from spectstage.demo.cohort import NIFTI_ORIENTATIONS, STACK_SHAPE, DemoPatient, make_volume
from spectstage.demo.patients import sample_patient
from spectstage.demo.writers import SERIES_VARIANT, DicomVariant
from spectstage.errors import InputError
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions

CONV = SliceConventions()


def canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = nib.as_closest_canonical(nib.Nifti1Image(np.asarray(data, np.float32), affine))
    return img.get_fdata(), img.affine


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(scope="module")
def truth():
    """One patient's true native volume (RAS), its affine and its random stream: the clean
    variant, for exact comparisons (test_demo_realism.py reads the realistic ones)."""
    rng = np.random.default_rng(3)
    item = DemoPatient(sample_patient(rng, "P0001", "2", 1, 4), "nifti", (3, 1, 0), realism=CLEAN)
    volume, affine, stream = make_volume(item)
    return volume, affine, stream


def assert_matches_truth(scan, volume, affine, min_r=0.99):
    got, got_aff = canonical(scan.data, scan.affine)
    want, want_aff = canonical(volume, affine)
    assert got.shape == want.shape
    np.testing.assert_allclose(got_aff, want_aff, atol=1e-3)
    assert corr(got, want) >= min_r


@pytest.mark.parametrize("axcodes", NIFTI_ORIENTATIONS)
def test_nifti_any_orientation_matches_truth(truth, tmp_path, axcodes):
    volume, affine, _ = truth
    writers.write_nifti(volume, affine, tmp_path / "scan.nii.gz", axcodes)
    scan = load_scan(tmp_path, CONV)
    assert scan.format == "nifti" and scan.axcodes == axcodes
    assert_matches_truth(scan, volume, affine)


def dcm2niix(folder: Path, out: Path) -> nib.Nifti1Image:
    exe = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")
    out.mkdir()
    subprocess.run(
        [exe, "-z", "y", "-b", "n", "-o", str(out), str(folder)], check=True, capture_output=True
    )
    (result,) = out.glob("*.nii.gz")
    return nib.load(result)


# Positive spacing only: dcm2niix ignores a negative sign (its issue 885); the GE variant
# is tested against the generator's truth in test_dicom_variants.py.
@pytest.mark.parametrize(
    "variant",
    [DicomVariant(geometry="detector"), DicomVariant(geometry="top_level"), SERIES_VARIANT],
    ids=lambda v: v.name,
)
def test_dicom_matches_truth_and_dcm2niix(truth, tmp_path, variant):
    volume, affine, rng = truth
    folder = tmp_path / "dicom"
    folder.mkdir()
    phi = writers.fake_phi(rng, 1)
    if variant.layout == "series":
        writers.write_dicom_series(volume, affine, folder, phi, rng, variant)
    else:
        writers.write_dicom_multiframe(volume, affine, folder / "IMG", phi, variant)
    scan = load_scan(folder, CONV)
    assert scan.format == "dicom"
    assert_matches_truth(scan, volume, affine)
    reference = dcm2niix(folder, tmp_path / "dcm2niix")
    ours, ours_aff = canonical(scan.data, scan.affine)
    theirs, theirs_aff = canonical(reference.get_fdata(), reference.affine)
    np.testing.assert_allclose(ours_aff, theirs_aff, atol=1e-2)
    assert corr(ours, theirs) >= 0.999


def test_dicom_series_file_names_do_not_sort_in_slice_order(truth, tmp_path):
    volume, affine, rng = truth
    writers.write_dicom_series(volume, affine, tmp_path, writers.fake_phi(rng, 1), rng)
    import pydicom

    by_name = [
        int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber)
        for f in sorted(tmp_path.iterdir())
    ]
    assert by_name != sorted(by_name)  # the reader must sort by position, not by name
    assert_matches_truth(load_scan(tmp_path, CONV), volume, affine)


def test_dicom_folder_with_planar_series_selects_the_volume(truth, tmp_path):
    volume, affine, rng = truth
    phi = writers.fake_phi(rng, 1)
    writers.write_dicom_multiframe(volume, affine, tmp_path / "VOL", phi)
    writers.write_dicom_planar(volume, tmp_path / "PLANAR", phi)
    scan = load_scan(tmp_path, CONV)
    assert_matches_truth(scan, volume, affine)
    assert len(scan.meta["ignored_series"]) == 1 and "STATIC" in scan.meta["ignored_series"][0]


def test_dicom_folder_with_two_volumes_is_refused_listing_them(truth, tmp_path):
    volume, affine, rng = truth
    phi = writers.fake_phi(rng, 1)
    writers.write_dicom_multiframe(volume, affine, tmp_path / "A", phi)
    writers.write_dicom_multiframe(volume, affine, tmp_path / "B", phi, DicomVariant())
    with pytest.raises(InputError, match="several NM volumes") as err:
        load_scan(tmp_path, CONV)
    assert "first file A" in str(err.value) and "first file B" in str(err.value)


def test_dicom_folder_with_only_planar_is_refused(truth, tmp_path):
    volume, _, rng = truth
    writers.write_dicom_planar(volume, tmp_path / "PLANAR", writers.fake_phi(rng, 1))
    with pytest.raises(InputError, match="no reconstructed NM volume"):
        load_scan(tmp_path, CONV)


@pytest.mark.parametrize(
    ("image_left", "order", "colormap", "ext"),
    [
        ("patient_right", "anterior_to_posterior", "hot", "png"),
        ("patient_left", "posterior_to_anterior", "hot", "png"),
        ("patient_right", "anterior_to_posterior", "gray", "png"),
        ("patient_right", "anterior_to_posterior", "nipy_spectral", "png"),
        ("patient_right", "anterior_to_posterior", "hot", "jpg"),
    ],
)
def test_slice_stack_matches_truth(truth, tmp_path, image_left, order, colormap, ext):
    volume, affine, _ = truth
    conv = SliceConventions(order=order, image_left=image_left, colormap=colormap)
    stack, stack_aff = writers.sample_stack(volume, affine, conv, STACK_SHAPE, (0.0, 0.0, 0.0))
    writers.write_slices(stack, tmp_path, conv, ext=ext)
    scan = load_scan(tmp_path, conv)
    assert scan.format == "slices"
    np.testing.assert_allclose(scan.affine, stack_aff, atol=1e-6)
    got, _ = canonical(scan.data, scan.affine)
    want, _ = canonical(stack, stack_aff)
    # Colour quantisation (8 bit) and JPEG compression cost a little; geometry must be exact.
    assert corr(got, want) >= 0.95


def test_slice_stack_masks_burnt_in_annotations(truth, tmp_path):
    volume, affine, _ = truth
    stack, _ = writers.sample_stack(volume, affine, CONV, STACK_SHAPE, (0.0, 0.0, 0.0))
    writers.write_slices(stack, tmp_path, CONV)
    scan = load_scan(tmp_path, CONV)
    bar = scan.data[:, 10:-10, -7:-2]  # the colour bar: full scale on the image, not uptake
    assert bar.max() < 0.05 * scan.data.max()
    assert scan.meta["masked_pixels"] > 0


def test_slice_stack_convention_is_not_symmetric(truth, tmp_path):
    """Reading with the wrong image_left mirrors the volume: the setting must matter."""
    volume, affine, _ = truth
    stack, stack_aff = writers.sample_stack(volume, affine, CONV, STACK_SHAPE, (0.0, 0.0, 0.0))
    writers.write_slices(stack, tmp_path, CONV)
    wrong = load_scan(tmp_path, SliceConventions(image_left="patient_left"))
    np.testing.assert_allclose(wrong.affine[0, 2], -stack_aff[0, 2])
