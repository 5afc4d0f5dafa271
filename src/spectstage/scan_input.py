"""One scan of the input (`ScanInput`), the safe name of its output files, and the check
of its IDs: what `spectstage.inputs` (discovery) and predict's inputs build scans from."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from spectstage.errors import InputError

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ScanInput:
    patient_id: str
    scan_id: str
    stage: str
    path: Path  # a file or a folder
    format: str | None = None  # None: detected from the files
    slices: tuple[tuple[str, str | float], ...] = ()  # manifest overrides of the `slices` config

    def conventions(self, defaults: dict):
        """The scan's slice conventions: the `slices` config, overridden by its manifest cells."""
        from spectstage.io.slices import SliceConventions

        try:
            return SliceConventions.from_config({**defaults, **dict(self.slices)})
        except InputError as err:  # e.g. a manifest window whose low end is above its top
            raise InputError(f"{self.path}: {err}") from err


def file_stem(scan_id: str) -> str:
    """The scan's output file name (no suffix): the ID itself when it is a plain name,
    else a readable slug plus a hash, so that spaces, quotes, `;`, `$()`, braces, `../`
    or unicode can never break a shell command or a path."""
    if SAFE_NAME.match(scan_id) and len(scan_id) <= 100:
        return scan_id
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", scan_id).strip("._-")[:40] or "scan"
    return f"{slug}-{hashlib.sha256(scan_id.encode()).hexdigest()[:10]}"


def check_id(value: str, what: str, where: str, problems: list[str]) -> str:
    """`value`, with a problem noted when it cannot be an ID (empty, control characters)."""
    if not value.strip() or "\x00" in value or "\n" in value:
        problems.append(f"{where}: {what} {value!r} is empty or contains control characters")
    return value
