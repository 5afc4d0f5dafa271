"""Shared fixtures: one tiny generated cohort and one workflow run for the whole session."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY_PER_STAGE = [4, 4, 4, 4]  # the fewest that k=2 outer and 2 inner folds accept
TINY_BATCHES = 3
COMMAND_TIMEOUT_S = 900


def run(
    cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a command with the venv's tools first on PATH; output captured as text."""
    first = [(env or {}).get("PATH"), str(BIN)]  # a PATH in `env`, then the venv's tools
    env = {**os.environ, **(env or {})}
    env["PATH"] = os.pathsep.join([p for p in first if p] + [os.environ["PATH"]])
    # A hung SLURM job or workflow must fail the test, not CI's whole time budget.
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def modules_loaded(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules starting with one of `prefixes` that a fresh interpreter has loaded
    after running `code`."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


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
    """16 patients, every input layout (PNG, DICOM multi-frame and series, NIfTI).

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
    """The tiny cohort through the whole workflow, made once; each test process reads its
    own copy (tests only read the results, or copy them before changing anything).

    Under pytest-xdist the workers share one original, beside the shared tiny cohort: the
    first worker to get here makes it, the other waits for it (a file lock) and copies it,
    so the tests of the shared run can sit on either worker. The data sit inside the
    working folder under a relative raw_dir, as a user would have them, so a copy of the
    folder is a faithful second checkout.
    """
    from filelock import FileLock

    copy = tmp_path_factory.mktemp("workflow")
    if worker_id == "master":  # not under xdist: the run itself
        make_workflow_run(tiny_cohort, copy)
        return copy
    original = tmp_path_factory.getbasetemp().parent / "workflow_run"
    made_by = original.with_suffix(".made_by")
    with FileLock(f"{original}.lock"):
        if not made_by.exists():
            if original.exists():  # a worker died making it: never made twice
                pytest.fail(f"the shared workflow run {original} was started, not finished")
            make_workflow_run(tiny_cohort, original)
            made_by.write_text(worker_id)
    shutil.copytree(original, copy, symlinks=True, dirs_exist_ok=True)
    return copy


def make_workflow_run(tiny_cohort: Path, workdir: Path) -> None:
    workdir.mkdir(exist_ok=True)
    shutil.copytree(tiny_cohort, workdir / "raw")
    snakemake(workdir, "--cores", "2", *tiny_config(Path("raw"), workdir))


# The users' SLURM profile, with the executor's status polling shortened for the tests
# only: a check every second (tests/slurm_snakemake.py holds the plugin to it) instead of
# 10 s growing by 10 s per check that finds nothing finished.
POLLING_SNAKEMAKE = [sys.executable, str(REPO / "tests" / "slurm_snakemake.py")]
POLLING_SNAKEMAKE += ["--seconds-between-status-checks", "1"]
POLLING_SNAKEMAKE += ["--slurm-init-seconds-before-status-checks", "1"]
SLURM_PROFILE = REPO / "profiles" / "slurm"
SLURM_SNAKEMAKE = [
    *POLLING_SNAKEMAKE,
    "-s",
    str(REPO / "Snakefile"),
    "--profile",
    str(SLURM_PROFILE),
]


def slurm_profile_env(folder: Path) -> dict:
    """The environment, for run(), in which a user sends `snakemake` to SLURM without
    changing its command line (SNAKEMAKE_PROFILE), with `snakemake` polling every second:
    a script in `folder`, first on PATH, calling POLLING_SNAKEMAKE."""
    shim = folder / "snakemake"
    shim.write_text(f'#!/bin/sh\nexec {shlex.join(POLLING_SNAKEMAKE)} "$@"\n')
    shim.chmod(0o755)
    return {
        "SNAKEMAKE_PROFILE": str(SLURM_PROFILE),
        "PATH": str(folder),  # run() puts it first
    }


def slurm_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Snakemake through the SLURM profile (see the `slurm` fixture), polling every second."""
    return run([*SLURM_SNAKEMAKE, *args], workdir, check)


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


# The modules that take longest, first (pytest-xdist hands each worker the next module in
# collection order; the Makefile passes --no-loadscope-reorder), as `pytest --durations`
# measured them: the heavy ones spread over both workers and the short unit-test modules
# fill the gaps at the end. test_slurm makes the shared run on one worker while test_dvc
# (its own runs) starts on the other.
LONGEST_FIRST = (
    "test_dvc.py",
    "test_slurm.py",
    "test_deid.py",
    "test_slurm_resume.py",
    "test_faults.py",
    "test_train.py",
    "test_determinism.py",
    "test_console.py",
    "test_concurrency.py",
    "test_augment.py",
    "test_workflow.py",
    "test_alignment.py",
    "test_bad_inputs.py",
    "test_report.py",
    "test_predict.py",
    "test_phi.py",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(items):
    """Every test that needs the shared workflow run carries the `workflow` marker, whether
    it asks for `workflow_run` directly or through another fixture, so that
    `-m "not workflow"` (make test-fast) never starts it. Each module's tests form one
    pytest-xdist group, so that with `--dist loadgroup` its module fixtures are made once
    (xdist joins the names of several groups into one: mark no test with another); the
    modules are ordered longest first."""
    for item in items:
        if "workflow_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.workflow)
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def command_worker():
    """One process with the package imported, forking a child per `spectstage` command
    (tests/fault_worker.py): commands start in milliseconds instead of seconds."""
    from commands import Worker

    worker = Worker()
    yield worker
    worker.close()
