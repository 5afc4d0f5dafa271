"""Hostile input files for every reader, and a worker that reads them with bounded time and
memory (run it in a subprocess: `python hostile_files.py CASES.json`).

Each builder writes one scan (a file or a folder) and returns its path. The worker runs the
pre-flight check (`inspect`) and the reader (`load_scan`) on each, under a per-case alarm,
and prints one JSON line per case: the outcome (InputError or anything else), the message,
the seconds taken and the process's peak resident memory so far.
"""

from __future__ import annotations

import io
import json
import resource
import signal
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np

CASE_SECONDS = 20  # per case; the slowest legitimate read here takes well under a second
ADDRESS_SPACE = 6 * 2**30  # a runaway allocation fails (MemoryError) instead of swapping


# ---- slice images ---------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(width: int, height: int, rows: int | None = None, extra: bytes = b"") -> bytes:
    """A valid RGB PNG (IHDR, IDAT of `rows` zero rows, IEND) with optional extra chunks."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = (b"\0" + b"\0" * 3 * width) * (height if rows is None else rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + extra
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def good_slices(folder: Path, suffix: str = ".png", n: int = 3) -> list[Path]:
    """A small stack of 'hot'-coloured slices that the reader accepts."""
    from matplotlib import colormaps
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        values = rng.random((48, 40))
        rgb = (colormaps["hot"](values)[..., :3] * 255).astype(np.uint8)
        path = folder / f"slice_{k:02d}{suffix}"
        Image.fromarray(rgb).save(path, **({"quality": 95} if suffix == ".jpg" else {}))
        paths.append(path)
    return paths


def _slice_case(root: Path, name: str, suffix: str, edit) -> Path:
    folder = root / name
    paths = good_slices(folder, suffix)
    edit(paths[1])
    return folder


def _truncate(path: Path, share: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * share)])


def _wrong_magic(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(b"GIF89a\0\0" + data[8:])


def _jpeg_huge(path: Path) -> None:
    """Patch the SOF marker of a JPEG to declare 65,000 x 65,000 pixels."""
    data = bytearray(path.read_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    path.write_bytes(bytes(data))


def _tiff_huge(path: Path) -> None:
    from PIL import Image

    # a valid little TIFF, then its width/height tags rewritten to 60,000
    buffer = io.BytesIO()
    Image.new("RGB", (40, 48)).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack("<HH", data[entry : entry + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength
            fmt = "<H" if kind == 3 else "<I"
            data[entry + 8 : entry + 8 + struct.calcsize(fmt)] = struct.pack(fmt, 60000)
    path.write_bytes(bytes(data))


def slice_cases(root: Path) -> dict[str, Path]:
    bomb_text = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * 20_000_000))

    def write(data: bytes):
        return lambda p: p.write_bytes(data)

    cases = {
        "png truncated": ("png", _truncate),
        "png truncated in the header": ("png", lambda p: _truncate(p, 0.05)),
        "png zero size": ("png", write(b"")),
        "png wrong magic": ("png", _wrong_magic),
        "png declares 50,000 x 50,000 pixels": ("png", write(png_bytes(50000, 50000, 2))),
        "png declares 5,000 x 5,000 (< Pillow limit)": ("png", write(png_bytes(5000, 5000, 2))),
        "png text chunk inflating to 20 MB": ("png", write(png_bytes(40, 48, extra=bomb_text))),
        "jpg truncated": ("jpg", _truncate),
        "jpg zero size": ("jpg", write(b"")),
        "jpg declares 65,000 x 65,000 pixels": ("jpg", _jpeg_huge),
        "tif declares 60,000 x 60,000 pixels": ("tif", _tiff_huge),
    }  # fmt: skip
    return {
        name: _slice_case(root, f"slices_{i}", f".{suffix}", edit)
        for i, (name, (suffix, edit)) in enumerate(cases.items())
    }


def stack_too_large(root: Path) -> Path:
    """Each image within the per-slice limit, the stack beyond the per-stack one."""
    folder = root / "slices_stack"
    folder.mkdir()
    data = png_bytes(3000, 3000, rows=1)  # 9 M pixels each, 4 slices = 36 M
    for k in range(4):
        (folder / f"s{k}.png").write_bytes(data)
    return folder


# ---- DICOM ----------------------------------------------------------------------------------


def nm_volume() -> tuple[np.ndarray, np.ndarray]:
    """A 64 x 64 x 24 count volume (JPEG 2000 needs frames of at least 32 pixels a side)."""
    volume = np.random.default_rng(1).poisson(30, (64, 64, 24)).astype(np.float32)
    affine = np.diag([3.3, 3.3, 3.3, 1.0])
    affine[:3, 3] = -3.3 * 31.5, -3.3 * 31.5, -3.3 * 11.5
    return volume, affine


def write_nm(path: Path, variant=None) -> Path:
    from spectstage.demo import writers

    path.parent.mkdir(parents=True, exist_ok=True)
    volume, affine = nm_volume()
    variant = variant or writers.DicomVariant("multiframe", "both")
    writers.write_dicom_multiframe(volume, affine, path, {}, variant)
    return path


def _edit(path: Path, **changes) -> None:
    import pydicom

    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        if value is None:
            del ds[key]
        else:
            setattr(ds, key, value)
    ds.save_as(path)


def _j2k_declaring(path: Path, rows: int, columns: int) -> None:
    """JPEG 2000 frames whose codestreams declare rows x columns (the header keeps 64 x 64)."""
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.uid import JPEG2000Lossless

    ds = pydicom.dcmread(path)
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    frames = []
    for frame in generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)):
        data = bytearray(frame)
        data[8:16] = struct.pack(">II", columns, rows)  # Xsiz, Ysiz of SIZ
        frames.append(bytes(data))
    ds.PixelData = encapsulate(frames)
    ds.save_as(path)


def _deflate_bomb(path: Path) -> None:
    """A deflated dataset of a few hundred kB whose last (private) element is 300 MB of zeros."""
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    from spectstage.io.limits import _meta_end

    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    head = _meta_end(data)
    body = zlib.decompress(data[head:], -zlib.MAX_WBITS)
    creator = b"\xe1\x7f\x10\x00LO\x10\x00" + b"spectstage test "
    big = b"\xe1\x7f\x01\x10OB\0\0" + struct.pack("<I", 300 * 2**20)
    deflater = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflater.compress(body + creator + big)]
    zeros = b"\0" * 2**20
    parts += [deflater.compress(zeros) for _ in range(300)]
    parts.append(deflater.flush())
    path.write_bytes(data[:head] + b"".join(parts))


def _dicom_wrong_magic(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:128] + b"NOPE" + data[132:])


def _two_million_frames(path: Path) -> None:
    _edit(path, NumberOfFrames=2_000_000, NumberOfSlices=None, SliceVector=None)


def dicom_cases(root: Path) -> dict[str, Path]:
    out = {}

    def case(name: str, edit) -> None:
        folder = root / f"dicom_{len(out)}"
        path = write_nm(folder / "NM00001")
        edit(path)
        out[name] = folder

    case("dicom truncated", _truncate)
    case("dicom truncated in the header", lambda p: _truncate(p, 0.02))
    case("dicom zero size", lambda p: p.write_bytes(b""))
    case(
        "dicom wrong magic",
        lambda p: p.write_bytes(p.read_bytes()[:128] + b"NOPE" + p.read_bytes()[132:]),
    )
    case("dicom declares 65,535 x 65,535 pixels", lambda p: _edit(p, Rows=65535, Columns=65535))
    case(
        "dicom declares 2,000,000 frames",
        lambda p: _edit(p, NumberOfFrames=2_000_000, NumberOfSlices=None, SliceVector=None),
    )
    case(
        "dicom JPEG 2000 frames declaring 30,000 x 30,000 pixels",
        lambda p: _j2k_declaring(p, 30000, 30000),
    )
    case("dicom RLE, header declaring 4,096 x 4,096 x 4,096", lambda p: _rle_huge(p))
    case("dicom deflated dataset inflating to 300 MB", _deflate_bomb)
    return out  # fmt: skip


def _rle_huge(path: Path) -> None:
    import pydicom
    from pydicom.uid import RLELossless

    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.Rows = ds.Columns = ds.NumberOfFrames = 4096
    del ds.NumberOfSlices
    del ds.SliceVector
    ds.save_as(path)


# ---- NIfTI ----------------------------------------------------------------------------------


def nifti_cases(root: Path) -> dict[str, Path]:
    import gzip

    import nibabel as nib

    out = {}
    volume, affine = nm_volume()

    def write(name: str, suffix: str = ".nii.gz") -> Path:
        folder = root / f"nifti_{len(out)}"
        folder.mkdir()
        path = folder / f"scan{suffix}"
        nib.save(nib.Nifti1Image(volume, affine), path)
        out[name] = folder
        return path

    _truncate(write("nifti.gz truncated"))
    write("nifti zero size", ".nii").write_bytes(b"")
    path = write("nifti wrong magic", ".nii")
    path.write_bytes(path.read_bytes()[:344] + b"xx1\0" + path.read_bytes()[348:])
    path = write("nifti declares 30,000^3 voxels", ".nii")
    _set_dims(path, (30000, 30000, 30000))
    # a gzip bomb: 2 GB of zeros in a few MB, the header declaring what it inflates to
    path = write("nifti.gz inflating to 2 GB")
    header = nib.Nifti1Header()
    header.set_data_shape((1024, 1024, 512))
    header.set_data_dtype(np.float32)
    header.set_sform(affine, code=1)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header.binaryblock + b"\0" * 4)
        zeros = b"\0" * 2**24
        for _ in range(8):  # only 128 MB written: the header's claim is what matters
            f.write(zeros)
    return out


def _set_dims(path: Path, dims: tuple[int, ...]) -> None:
    import nibabel as nib

    raw = bytearray(path.read_bytes())
    header = nib.Nifti1Header(binaryblock=bytes(raw[:348]))
    header["dim"][1 : 1 + len(dims)] = dims
    raw[:348] = header.binaryblock
    path.write_bytes(bytes(raw))


def all_cases(root: Path) -> dict[str, Path]:
    cases = slice_cases(root)
    cases["slice stack of 36 M pixels"] = stack_too_large(root)
    cases.update(dicom_cases(root))
    cases.update(nifti_cases(root))
    return cases


# ---- the worker -----------------------------------------------------------------------------


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout(f"more than {CASE_SECONDS} s")


def read_one(path: Path) -> dict:
    from spectstage.check import inspect
    from spectstage.errors import InputError
    from spectstage.inputs import ScanInput
    from spectstage.io import load_scan
    from spectstage.io.slices import SliceConventions

    outcomes = []
    for step in (
        lambda: inspect(ScanInput("P", "P", "1", path)),
        lambda: load_scan(path, SliceConventions()),
    ):
        start = time.perf_counter()
        signal.alarm(CASE_SECONDS)
        try:
            step()
            outcome, message = "read", ""
        except InputError as err:
            outcome, message = "InputError", str(err)
        except BaseException as err:  # what the test reports: anything but InputError
            outcome, message = type(err).__name__, str(err)[:300]
        finally:
            signal.alarm(0)
        outcomes.append(
            {
                "outcome": outcome,
                "message": message,
                "seconds": round(time.perf_counter() - start, 3),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    return {"check": outcomes[0], "read": outcomes[1]}


def main(cases_file: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    signal.signal(signal.SIGALRM, _alarm)
    import pydicom  # noqa: F401 - imports first, so a case's memory is its own
    import scipy.ndimage
    import scipy.spatial  # noqa: F401

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"case": "(imports)", "peak_rss_mb": peak}), flush=True)
    for name, path in json.loads(Path(cases_file).read_text()).items():
        print(json.dumps({"case": name, "path": path, **read_one(Path(path))}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
