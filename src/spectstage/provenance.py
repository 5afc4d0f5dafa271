"""Fingerprints of the package code each workflow stage runs.

Snakemake does not see changes inside an installed package, so each rule gets a hash of
the sources it depends on as a param: editing registration re-runs ingest, editing
training code does not. (Not the git commit: every commit would re-run everything.)
"""

from __future__ import annotations

import hashlib
from importlib import resources

# Package files and folders each stage's result depends on (paths inside spectstage/).
STAGE_SOURCES: dict[str, tuple[str, ...]] = {
    "ingest": (
        "atomic.py",
        "config.py",
        "errors.py",
        "geometry.py",
        "ingest.py",
        "inputs.py",
        "io",
        "preprocess.py",
        "sbr.py",
        "template.py",
        "data",
        "schema",
        "demo/phantom.py",
    ),
    "cohort": ("cohort.py", "inputs.py", "config.py"),
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


def _walk(node):
    for child in node.iterdir():
        if child.is_dir():
            if child.name != "__pycache__":
                yield from _walk(child)
        elif not child.name.endswith(".pyc"):
            yield child
