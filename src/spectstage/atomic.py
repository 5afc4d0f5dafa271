"""Write-then-rename, so that a crash, a full disk or a bad input never leaves a half-written
output that a later step would take as complete.

The temporary file is flushed to disk (fsync) before the rename and the folder after it,
so a power cut leaves either the old file or the whole new one. A killed process cannot
remove its temporary file: the next process that writes into the same folder on the same
host removes it (a temporary file names its host and process, so writers on other nodes
of a shared file system are never touched).
"""

from __future__ import annotations

import errno
import json
import math
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from spectstage.errors import OutputError

TMP_PREFIX = ".tmp-"
# Failures of the place written to, not of the program: reported as a clear error.
STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG}


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffixes); rename it into place on success."""
    path = Path(path)
    tmp = path.with_name(f"{_tmp_prefix()}{os.getpid()}-{path.name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path.parent.resolve())
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync_folder(path.parent)
    except OSError as err:
        if err.errno in STORAGE_ERRORS:
            raise OutputError(
                f"{path}: cannot write ({err.strerror}); nothing was written"
            ) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def finite(obj):
    """JSON has no NaN: turn it into null (Python's json would write a bare NaN, which
    strict parsers - R's jsonlite, JavaScript - refuse)."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):  # numpy's float64 is a float
        return None
    return obj


def write_json(path: Path, obj, **dumps) -> None:
    """Strict JSON (NaN and infinities as null), written atomically."""
    write_text(path, json.dumps(finite(obj), allow_nan=False, **dumps) + "\n")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (some file systems cannot sync a folder: skipped)."""
    try:
        _fsync(folder)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES):
            raise


def _tmp_prefix() -> str:
    host = socket.gethostname().replace("-", "_") or "host"
    return f"{TMP_PREFIX}{host}-"


@cache  # once per folder and process: a volumes folder may hold 30,000 files
def _remove_stale(folder: Path) -> None:
    """Temporary files this host's killed processes left in the folder."""
    prefix = _tmp_prefix()
    for entry in os.scandir(folder):
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if entry.name.startswith(prefix) and pid.isdigit() and not _running(int(pid)):
            Path(entry.path).unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
