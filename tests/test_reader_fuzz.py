"""Fuzz every reader (DICOM, NIfTI, slice images) with mutated files: a reader either returns
a usable volume or raises InputError (naming the file), never any other exception, and
never hangs (a time limit per example). Hand-made hostile files: test_hostile_files.py."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hostile_files import good_slices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement

from marked_volume import truth_volume
from spectstage.check import inspect
from spectstage.demo import writers
from spectstage.demo.writers import DicomVariant
from spectstage.errors import InputError
from spectstage.inputs import ScanInput
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions

# More examples for a deeper search: SPECTSTAGE_FUZZ_EXAMPLES=2000 pytest tests/test_reader_fuzz.py
FUZZ = settings(
    max_examples=int(os.environ.get("SPECTSTAGE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
DICOM_KEYS = (
    "ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "SpacingBetweenSlices",
    "SliceThickness", "RescaleSlope", "RescaleIntercept", "NumberOfFrames", "NumberOfSlices",
    "Rows", "Columns", "BitsAllocated", "PixelRepresentation", "ImageType", "Modality",
    "SOPClassUID", "DetectorInformationSequence", "PatientAge", "PatientBirthDate", "SliceVector",
)  # fmt: skip
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-(2**31), 2**31)
)
TEXT_VALUE = st.one_of(
    st.none(),  # delete the attribute
    st.just(""),
    st.text(alphabet="0123456789.-+eEaz\\ ", max_size=24),
    st.lists(NUMBER, max_size=7).map(lambda v: "\\".join(f"{x:.6g}"[:16] for x in v)),
)


def assert_usable_or_input_error(folder: Path) -> None:
    for action in (
        lambda: inspect(ScanInput("P", "P", "1", folder)),
        lambda: load_scan(folder, SliceConventions()),
    ):
        try:
            result = action()
        except InputError as err:
            assert str(folder) in str(err)
            continue
        if not isinstance(result, str):  # a Scan: a 3D volume with a usable affine
            assert result.data.ndim == 3
            assert np.isfinite(result.affine).all()


def mutate_dicom(path: Path, changes: list[tuple[str, str | None]]) -> None:
    ds = pydicom.dcmread(path)
    for key, value in changes:
        tag = tag_for_keyword(key)
        if value is None:
            if key in ds:
                del ds[key]
        elif dictionary_VR(tag) == "SQ":
            ds[key] = DataElement(tag, "SQ", [])  # an empty detector sequence
        else:
            ds[tag] = DataElement(tag, "LO", value[:64])  # raw text, whatever the VR wants
    ds.save_as(path)


@pytest.fixture(scope="module")
def good_dicom(tmp_path_factory) -> dict[str, Path]:
    volume, affine = truth_volume()
    root = tmp_path_factory.mktemp("dicom")
    out = {}
    for variant in (writers.GE_VARIANT, DicomVariant("series", "both", rescale="scaled")):
        folder = root / variant.layout
        folder.mkdir()
        if variant.layout == "series":
            writers.write_dicom_series(
                volume, affine, folder, {}, np.random.default_rng(0), variant
            )
        else:
            writers.write_dicom_multiframe(volume, affine, folder / "NM00001", {}, variant)
        out[variant.layout] = folder
    return out


@FUZZ
@given(
    layout=st.sampled_from(["multiframe", "series"]),
    changes=st.lists(st.tuples(st.sampled_from(DICOM_KEYS), TEXT_VALUE), min_size=1, max_size=4),
    truncate=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_mutated_dicom_is_read_or_refused(good_dicom, layout, changes, truncate):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scan"
        shutil.copytree(good_dicom[layout], folder)
        path = sorted(folder.iterdir())[0]
        mutate_dicom(path, changes)
        if truncate is not None:
            path.write_bytes(path.read_bytes()[: int(path.stat().st_size * truncate)])
        assert_usable_or_input_error(folder)


NIFTI_FIELDS = {
    "sform_code": st.integers(-3, 300),
    "qform_code": st.integers(-3, 300),
    "pixdim": st.lists(st.floats(width=32), min_size=8, max_size=8),
    "dim": st.lists(st.integers(-2, 40), min_size=8, max_size=8),
    "srow_x": st.lists(st.floats(width=32), min_size=4, max_size=4),
    "quatern_b": st.floats(width=32),
    "qoffset_x": st.floats(width=32),
    "scl_slope": st.floats(width=32),
    "scl_inter": st.floats(width=32),
    "datatype": st.sampled_from([0, 2, 4, 8, 16, 64, 128, 255, 511, 768, 1024, 32767]),
    "vox_offset": st.floats(-10, 10**6, width=32),
}


@FUZZ
@given(
    changes=st.lists(
        st.sampled_from(sorted(NIFTI_FIELDS)).flatmap(
            lambda k: st.tuples(st.just(k), NIFTI_FIELDS[k])
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_nifti_is_read_or_refused(tmp_path, changes):
    volume, affine = truth_volume()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scan"
        folder.mkdir()
        path = folder / "scan.nii"
        writers.write_nifti(volume, affine, path, "LAS", "both")
        raw = bytearray(path.read_bytes())
        header = nib.Nifti1Header(binaryblock=bytes(raw[:348]))
        for key, value in changes:
            header[key] = value
        raw[:348] = header.binaryblock
        path.write_bytes(bytes(raw))
        assert_usable_or_input_error(folder)


@contextmanager
def time_limit(seconds: int):
    """A reader that hangs fails the example instead of the whole run."""

    def _expired(signum, frame):
        raise AssertionError(f"reader took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def good_stacks(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("slices")
    return {suffix: good_slices(root / suffix[1:], suffix)[0].parent for suffix in (".png", ".jpg")}


@FUZZ
@given(
    suffix=st.sampled_from([".png", ".jpg"]),
    truncate=st.one_of(st.none(), st.floats(0.0, 1.0)),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 7)), max_size=8),
)
def test_mutated_slice_images_are_read_or_refused(good_stacks, suffix, truncate, flips):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scan"
        shutil.copytree(good_stacks[suffix], folder)
        path = sorted(folder.iterdir())[1]
        data = bytearray(path.read_bytes())
        for where, bit in flips:
            data[int(where * (len(data) - 1))] ^= 1 << bit
        if truncate is not None:
            data = data[: int(len(data) * truncate)]
        path.write_bytes(bytes(data))
        with time_limit(20):
            assert_usable_or_input_error(folder)
