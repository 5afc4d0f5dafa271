"""Shared fixtures: one tiny generated cohort and one workflow run for the whole session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY_PER_STAGE = [6, 6, 6, 4]
TINY_BATCHES = 3
COMMAND_TIMEOUT_S = 900


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a command with the venv's tools first on PATH; output captured as text."""
    env = {**os.environ, **(env or {}), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    # A hung SLURM job or workflow must fail the test, not CI's whole time budget.
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def rule_settings(command: str, **cfg) -> str:
    """The --settings JSON a workflow rule passes to `spectstage <command>` for config `cfg`
    (a strict view: the command may read these keys only)."""
    from spectstage import config

    return config.settings_for(config.validate(cfg), command)


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    return run([str(BIN / "snakemake"), "-s", str(REPO / "Snakefile"), *args], workdir, check, env)


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory, worker_id) -> Path:
    """22 patients, every input layout (PNG, DICOM multi-frame and series, NIfTI).

    Under pytest-xdist (make test) the workers share one copy: the first to get here
    generates it, the other waits for it. Tests must not modify it (see scratch_cohort)."""
    from filelock import FileLock

    from spectstage.demo.cohort import generate

    if worker_id == "master":  # not under xdist
        folder = tmp_path_factory.mktemp("cohort")
    else:  # the session's base folder, shared by its workers (popen-gw0, popen-gw1, ...)
        folder = tmp_path_factory.getbasetemp().parent / "cohort"
        folder.mkdir(exist_ok=True)
    out = folder / "raw"
    with FileLock(folder / "generate.lock"):
        if not (out / "truth.csv").exists():  # written last by generate
            generate(out, "mixed", TINY_PER_STAGE, seed=7, workers=2)
    return out


def tiny_config(cohort: Path, folder: Path, **extra) -> list[str]:
    """Write a user config for `cohort` into `folder`; returns the snakemake arguments for it."""
    import yaml

    path = folder / "tiny.yaml"
    cfg = {
        "raw_dir": str(cohort),
        "ingest": {"batches": TINY_BATCHES},
        "folds": {"k": 2, "val_folds": 2},
        "augment": {"copies": 1},
        "train": {"epochs": 2, "batch_size": 8},
        "evaluate": {"truth_table": str(cohort / "truth.csv"), "bootstrap": 100},
        **extra,
    }
    path.write_text(yaml.safe_dump(cfg))
    return ["--configfile", str(path)]


@pytest.fixture(scope="session")
def workflow_run(tiny_cohort, tmp_path_factory, worker_id) -> Path:
    """The tiny cohort through the whole workflow, once; tests only read the results.

    The data sit inside the working folder under a relative raw_dir, as a user would
    have them, so a copy of the folder is a faithful second checkout.
    """
    if worker_id != "master":  # a second worker here means the xdist group is not honoured
        owner = tmp_path_factory.getbasetemp().parent / "workflow_run.owner"
        try:
            with owner.open("x") as f:
                f.write(worker_id)
        except FileExistsError:
            made_by = owner.read_text()
            pytest.fail(
                f"the shared workflow run was already made by {made_by}: its tests must"
                " form one xdist group (check the pytest and pytest-xdist versions)"
            )
    workdir = tmp_path_factory.mktemp("workflow")
    shutil.copytree(tiny_cohort, workdir / "raw")
    snakemake(workdir, "--cores", "2", *tiny_config(Path("raw"), workdir))
    return workdir


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A local single-node SLURM (scripts/start-local-slurm.sh), started once at a time:
    both test workers may ask for it. Skipped with the reason where it cannot start (not
    root); in CI it must run."""
    from filelock import FileLock

    reason = None
    if os.geteuid() != 0:
        reason = "not root: cannot install and start a local SLURM"
    else:
        with FileLock(tmp_path_factory.getbasetemp().parent / "slurm-start.lock"):
            proc = run(["bash", str(REPO / "scripts" / "start-local-slurm.sh")], REPO, check=False)
        if proc.returncode != 0:
            reason = f"local SLURM did not start: {proc.stderr[-2000:]}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SLURM tests: {reason}")
        pytest.skip(reason)


@pytest.fixture
def scratch_cohort(tiny_cohort, tmp_path) -> Path:
    """A private copy of the tiny cohort that a test may modify."""
    copy = tmp_path / "raw"
    shutil.copytree(tiny_cohort, copy)
    return copy


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(items):
    """Every test that needs the shared workflow run carries the `workflow` marker, whether
    it asks for `workflow_run` directly or through another fixture, so that
    `-m "not workflow"` (make test-fast) never starts it; and all of them form one
    pytest-xdist group, so that with `--dist loadgroup` one worker makes the run once.
    (xdist joins the names of several groups into one: mark no test with another.)"""
    for item in items:
        if "workflow_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.workflow)
            item.add_marker(pytest.mark.xdist_group("workflow_run"))
        else:  # a module's tests on one worker: its module-scoped fixtures are made once
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.fixture(scope="session")
def command_worker():
    """One process with the package imported, forking a child per `spectstage` command
    (tests/fault_worker.py): commands start in milliseconds instead of seconds."""
    from commands import Worker

    worker = Worker()
    yield worker
    worker.close()
