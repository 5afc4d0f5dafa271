"""Every kind of bad input: a message naming the file and what is wrong, exit code 2,
and nothing partial written (for the pre-flight `check` and for `ingest`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from conftest import rule_settings, run

GOOD_DICOM = "dicom_multiframe"


def layout_folder(cohort: Path, layout: str) -> Path:
    """A patient folder of the tiny cohort with the given layout."""
    for line in (cohort / "truth.csv").read_text().splitlines()[1:]:
        cells = line.split(",")
        if cells[3] == layout:
            return cohort / f"stage_{cells[2]}" / cells[0]
    raise LookupError(layout)


@pytest.fixture
def case(tiny_cohort, tmp_path):
    """raw/ with one good patient (stage 1) and room for one bad one (stage 2)."""
    raw = tmp_path / "raw"
    (raw / "stage_2").mkdir(parents=True)
    shutil.copytree(layout_folder(tiny_cohort, "nifti"), raw / "stage_1" / "GOOD")
    return raw


def add(raw: Path, tiny_cohort: Path, layout: str, name: str = "BAD") -> Path:
    dest = raw / "stage_2" / name
    shutil.copytree(layout_folder(tiny_cohort, layout), dest)
    return dest


def cli(command: str, raw: Path, tmp_path: Path, **settings):
    cfg = rule_settings(command, raw_dir=str(raw), ingest={"batches": 1}, **settings)
    args = [sys.executable, "-m", "spectstage", command, "--settings", cfg]
    if command == "ingest":
        args += [
            "--batch",
            "0",
            "--out-dir",
            str(tmp_path / "out"),
            "--qc-dir",
            str(tmp_path / "qc"),
        ]
    return run(args, tmp_path, check=False)


def assert_refused(proc, *needles, tmp_path=None):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    assert "Traceback" not in proc.stderr
    if tmp_path is not None:
        written = [
            p.name for p in tmp_path.rglob("*") if p.is_file() and p.parent.name in {"out", "qc"}
        ]
        assert not any(n.startswith(("BAD", ".tmp")) for n in written), written


def edit_dicom(folder: Path, **changes) -> Path:
    (path,) = [p for p in folder.iterdir() if p.name == "NM00001"]
    ds = pydicom.dcmread(path)
    for key, value in changes.items():
        setattr(ds, key, value)
    ds.save_as(path)
    return path


# ---- DICOM ---------------------------------------------------------------------------------


def test_truncated_dicom(case, tiny_cohort, tmp_path):
    path = add(case, tiny_cohort, GOOD_DICOM) / "NM00001"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_refused(cli("check", case, tmp_path), str(path), "truncated")
    assert_refused(cli("ingest", case, tmp_path), str(path), tmp_path=tmp_path)


def test_non_nm_modality(case, tiny_cohort, tmp_path):
    folder = add(case, tiny_cohort, GOOD_DICOM)
    edit_dicom(folder, Modality="CT")
    assert_refused(cli("check", case, tmp_path), str(folder), "modality CT, not NM")
    assert_refused(cli("ingest", case, tmp_path), str(folder), tmp_path=tmp_path)


def test_planar_nm_only(case, tiny_cohort, tmp_path):
    folder = add(case, tiny_cohort, GOOD_DICOM)
    edit_dicom(folder, ImageType=["ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION"])
    assert_refused(
        cli("check", case, tmp_path), str(folder), "no reconstructed NM volume", "WHOLE BODY"
    )


def test_secondary_capture(case, tiny_cohort, tmp_path):
    folder = add(case, tiny_cohort, GOOD_DICOM)
    edit_dicom(folder, SOPClassUID="1.2.840.10008.5.1.4.1.1.7")
    assert_refused(cli("check", case, tmp_path), str(folder), "secondary capture")


def test_compressed_pixels_without_decoder(case, tiny_cohort, tmp_path):
    """RLE, JPEG 2000, JPEG lossless and JPEG-LS are decoded (test_compressed_dicom.py);
    video transfer syntaxes (MPEG-2) have no decoder in pydicom at all."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import MPEG2MPML

    path = add(case, tiny_cohort, GOOD_DICOM) / "NM00001"
    ds = pydicom.dcmread(path)
    frames = int(ds.NumberOfFrames)
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3not-really-mpeg2"] * frames)
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    ds.save_as(path, enforce_file_format=True)
    assert_refused(cli("check", case, tmp_path), str(path), "which cannot be decoded")
    assert_refused(
        cli("ingest", case, tmp_path), str(path), "cannot decode pixel data", tmp_path=tmp_path
    )


# ---- folders and files --------------------------------------------------------------------


def test_empty_patient_folder(case, tmp_path):
    (case / "stage_2" / "BAD").mkdir()
    assert_refused(cli("check", case, tmp_path), "BAD", "folder is empty")


def test_unsupported_file_type(case, tmp_path):
    (case / "stage_2" / "BAD").mkdir()
    (case / "stage_2" / "BAD" / "report.txt").write_text("not a scan")
    assert_refused(cli("check", case, tmp_path), "report.txt", "nor a supported format")


def test_slice_images_of_different_sizes(case, tiny_cohort, tmp_path):
    folder = add(case, tiny_cohort, "png")
    Image.new("RGB", (64, 64)).save(folder / "slice_3.png")
    assert_refused(cli("check", case, tmp_path), str(folder), "differ in size")
    assert_refused(cli("ingest", case, tmp_path), str(folder), "differ in size", tmp_path=tmp_path)


def test_single_slice(case, tiny_cohort, tmp_path):
    folder = add(case, tiny_cohort, "png")
    images = sorted(f for f in folder.iterdir() if f.suffix in {".png", ".jpg"})
    assert len(images) > 1  # PNG or JPEG screenshots
    for f in images[1:]:
        f.unlink()
    assert_refused(cli("check", case, tmp_path), str(folder), "at least 2 images")


def test_nifti_without_orientation(case, tmp_path):
    """sform_code = qform_code = 0: nibabel falls back to a guess that mirrors left-right."""
    from spectstage.demo import writers

    folder = case / "stage_2" / "BAD"
    folder.mkdir()
    data = np.random.default_rng(0).poisson(20, (16, 16, 16)).astype(np.float32)
    writers.write_nifti(data, np.diag([4, 4, 4, 1.0]), folder / "BAD.nii.gz", "RAS", "none")
    path = str(folder / "BAD.nii.gz")
    assert_refused(cli("check", case, tmp_path), path, "qform_code are both 0")
    assert_refused(cli("ingest", case, tmp_path), path, "left/right unknown", tmp_path=tmp_path)


@pytest.mark.parametrize(("value", "message"), [(np.nan, "NaN"), (0.0, "all zero")])
def test_nan_or_all_zero_volume(case, tmp_path, value, message):
    folder = case / "stage_2" / "BAD"
    folder.mkdir()
    data = np.full((32, 32, 32), value, dtype=np.float32)
    nib.save(nib.Nifti1Image(data, np.diag([4, 4, 4, 1.0])), folder / "BAD.nii.gz")
    assert_refused(cli("ingest", case, tmp_path), str(folder), message, tmp_path=tmp_path)


# ---- labels and the manifest ----------------------------------------------------------------


def test_stage_label_not_configured(case, tmp_path):
    shutil.move(case / "stage_2", case / "stage_9")
    assert_refused(cli("check", case, tmp_path), "stage_9", "not one of the configured stages")


def test_manifest_problems_are_all_listed_at_once(case, tiny_cohort, tmp_path):
    add(case, tiny_cohort, "nifti", "TWICE")
    manifest = case / "manifest.csv"
    manifest.write_text(
        "patient_id,stage,path\n"
        "GOOD,1,stage_1/GOOD\n"
        "TWICE,1,stage_2/TWICE\n"
        "TWICE,2,stage_2/TWICE\n"  # the same scan under two stages
        "GONE,2,stage_2/GONE\n"  # missing file
        "OUT,2,../../etc\n"  # outside the data root
    )
    proc = cli("check", case, tmp_path, manifest=str(manifest))
    assert_refused(
        proc,
        "3 problem(s)",
        "listed under stages 1 and 2",
        "line 5",
        "does not exist",
        "line 6",
        "outside",
    )


def test_check_reports_every_problem_not_the_first(case, tiny_cohort, tmp_path):
    (case / "stage_2" / "EMPTY").mkdir()
    edit_dicom(add(case, tiny_cohort, GOOD_DICOM, "CT"), Modality="CT")
    (case / "stage_2" / "TXT").mkdir()
    (case / "stage_2" / "TXT" / "notes.txt").write_text("x")
    proc = cli("check", case, tmp_path)
    assert_refused(proc, "3 problem(s)", "EMPTY", "modality CT", "notes.txt")
    assert "4 scan(s)" in proc.stdout
