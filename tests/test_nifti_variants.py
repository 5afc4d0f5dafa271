"""NIfTI orientation fields (sform, qform, their codes) against the generator's truth.

The writer puts the left-right mirror image in the field a correct reader must not use,
so a reader that takes the wrong one puts the marker on the wrong side.
"""

from __future__ import annotations

import itertools

import nibabel as nib
import numpy as np
import pytest

from marked_volume import marker_ras, truth_volume
from spectstage.demo import writers
from spectstage.errors import InputError
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions

CONV = SliceConventions()
USABLE_FORMS = [f for f in writers.NIFTI_FORMS if f != "none"]
ORIENTATIONS = ("RAS", "LAS", "LPS", "PIR")  # LAS and PIR are left-handed: qfac -1


@pytest.mark.parametrize(("form", "axcodes"), list(itertools.product(USABLE_FORMS, ORIENTATIONS)))
def test_nifti_form_matches_truth(tmp_path, form, axcodes):
    volume, affine = truth_volume()
    path = tmp_path / "scan.nii.gz"
    writers.write_nifti(volume, affine, path, axcodes, form)
    header = nib.load(path).header
    assert (int(header["sform_code"]), int(header["qform_code"])) == writers.NIFTI_FORMS[form]
    scan = load_scan(tmp_path, CONV)
    assert scan.axcodes == axcodes
    want, got = marker_ras(volume, affine), marker_ras(scan.data, scan.affine)
    assert (np.sign(got) == np.sign(want)).all(), (got, want)  # right, anterior, superior
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert scan.meta["nifti_affine_from"] == ("qform" if form == "qform" else "sform")


@pytest.mark.parametrize("form", USABLE_FORMS)
def test_the_unused_field_really_is_mirrored(tmp_path, form):
    """The test above can fail: the field with code 0 (or the qform beside a differing sform)
    would put the marker on the patient's other side."""
    volume, affine = truth_volume()
    path = tmp_path / "scan.nii.gz"
    writers.write_nifti(volume, affine, path, "RAS", form)
    header = nib.load(path).header
    other = header.get_qform() if form in ("sform", "both_differ") else header.get_sform()
    if form == "both":
        np.testing.assert_allclose(other, header.get_sform(), atol=1e-4)
    else:
        assert marker_ras(volume, other)[0] < 0 < marker_ras(volume, affine)[0]


def test_nifti_without_orientation_is_refused(tmp_path):
    volume, affine = truth_volume()
    path = tmp_path / "scan.nii.gz"
    writers.write_nifti(volume, affine, path, "RAS", "none")
    with pytest.raises(InputError, match="both 0") as err:
        load_scan(tmp_path, CONV)
    assert str(path) in str(err.value)


def test_nifti_with_singular_orientation_is_refused(tmp_path):
    volume, _ = truth_volume()
    path = tmp_path / "scan.nii.gz"
    img = nib.Nifti1Image(volume, np.eye(4))
    img.set_qform(None, code=0)
    img.set_sform(np.diag([2.0, 0.0, 4.0, 1.0]), code=1)  # a zero voxel size
    nib.save(img, path)
    with pytest.raises(InputError, match="singular") as err:
        load_scan(tmp_path, CONV)
    assert str(path) in str(err.value)
