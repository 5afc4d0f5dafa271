"""What an input file declares, checked before anything is allocated or inflated.

A damaged or hostile file may declare 65,535 x 65,535 pixels in 10,000 frames, carry a
compressed frame whose own codestream declares far more pixels than the header, or be a
deflated dataset of 1 MB that inflates to gigabytes. Each is refused (InputError naming
the file) from a few header bytes, so memory stays bounded by the limits below.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from spectstage.errors import InputError
from spectstage.io.dicom_header import positive_int

# A SPECT reconstruction is at most 256 x 256 x 256 (16.8 M voxels); twice that is allowed.
MAX_VOXELS = 2**25
MAX_FRAME_PIXELS = 2048 * 2048
# A deflated dataset (transfer syntax 1.2.840.10008.1.2.1.99) may inflate to this much.
MAX_INFLATED_BYTES = 4 * MAX_VOXELS
DEFLATED = "1.2.840.10008.1.2.1.99"
INFLATE_STEP = 2**24
JPEG_2000_START = b"\xff\x4f\xff\x51"  # SOC then SIZ (ISO/IEC 15444-1 A.5.1)
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "


def check_declared_size(h, path: Path, files: int = 1) -> int:
    """Rows x Columns x frames (x files of a series) within the limits; returns the voxels."""
    rows, columns = positive_int(h, "Rows", path, None), positive_int(h, "Columns", path, None)
    frames = positive_int(h, "NumberOfFrames", path, 1)
    samples = positive_int(h, "SamplesPerPixel", path, 1)
    voxels = rows * columns * frames * samples * files
    if rows * columns * samples > MAX_FRAME_PIXELS or voxels > MAX_VOXELS:
        raise InputError(
            f"{path}: declares {rows} x {columns} pixels x {frames * files} frame(s) "
            f"({voxels:,} voxels), more than an NM reconstruction has "
            f"(at most {MAX_FRAME_PIXELS:,} per frame, {MAX_VOXELS:,} in all); refused "
            "before decoding"
        )
    return voxels


def check_deflated(path: Path) -> None:
    """A deflated dataset is inflated in bounded steps, once, before pydicom inflates it."""
    from pydicom.filereader import read_file_meta_info

    try:
        syntax = str(read_file_meta_info(path).get("TransferSyntaxUID", ""))
    except Exception:  # not DICOM at all: the header reader says so
        return
    if syntax != DEFLATED:
        return
    raw = path.read_bytes()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending, inflated = raw[_meta_end(raw) :], 0  # the meta group itself is not deflated
    try:
        while pending and inflated <= MAX_INFLATED_BYTES:  # in steps: memory stays small
            inflated += len(inflater.decompress(pending, INFLATE_STEP))
            pending = inflater.unconsumed_tail
    except zlib.error as err:
        raise InputError(f"{path}: deflated DICOM dataset is damaged ({err})") from err
    if inflated > MAX_INFLATED_BYTES:
        raise InputError(
            f"{path}: deflated DICOM dataset inflates to more than {MAX_INFLATED_BYTES:,} "
            f"bytes (the file has {len(raw):,}); refused"
        )


def _meta_end(raw: bytes) -> int:
    """Offset after the file meta group (group 0002, explicit VR little endian)."""
    offset = 132  # preamble + "DICM"
    while raw[offset : offset + 2] == b"\x02\x00":
        vr = raw[offset + 4 : offset + 6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            offset += 12 + int.from_bytes(raw[offset + 8 : offset + 12], "little")
        else:
            offset += 8 + int.from_bytes(raw[offset + 6 : offset + 8], "little")
    return offset


def codestream_size(frame: bytes) -> tuple[int, int] | None:
    """(rows, columns) a JPEG or JPEG 2000 frame declares, None when it is neither (RLE's
    output size is the header's by construction)."""
    from pydicom.pixels.utils import _get_jpg_parameters

    offset = 0
    if frame.startswith(JP2_SIGNATURE):  # JP2 boxes around the codestream
        offset = frame.find(b"jp2c") + 4 if b"jp2c" in frame[:4096] else len(frame)
    if frame[offset : offset + 4] == JPEG_2000_START:
        siz = frame[offset + 8 : offset + 24]
        if len(siz) < 16:
            return None
        x, y, x0, y0 = (int.from_bytes(siz[i : i + 4], "big") for i in range(0, 16, 4))
        return y - y0, x - x0
    info = _get_jpg_parameters(frame)
    if "height" in info:
        return info["height"], info["width"]
    return None


def check_compressed_frames(ds, path: Path) -> None:
    """Every compressed frame declares the header's Rows x Columns, before it is decoded."""
    from pydicom.encaps import generate_frames

    if not ds.file_meta.TransferSyntaxUID.is_compressed or "PixelData" not in ds:
        return
    rows, columns = int(ds.Rows), int(ds.Columns)
    frames = positive_int(ds, "NumberOfFrames", path, 1)
    try:
        for index, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=frames)):
            declared = codestream_size(frame)
            # a JPEG may leave its height 0 in SOF and give it later (DNL marker)
            if declared is not None and declared[0] and declared != (rows, columns):
                raise InputError(
                    f"{path}: compressed frame {index + 1} declares {declared[0]} x "
                    f"{declared[1]} pixels, the header {rows} x {columns}; refused before "
                    "decoding"
                )
    except InputError:
        raise
    except Exception as err:  # damaged encapsulation: pydicom raises several types
        raise InputError(f"{path}: damaged compressed pixel data ({err})") from err
