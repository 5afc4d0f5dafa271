"""Snakemake itself killed, and run twice at once: a second `snakemake` in a working folder
where one runs is refused by the lock with a clear message; a killed one leaves a stale lock
and an incomplete job, and the documented recovery (`--unlock`, then the same command; the
default profile's `rerun-incomplete`) ends with the uninterrupted run's metrics.json byte for
byte; two runs in different folders on the same input do not interfere."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from conftest import BIN, REPO, run

TARGET = "results/metrics.json"  # evaluate only: the cheapest job with real work


def copy_of(workflow_run: Path, dest: Path) -> Path:
    """The shared run's folder, its raw data linked (the same input), metrics.json gone."""
    shutil.copytree(workflow_run, dest, symlinks=True, ignore=shutil.ignore_patterns("raw"))
    (dest / "raw").symlink_to(workflow_run / "raw")
    (dest / TARGET).unlink()
    return dest


def command(workdir: Path, *args: str) -> list[str]:
    config = ["--configfile", str(workdir / "tiny.yaml")]
    return [str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), *config, *args]


def start(workdir: Path) -> subprocess.Popen:
    """snakemake in its own process group (so the whole group can be killed, as when the
    machine or the session dies), its console in a file."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    console = (workdir / "console.log").open("w")
    return subprocess.Popen(
        command(workdir, "--cores", "1", TARGET),
        cwd=workdir, env=env, stdout=console, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def wait_for_running_job(workdir: Path, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    """Until Snakemake has marked the evaluate job's outputs incomplete (the job started)."""
    marks = workdir / ".snakemake" / "incomplete"
    deadline = time.monotonic() + timeout_s
    while not (marks.exists() and any(marks.iterdir())):
        assert proc.poll() is None, (workdir / "console.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the evaluate job never started"
        time.sleep(0.05)


def test_lock_refuses_a_second_run_and_a_killed_run_recovers(workflow_run, tmp_path):
    here = copy_of(workflow_run, tmp_path / "here")
    first = start(here)
    wait_for_running_job(here, first)
    os.killpg(first.pid, signal.SIGSTOP)  # holds the lock for as long as the test needs
    try:
        second = run(command(here, "--cores", "1", TARGET), here, check=False)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # snakemake and its job, mid-evaluate
        first.wait()
    said = second.stdout + second.stderr
    assert second.returncode != 0 and "Directory cannot be locked" in said, said[-2000:]
    assert any((here / ".snakemake" / "locks").iterdir())  # the killed run's stale lock
    assert not (here / TARGET).exists()

    # The documented recovery, in this folder, while another folder on the same input runs.
    run(command(here, "--unlock"), here)
    there = copy_of(workflow_run, tmp_path / "there")
    runs = [start(folder) for folder in (here, there)]
    for proc, folder in zip(runs, (here, there), strict=True):
        assert proc.wait(timeout=600) == 0, (folder / "console.log").read_text()[-3000:]
    expected = (workflow_run / TARGET).read_bytes()
    assert (here / TARGET).read_bytes() == expected
    assert (there / TARGET).read_bytes() == expected
    leftovers = [p.name for p in (here / "results").rglob(".tmp-*")]
    assert leftovers == []
    print("\nsnakemake: second run in the same folder refused by the lock; killed run "
          "recovered with --unlock + rerun-incomplete; metrics.json byte-identical in both "
          "folders")  # fmt: skip
