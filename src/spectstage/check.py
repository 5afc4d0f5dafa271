"""`spectstage check`: a cheap pre-flight over the whole input (headers only).

It reports every problem at once, not the first, so a researcher fixes a folder in one
pass; the workflow runs it before ingest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from spectstage.errors import InputError
from spectstage.inputs import ScanInput, batches, discover, exclude_hint
from spectstage.io import scan_files
from spectstage.io.slices import SliceConventions, colormap_lut


def _check_nifti(nifti: Path) -> None:
    from spectstage.io.nifti import load_header, oriented_affine

    img = load_header(nifti)
    header = img.header
    oriented_affine(img, nifti)
    shape = header.get_data_shape()
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] != 1) or min(shape[:3]) < 2:
        raise InputError(f"{nifti}: expected a 3D volume, got shape {shape}")


def _check_slices(images: list[Path], where: Path) -> None:
    from spectstage.io.slices import stack_size

    if len(images) < 2:
        raise InputError(f"{where}: a slice stack needs at least 2 images, found {len(images)}")
    stack_size(images)


def _check_dicom(files: list[Path]) -> None:
    from pydicom.pixels import get_decoder

    from spectstage.io.dicom import find_series, frames_are_slices, slice_order
    from spectstage.io.dicom_header import (
        geometry,
        image_size,
        pixel_spacing,
        rescale,
        slice_step,
    )
    from spectstage.io.limits import check_declared_size

    series, _ = find_series(files)
    header = series.headers[0]
    check_declared_size(header, series.files[0], files=len(series.files))
    for f, h in zip(series.files, series.headers, strict=True):
        geometry(h, f)
        pixel_spacing(h, f)
        rescale(h, f)
    if len(series.files) == 1:
        frames_are_slices(header, series.files[0])
        slice_step(header, series.files[0])
        slice_order(header, image_size(header, series.files[0])[2], series.files[0])
    syntax = header.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as err:
        raise InputError(
            f"{series.files[0]}: pixel data in {syntax.name}, which cannot be decoded"
        ) from err
    if not decoder.is_available:
        raise InputError(
            f"{series.files[0]}: compressed pixel data ({syntax.name}) and no decoder installed; "
            f"install one of: {'; '.join(decoder.missing_dependencies)}"
        )
    if not syntax.is_compressed and not syntax.is_deflated:  # truncated: shorter than its pixels
        for f, h in zip(series.files, series.headers, strict=True):
            rows, columns, frames, bits = image_size(h, f)
            expected = rows * columns * frames * bits // 8
            if f.stat().st_size < expected:
                raise InputError(
                    f"{f}: truncated ({f.stat().st_size} bytes, pixel data alone needs {expected})"
                )


def inspect(scan: ScanInput) -> str:
    """The scan's format, after checking what headers alone can tell."""
    fmt, files = scan_files(scan.path, scan.format)
    if fmt == "nifti":
        _check_nifti(files[0])
    elif fmt == "slices":
        _check_slices(files, scan.path)
    else:
        _check_dicom(files)
    return fmt


def check_scan(scan: ScanInput, slices: Mapping | None) -> str:
    """inspect(), and a stack's own manifest conventions (e.g. a window low >= its high)
    on top of the `slices` settings; the format."""
    fmt = inspect(scan)
    if fmt == "slices" and scan.slices and slices is not None:
        colormap_lut(scan.conventions(slices).colormap)
    return fmt


def conventions_problems(slices: Mapping) -> list[str]:
    """What is wrong with the `slices` settings themselves (e.g. an unknown colour map)."""
    try:
        colormap_lut(SliceConventions.from_config(slices).colormap)
    except InputError as err:
        return [str(err)]
    return []


def check(cfg: dict, batch: int | None = None) -> tuple[str, list[str]]:
    """(summary text, every problem found), for all scans or one ingest batch."""
    problems = conventions_problems(cfg["slices"])
    scans = discover(cfg, problems)
    if batch is not None:
        scans = batches(scans, cfg["ingest"]["batches"]).get(batch, [])
    formats: Counter = Counter()
    stages: Counter = Counter(s.stage for s in scans)
    for scan in scans:
        try:
            formats[check_scan(scan, cfg["slices"])] += 1
        except InputError as err:
            problems.append(f"{err}\n    {exclude_hint(scan.scan_id)}")
    lines = [f"{len(scans)} scan(s) of {len({s.patient_id for s in scans})} patient(s)"]
    lines += [f"  stage {stage}: {stages[stage]}" for stage in sorted(stages)]
    lines += [f"  format {fmt}: {n}" for fmt, n in sorted(formats.items())]
    own = sum(bool(s.slices) for s in scans)
    if own:
        lines.append(f"  with their own slice conventions (manifest columns): {own}")
    return "\n".join(lines), problems
