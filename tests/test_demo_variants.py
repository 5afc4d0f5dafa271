"""The demo cohort's file variants: what truth.csv says was written is what the files hold,
and every variant reads back as the generator's true volume and pose."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest

from spectstage.demo.cohort import generate, make_volume, plan
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions

PER_STAGE, STAGES, SEED = [3, 3], ["1", "2"], 3  # seed 3: GE and every NIfTI form


@pytest.fixture(scope="module", params=["dicom", "nifti"])
def cohort(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "demo"
    generate(out, request.param, PER_STAGE, STAGES, seed=SEED, workers=2)
    items = {it.patient.patient_id: it for it in plan(PER_STAGE, STAGES, request.param, SEED)}
    return out, pd.read_csv(out / "truth.csv", dtype=str).set_index("patient_id"), items


def folder_of(out, row):
    return out / f"stage_{row.stage}" / row.name


def dicom_variant_in_files(folder) -> str:
    """The variant name (DicomVariant.name) read back from the volume's headers."""
    files = sorted(f for f in folder.iterdir() if f.name != "NM_PLANAR")
    ds = pydicom.dcmread(files[0])
    top = "ImageOrientationPatient" in ds
    detector = "DetectorInformationSequence" in ds
    layout = "series" if len(files) > 1 else "multiframe"
    geometry = "both" if top and detector else "top_level" if top else "detector"
    spacing = "negative" if float(ds.SpacingBetweenSlices) < 0 else "positive"
    pixels = "int16" if ds.PixelRepresentation == 1 else "uint16"
    if "RescaleSlope" not in ds:
        rescale = "absent"
    else:
        identity = float(ds.RescaleSlope) == 1 and float(ds.RescaleIntercept) == 0
        rescale = "identity" if identity else "scaled"
    return f"{layout}-{geometry}-{spacing}-{pixels}-rescale_{rescale}"


def nifti_variant_in_file(folder) -> str:
    (path,) = folder.glob("*.nii.gz")
    img = nib.load(path)
    codes = (int(img.header["sform_code"]), int(img.header["qform_code"]))
    differ = not np.allclose(img.header.get_sform(), img.header.get_qform(), atol=1e-4)
    form = {(0, 1): "qform", (2, 0): "sform"}.get(codes, "both_differ" if differ else "both")
    return f"nifti-{form}-{''.join(nib.aff2axcodes(img.affine))}"


def test_truth_names_the_variant_in_the_files(cohort):
    out, truth, _ = cohort
    for _, row in truth.iterrows():
        folder = folder_of(out, row)
        found = (
            nifti_variant_in_file(folder)
            if row.layout == "nifti"
            else dicom_variant_in_files(folder)
        )
        assert found == row.variant, row.name


def test_cohort_uses_several_variants(cohort):
    _, truth, _ = cohort
    assert truth.variant.nunique() >= 3


def test_every_written_variant_reads_back_as_the_true_volume(cohort):
    out, truth, items = cohort
    for _, row in truth.iterrows():
        volume, affine, _ = make_volume(items[row.name])
        scan = load_scan(folder_of(out, row), SliceConventions())
        got = nib.as_closest_canonical(nib.Nifti1Image(scan.data, scan.affine))
        want = nib.as_closest_canonical(nib.Nifti1Image(volume, affine))
        np.testing.assert_allclose(got.affine, want.affine, atol=1e-3, err_msg=row.variant)
        np.testing.assert_allclose(got.get_fdata(), want.get_fdata(), atol=1e-4)
