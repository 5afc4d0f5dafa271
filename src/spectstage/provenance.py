"""Fingerprints of the package code each workflow stage runs.

Snakemake does not see changes inside an installed package, so each rule gets a hash of
the sources it depends on as a param: editing registration re-runs ingest, editing
training code does not. (Not the git commit: every commit would re-run everything.)
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

# Package files and folders each stage's result depends on (paths inside spectstage/).
STAGE_SOURCES: dict[str, tuple[str, ...]] = {
    "ingest": (
        "atomic.py",
        "deid.py",
        "qc.py",
        "config.py",
        "errors.py",
        "geometry.py",
        "ingest.py",
        "inputs.py",
        "io",
        "preprocess.py",
        "sbr.py",
        "atlas.py",
        "template.py",
        "usertemplate.py",
    ),
    "check": ("check.py", "inputs.py", "io", "config.py", "deid.py"),
    "cohort": ("cohort.py", "inputs.py", "config.py"),
    "folds": ("folds.py", "cohort.py", "config.py"),
    "augment": ("augment.py", "cohort.py", "crop.py", "folds.py", "geometry.py", "config.py"),
    "train": (
        "train.py",
        "cohort.py",
        "models.py",
        "crop.py",
        "folds.py",
        "geometry.py",
        "config.py",
    ),
    "evaluate": ("evaluate.py", "cohort.py", "folds.py", "config.py"),
}


def source_hash(stage: str) -> str:
    """Short sha256 over the stage's source files (names and contents, in sorted order)."""
    root = resources.files("spectstage")
    h = hashlib.sha256()
    for name in STAGE_SOURCES[stage]:
        node = root / name
        files = sorted(_walk(node), key=str) if node.is_dir() else [node]
        for f in files:
            h.update(str(f).split("spectstage", 1)[-1].encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def preprocessing_hash(cfg: dict) -> str:
    """What turns a raw scan into the model's input: ingest code, the slice and ingest
    settings that shape the volume, and the crop. A model applies only to scans made alike."""
    settings = {
        "slices": cfg["slices"],
        "ingest": {k: v for k, v in cfg["ingest"].items() if k != "batches"},  # jobs, not data
        "crop": cfg["train"]["crop"],
    }
    from spectstage.template import identity

    h = hashlib.sha256(source_hash("ingest").encode())
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(identity(cfg["ingest"]).encode())  # the template's and atlas's checksums
    return h.hexdigest()[:16]


def _walk(node):
    for child in node.iterdir():
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child)
        elif not child.name.endswith(".pyc"):
            yield child


PROVENANCE_PACKAGES = (
    "torch",
    "monai",
    "numpy",
    "scipy",
    "scikit-learn",
    "nibabel",
    "pydicom",
    "snakemake",
    "spectstage",
)


def _git_state(package: Path) -> tuple[str | None, bool | None]:
    """(commit, uncommitted changes?) of the checkout the package runs from, if any."""
    import subprocess

    repo = package.parents[1]  # src/spectstage -> the repository of an editable install
    if not (repo / ".git").exists():
        return None, None
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
        )
    except OSError:  # no git on this machine
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


def write_provenance(path, cfg: dict) -> None:
    """Versions, config and git commit beside a result (kept out of the metrics themselves)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from spectstage.atomic import write_text

    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    commit, dirty = _git_state(Path(str(resources.files("spectstage"))))
    record = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "source_hashes": {stage: source_hash(stage) for stage in STAGE_SOURCES},
        "config": cfg,
    }
    write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
