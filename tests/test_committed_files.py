"""No scan, volume, model or patient table is committed to git: DVC versions them.

The check reads names, places and contents (a DICOM or NIfTI file under any name);
tests/test_dvc.py runs it again on a clone after committing a whole `dvc repro`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import REPO


def tracked_files(repo: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True)
    return [n for n in out.stdout.decode().split("\0") if n]


def test_no_cohort_volume_or_model_file_is_committed():
    assert not data_files(REPO, tracked_files(REPO))


#: Suffixes of scans, volumes, slice images, models and arrays: DVC's, never git's.
DATA_SUFFIXES = (
    ".dcm",
    ".ima",
    ".nii",
    ".nii.gz",
    ".img",
    ".hdr",
    ".mgz",
    ".nrrd",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".pt",
    ".pth",
    ".ckpt",
    ".onnx",
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".pkl",
)
#: Tables that name patients (results/ and the demo generator's)
PATIENT_TABLES = (
    "cohort.csv",
    "folds.csv",
    "manifest.csv",
    "truth.csv",
    "excluded.csv",
    "oof_predictions.csv",
    "sbr_baseline_predictions.csv",
    "samples.csv",
)
#: DVC's own small files under data/ and results/, and the metrics it compares in git
DVC_FILES = (".dvc", ".gitignore", "metrics.json")
PACKAGE_DATA_MAX_BYTES = 1_000_000
#: The README's figures: small PNGs of synthetic demo scans, under docs/ only
DOC_FIGURE_MAX_BYTES = 200_000


def data_files(repo: Path, tracked: list[str]) -> list[str]:
    """Tracked files that are patient data, volumes or models (by name, place or content)."""
    bad = []
    for name in tracked:
        path = repo / name
        if name.startswith("src/spectstage/") and path.stat().st_size < PACKAGE_DATA_MAX_BYTES:
            continue  # the package's own small data files (schema, tables)
        figure = name.startswith("docs/") and name.endswith(".png") and path.is_file()
        if figure and path.stat().st_size < DOC_FIGURE_MAX_BYTES:
            continue  # a README figure (of the synthetic demo)
        head = path.read_bytes()[:352] if path.is_file() else b""
        if (
            name.lower().endswith(DATA_SUFFIXES)
            or Path(name).name in PATIENT_TABLES
            or (name.startswith(("data/", "results/")) and not name.endswith(DVC_FILES))
            or head[128:132] == b"DICM"  # DICOM preamble, whatever the name
            or head[344:348] in (b"n+1\0", b"ni1\0")  # NIfTI-1 magic
            or head[:2] == b"\x1f\x8b"  # gzip: .nii.gz under another name
        ):
            bad.append(name)
    return bad


def test_data_file_check_catches_what_it_should(tmp_path):
    """The check above, on files it must flag and files it must let through."""
    files = {
        "scans/x": b"\0" * 128 + b"DICM",
        "a/brain.nii.gz": b"\x1f\x8b",
        "results/models/fold_0/model.pt": b"x",
        "doc/cohort.csv": b"x",
        "results/metrics.json": b"{}",
        "data/site/scans.dvc": b"outs: []",
        "README.md": b"text",
        "docs/demo_stack.png": b"\x89PNG",
        "docs/big.png": b"\x89PNG" + b"\0" * 200_000,
        "docs/scan.nii.gz": b"\x1f\x8b",
    }
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    flagged = set(data_files(tmp_path, list(files)))
    assert flagged == {
        "scans/x",
        "a/brain.nii.gz",
        "results/models/fold_0/model.pt",
        "doc/cohort.csv",
        "docs/big.png",
        "docs/scan.nii.gz",
    }
