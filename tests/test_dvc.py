"""`dvc repro` on a tiny cohort in fresh clones: share through a remote, rerun by content.

One module-wide run: a fresh clone of this commit, pointed at a tiny demo cohort and config
of its own (params.yaml, config/tiny.yaml, as a user points at theirs), `dvc repro`, commit,
`dvc push` to a temporary local remote. The tests then pull it into a second clone, force a
second run there, and change one training key in the first.
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import BIN, REPO, run, slurm_profile_env
from spectstage import config
from test_committed_files import data_files

# The tests that use the module's run; the others are quick (make test-fast runs them)
uses_run = pytest.mark.workflow
GIT_ID = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
}
# The smallest cohort the folds accept: k=2 outer folds and 2 inner-validation folds need
# 4 patients per stage; 2 stages; NIfTI reads fastest.
DEMO = {"format": "nifti", "per_stage": "4,4", "seed": 3}
TINY = {
    "raw_dir": "data/demo",
    "stages": [1, 2],
    "ingest": {"batches": 1},  # 8 scans: one check and one ingest process per repro
    "folds": {"k": 2, "val_folds": 2},
    "augment": {"copies": 1},
    "train": {"epochs": 1, "batch_size": 8},
    "evaluate": {"truth_table": "data/demo/truth.csv", "bootstrap": 20},
}
STAGES = ["demo_data", "triggers", "ingest", "folds", "augment", "train_evaluate"]
# dvc.yaml stage -> the spectstage commands its Snakemake rules run
STAGE_COMMANDS = {
    "ingest": ("check", "ingest", "cohort"),
    "folds": ("folds",),
    "augment": ("augment",),
    "train_evaluate": ("train", "evaluate", "report-files"),
}


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo, env=GIT_ID).stdout


def dvc(repo: Path, *args: str, env: dict | None = None) -> str:
    env = {"DVC_NO_ANALYTICS": "1", **(env or {})}  # also where a test's config has none
    out = run([str(BIN / "dvc"), *args], repo, env=env)
    return out.stdout + out.stderr


def clone(source: Path, dest: Path, remote: Path) -> Path:
    """A fresh clone of source's checked-out commit, its DVC remote set to `remote`."""
    commit = git(source, "rev-parse", "HEAD").strip()
    run(["git", "clone", "--quiet", "--no-checkout", str(source), str(dest)], dest.parent)
    git(dest, "checkout", "--quiet", commit)
    # CI may have no global git identity; `dvc exp run` commits with the repository's
    git(dest, "config", "user.name", GIT_ID["GIT_AUTHOR_NAME"])
    git(dest, "config", "user.email", GIT_ID["GIT_AUTHOR_EMAIL"])
    dvc(dest, "remote", "modify", "--local", "demo", "url", str(remote))
    return dest


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> dict:
    """The tiny run in a fresh clone, committed and pushed."""
    root = tmp_path_factory.mktemp("dvc")
    remote = root / "remote"
    repo = clone(REPO, root / "first", remote)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.update(config="config/tiny.yaml", demo=DEMO)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / "config" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "tiny cohort and config")
    output = dvc(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "results")
    dvc(repo, "push")
    metrics = (repo / "results" / "metrics.json").read_bytes()
    return {"root": root, "repo": repo, "remote": remote, "output": output, "metrics": metrics}


@uses_run
def test_fresh_clone_reproduces_every_stage_and_commits_no_data(first):
    assert stages_run(first["output"]) == STAGES
    tracked = git(first["repo"], "ls-files").split()
    assert "dvc.lock" in tracked and "results/metrics.json" in tracked
    assert not data_files(first["repo"], tracked)


@pytest.fixture(scope="module")
def second(first) -> Path:
    """A second fresh clone of the first, after `dvc pull`."""
    repo = clone(first["repo"], first["root"] / "second", first["remote"])
    dvc(repo, "pull")
    return repo


@uses_run
def test_pull_into_a_second_clone_leaves_no_work_for_dvc_or_snakemake(first, second):
    repo = second
    assert (repo / "results" / "models" / "fold_1" / "model.pt").is_file()
    assert (repo / "data" / "demo" / "truth.csv").is_file()
    assert "up to date" in dvc(repo, "status")
    assert stages_run(dvc(repo, "repro")) == []
    # Snakemake's own view: after `make sync`, nothing to do, and a later change is seen
    run(["make", "sync"], repo)
    dry = ["snakemake", "-n", "--configfile", "config/tiny.yaml"]
    assert "Nothing to be done" in run(dry, repo).stdout
    tiny = repo / "config" / "tiny.yaml"
    tiny.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 2}}))
    planned = run(dry, repo).stdout
    assert re.search(r"train_fold +2\b", planned) and "ingest_batch" not in planned, planned
    git(repo, "checkout", "config/tiny.yaml")


@uses_run
def test_a_forced_repro_after_pull_gives_the_same_metrics_to_the_byte(first, second):
    """CPU determinism: every stage again from scratch (about a third of this module's time)."""
    repo = second
    assert stages_run(dvc(repo, "repro", "--force")) == STAGES
    assert (repo / "results" / "metrics.json").read_bytes() == first["metrics"]


@uses_run
def test_a_training_key_reruns_only_training(first):
    repo = first["repo"]
    before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    out = dvc(repo, "exp", "run", "-S", "config/config.yaml:train.lr=0.001")
    assert set(stages_run(out)) == {"triggers", "train_evaluate"}, out
    assert "ingest_batch" not in out and "augment_fold" not in out
    after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    for stage in ("demo_data", "ingest", "folds", "augment"):
        assert after[stage] == before[stage], stage  # same deps and outs, by content
    assert after["train_evaluate"]["outs"] != before["train_evaluate"]["outs"]
    shown = json.loads(dvc(repo, "exp", "show", "--json"))
    lrs = {
        exp_params(e).get("train", {}).get("lr")
        for row in shown
        for e in [row, *[x for ex in (row.get("experiments") or []) for x in ex["revs"]]]
    }
    assert {0.003, 0.001} <= lrs, lrs
    assert "results/metrics.json" in dvc(repo, "metrics", "diff", "--all")


def exp_params(entry: dict) -> dict:
    data = (entry.get("data") or {}).get("params") or {}
    return (data.get("config/config.yaml") or {}).get("data") or {}


@uses_run
def test_triggers_are_what_snakemake_passed(first):
    """results/dvc/<command>.json against the params Snakemake recorded for the outputs."""
    repo = first["repo"]
    for command, output in [
        ("folds", "results/folds.csv"),
        ("train", "results/models/fold_0/model.pt"),
    ]:
        trigger = json.loads((repo / "results" / "dvc" / f"{command}.json").read_text())
        name = base64.b64encode(output.encode()).decode()
        record = json.loads((repo / ".snakemake" / "metadata" / name).read_text())
        passed = [ast.literal_eval(p) for p in record["params"]]  # reprs of the values
        assert trigger["code"] in passed
        assert trigger["settings"] in [json.loads(p) for p in passed if p.startswith("{")]


@uses_run
def test_leftover_temporary_files_are_never_hashed(first):
    repo = first["repo"]
    leftovers = [
        repo / "results" / "models" / "fold_0" / ".tmp-node1-123-model.pt",
        repo / "results" / "volumes" / ".tmp-node1-124-P0001.nii.gz",
    ]
    for f in leftovers:
        f.write_bytes(b"half-written")
    try:
        assert "up to date" in dvc(repo, "status")
    finally:
        for f in leftovers:
            f.unlink()


@uses_run
@pytest.mark.slurm
def test_dvc_repro_runs_its_snakemake_stages_on_slurm(slurm, first, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(first["repo"], repo, symlinks=True)
    folds = (repo / "results" / "folds.csv").read_bytes()
    out = dvc(repo, "repro", "--force", "--single-item", "folds", env=slurm_profile_env(tmp_path))
    assert re.search(r"submitted with SLURM jobid \d+", out), out
    # a job of rule group `cohort` (cohort table + folds) with only folds to run
    assert list((repo / ".snakemake" / "slurm_logs").glob("group_cohort_folds/**/*.log"))
    assert (repo / "results" / "folds.csv").read_bytes() == folds


# --- no workflow run needed ------------------------------------------------------------


def test_dvc_params_are_the_keys_the_rules_read():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for stage, commands in STAGE_COMMANDS.items():
        (listed,) = [p["config/config.yaml"] for p in stages[stage]["params"]]
        assert listed == keys_read(commands), stage
        for command in commands:  # and the stage depends on each command's triggers
            assert f"results/dvc/{command}.json" in stages[stage]["deps"], (stage, command)
    every = set().union(*STAGE_COMMANDS.values())
    # predict stages new patients with the models: not part of reproducing the results
    assert every == set(config.COMMAND_KEYS) - {"predict"}, "a command no DVC stage runs"


def test_learning_curves_plot_every_fold_of_the_default_config():
    plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    k = config.validate({})["folds"]["k"]
    expected = [f"results/models/fold_{fold}/history.csv" for fold in range(k)]
    curves = [next(iter(p.values())) for p in plots if isinstance(p, dict)]
    for curve in curves:
        if curve.get("x") == "epoch":
            assert list(curve["y"]) == expected


def keys_read(commands: tuple[str, ...]) -> list[str]:
    """The config keys the commands read, in order; a dotted key only without its section."""
    keys: list[str] = []
    for command in commands:
        keys += [k for k in config.COMMAND_KEYS[command] if k not in keys]
    return [k for k in keys if "." not in k or k.split(".")[0] not in keys]


def test_a_key_in_the_users_own_file_changes_only_the_triggers_of_its_rules(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "dvc_triggers", REPO / "scripts" / "dvc_triggers.py"
    )
    triggers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(triggers)
    written = {}
    for epochs in (1, 2):
        mine = tmp_path / f"mine{epochs}.yaml"
        mine.write_text(
            yaml.safe_dump({**TINY, "raw_dir": str(tmp_path), "train": {"epochs": epochs}})
        )
        out = tmp_path / f"out{epochs}"
        assert (
            triggers.main(
                ["--configfile", str(mine), "--data", str(tmp_path), "--out-dir", str(out)]
            )
            == 0
        )
        written[epochs] = {f.stem: f.read_bytes() for f in out.iterdir()}
    changed = {c for c in written[1] if written[1][c] != written[2][c]}
    assert changed == {"train", "evaluate", "report-files"}
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(yaml.safe_dump({"raw_dir": "/somewhere/else"}))
    assert (
        triggers.main(
            [
                "--configfile",
                str(outside),
                "--data",
                str(tmp_path),
                "--out-dir",
                str(tmp_path / "x"),
            ]
        )
        == 1
    )


def test_dvc_add_accepts_a_user_folder_and_git_sees_only_dvcs_files(tmp_path):
    repo = clone(REPO, tmp_path / "repo", tmp_path / "remote")
    for name in (".gitignore", ".dvcignore"):  # this checkout's, committed or not
        shutil.copy(REPO / name, repo / name)
    scans = repo / "data" / "site_a" / "scans"
    (scans / "P0001").mkdir(parents=True)
    (scans / "P0001" / "scan.dcm").write_bytes(b"\0" * 128 + b"DICM")
    dvc(repo, "add", "data/site_a/scans")
    status = git(repo, "status", "--porcelain", "--untracked-files=all")
    new = {line[3:] for line in status.splitlines() if line.startswith(("??", "A "))}
    assert {"data/site_a/scans.dvc", "data/site_a/.gitignore"} <= new, status
    assert not [f for f in new if "P0001" in f], status
