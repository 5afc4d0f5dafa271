"""Compressed DICOM as scanners write it (RLE, JPEG 2000, JPEG lossless, deflated) is
decoded, with licence-compatible decoders only, to exactly the uncompressed pixels."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hostile_files import write_nm
from pydicom.data import get_testdata_file
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    RLELossless,
)

from spectstage.check import inspect
from spectstage.inputs import ScanInput
from spectstage.io.dicom import _pixels, read_dicom


def _sample(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file(name, download=False))  # in pydicom's wheel


@pytest.mark.parametrize(
    ("compressed", "plain"),
    [
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),  # JPEG 2000 lossless: openjpeg
        ("MR_small_RLE.dcm", "MR_small.dcm"),  # RLE lossless
        # JPEG lossless (process 14, SV1; GDCM) against the RLE copy of the same image,
        # pydicom ships no uncompressed one: two independent decoders must agree
        ("SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm"),
    ],
)
def test_pydicoms_compressed_samples_decode_to_their_uncompressed_pixels(compressed, plain):
    decoded = _pixels(_sample(compressed), Path(compressed))
    assert np.array_equal(decoded, _sample(plain).pixel_array.astype(np.float32))


def _gdcm_jpeg_lossless(src: Path, dest: Path) -> None:
    """GDCM writes JPEG lossless (process 14, SV1), as many NM workstations do."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dest))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()


@pytest.mark.parametrize(
    "syntax", [RLELossless, JPEG2000Lossless, JPEGLosslessSV1, DeflatedExplicitVRLittleEndian]
)
def test_a_compressed_nm_volume_is_checked_and_read_exactly(tmp_path, syntax):
    plain = write_nm(tmp_path / "plain" / "NM00001")
    path = tmp_path / "compressed" / "NM00001"
    path.parent.mkdir()
    if syntax == JPEGLosslessSV1:
        _gdcm_jpeg_lossless(plain, path)
    else:
        ds = pydicom.dcmread(plain)
        if syntax == DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = syntax
        else:
            ds.compress(syntax, encoding_plugin="pylibjpeg" if syntax == JPEG2000Lossless else "")
        ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    assert inspect(ScanInput("P", "P", "1", path.parent)) == "dicom"
    expected, got = read_dicom([plain]), read_dicom([path])
    assert np.array_equal(got.data, expected.data)
    assert np.array_equal(got.affine, expected.affine)
    shutil.rmtree(tmp_path / "plain")


def test_only_licence_compatible_decoders_are_installed():
    """The project is MIT: pylibjpeg-libjpeg (GPLv3) must not be what decodes JPEG."""
    assert importlib.util.find_spec("libjpeg") is None
    for module in ("openjpeg", "rle", "gdcm"):  # BSD/MIT/BSD-style decoders
        assert importlib.util.find_spec(module) is not None, module
