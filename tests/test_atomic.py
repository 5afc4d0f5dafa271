"""Outputs appear whole or not at all: fsync before rename, clear errors, no leftovers."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from spectstage import atomic
from spectstage.errors import OutputError


def test_the_file_is_synced_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    atomic.write_text(tmp_path / "out.txt", "whole")
    assert events[:2] == ["fsync", "replace"] and "fsync" in events[2:]  # file, then folder
    assert (tmp_path / "out.txt").read_text() == "whole"


def test_a_full_disk_names_the_file_and_leaves_nothing(tmp_path):
    out = tmp_path / "metrics.json"
    out.write_text("old")  # an earlier complete version stays as it was
    full = pytest.raises(OutputError, match=r"metrics\.json: cannot write \(No space left")
    with full, atomic.atomic_path(out) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError), atomic.atomic_path(tmp_path / "x") as tmp:
        raise FileNotFoundError(errno.ENOENT, "gone", str(tmp))
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writer_leaves_a_temporary_file_that_the_next_write_removes(tmp_path):
    out = tmp_path / "volume.nii.gz"
    code = (
        "import os, signal, sys\n"
        "from spectstage.atomic import atomic_path\n"
        f"with atomic_path({str(out)!r}) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    (leftover,) = tmp_path.glob(".tmp-*")
    assert not out.exists()
    atomic.write_text(out, "whole")
    assert not leftover.exists() and out.read_text() == "whole"


class _Payload:
    """Unpickling this runs code: it would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_tampered_model_file_is_refused_and_its_code_never_runs(tmp_path):
    import torch

    from spectstage.errors import InputError
    from spectstage.torchfiles import load

    marker = tmp_path / "PWNED"
    torch.save({"state_dict": {}, "meta": _Payload(marker)}, tmp_path / "model.pt")
    with pytest.raises(InputError, match=r"model\.pt: refused"):
        load(tmp_path / "model.pt")
    assert not marker.exists()
    torch.save({"w": torch.ones(2), "epoch": 3}, tmp_path / "plain.pt")
    assert load(tmp_path / "plain.pt")["epoch"] == 3


def test_a_torch_file_on_a_full_disk_is_a_clear_error_too(tmp_path):
    """A file-size limit stands in for a full disk: writes fail with EFBIG, as with ENOSPC."""
    code = (
        "import resource, signal\n"
        "import torch\n"
        "from spectstage import torchfiles\n"
        "from spectstage.errors import OutputError\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n"
        "try:\n"
        f"    torchfiles.save({{'x': torch.zeros(100_000)}}, {str(tmp_path / 'model.pt')!r})\n"
        "except OutputError as err:\n"
        "    print(err)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "model.pt: cannot write (File too large); nothing was written" in proc.stdout, proc
    assert list(tmp_path.iterdir()) == []
