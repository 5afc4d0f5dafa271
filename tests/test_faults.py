"""Fault injection: each workflow command is SIGKILLed at chosen points (just before or
after the rename that makes an output final, after its temporary file is written, or at a
moment in time), then run again. After every kill no file under a final name differs from
an uninterrupted run's (nothing partial is ever taken as complete); the run after the last
kill gives the uninterrupted run's bytes and no temporary file is left."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from commands import argv, run_config

TMP_PREFIX = ".tmp-"


def _files(root: Path) -> dict[str, Path]:
    """Files under root (symlinked input folders not followed), by relative path."""
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}


def _differs(path: Path, reference: Path) -> bool:
    return reference.exists() and path.read_bytes() != reference.read_bytes()


def _state(work: Path, reference: Path, skip: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(final-named files whose bytes differ from the reference's, temporary files)."""
    wrong, leftovers = [], []
    for name, path in _files(work / "results").items():
        if Path(name).name.startswith(TMP_PREFIX):
            leftovers.append(name)
        elif not name.startswith(skip) and _differs(path, reference / name):
            wrong.append(name)
    return wrong, leftovers


def kill_and_recover(worker, work, reference, args, kills, outputs, skip=()) -> list[str]:
    """Run `args` once per kill point (each run the recovery of the one before), then to
    the end; returns a line per kill that happened. Asserts the invariants."""
    happened, seconds = [], 0.0
    for kill in kills:
        if "after_share" in kill:  # a moment in time: a share of the previous run's length
            kill = {"after_s": round(kill["after_share"] * seconds, 2)}
        result = worker.run(args, work, kill)
        seconds = result["seconds"]
        if result["signal"] != 9:  # the point was not reached: the command finished
            assert result["exit"] == 0, (work / "command.log").read_text()[-3000:]
            continue
        wrong, leftovers = _state(work, reference, ("checkpoints/", *skip))
        assert wrong == [], (args[0], kill, wrong)
        happened.append(
            f"{args[0]} killed {kill} after {result['seconds']} s: "
            f"{len(leftovers)} temporary file(s) left"
        )
    result = worker.run(args, work)
    assert result["exit"] == 0, (work / "command.log").read_text()[-3000:]
    happened[-1:] = [f"{happened[-1]}; recovered in {result['seconds']} s"] if happened else []
    # a resumed training's checkpoint is its own (not an output): compared through the model
    wrong, leftovers = _state(work, reference, ("checkpoints/", *skip))
    assert wrong == [] and leftovers == [], (args[0], wrong, leftovers)
    missing = [o for o in outputs if not (work / "results" / o).exists()]
    differ = [o for o in outputs if _differs(work / "results" / o, reference / o)]
    assert missing == [] and differ == [], (args[0], missing, differ)
    return happened


def before(n: int, at: str = "replace") -> dict:
    return {"at": at, "n": n, "when": "before"}


def after(n: int, at: str = "replace") -> dict:
    return {"at": at, "n": n, "when": "after"}


def one_nifti_patient(workflow_run: Path, work: Path) -> str:
    """raw/ with one NIfTI patient of the shared run (ingest is the slow command)."""
    truth = pd.read_csv(workflow_run / "raw" / "truth.csv", dtype=str)
    row = truth[truth["layout"] == "nifti"].iloc[0]
    source = workflow_run / "raw" / f"stage_{row['stage']}" / row["patient_id"]
    dest = work / "raw" / f"stage_{row['stage']}" / row["patient_id"]
    shutil.copytree(source, dest, copy_function=shutil.copy2)
    return row["scan_id"]


def test_killed_commands_leave_nothing_partial_and_recover_to_the_same_bytes(
    workflow_run, command_worker, tmp_path
):
    shared = workflow_run / "results"
    cfg = run_config(workflow_run)
    log = []

    # check and ingest: one scan, one batch; the scan's volume, sidecar and montage are
    # those of the shared run (a scan's outputs do not depend on its batch)
    single = tmp_path / "single"
    scan = one_nifti_patient(workflow_run, single)
    one_batch = {**cfg, "ingest": {**cfg["ingest"], "batches": 1}}
    plain = tmp_path / "plain"
    shutil.copytree(single / "raw", plain / "raw")
    assert command_worker.run(argv("check", one_batch, batch=0), plain)["exit"] == 0
    check_out = ["check/batch_0.txt"]
    log += kill_and_recover(
        command_worker, single, plain / "results", argv("check", one_batch, batch=0),
        [before(1, "fsync"), after(1)], check_out,
    )  # fmt: skip
    outputs = [f"volumes/{scan}.nii.gz", f"volumes/{scan}.json", f"qc/{scan}.png"]
    log += kill_and_recover(
        command_worker, single, shared, argv("ingest", one_batch, batch=0),
        [after(2)], outputs, skip=("check/",),
    )  # fmt: skip

    # the model commands on the shared run's cohort and volumes
    work = tmp_path / "models"
    (work / "results").mkdir(parents=True)
    shutil.copy2(shared / "cohort.csv", work / "results")
    (work / "results" / "volumes").symlink_to(shared / "volumes")
    (work / "raw").symlink_to(workflow_run / "raw")
    shard = ["folds/fold_0/train_shard.pt", "folds/fold_0/samples.csv"]
    trained = ["model.pt", "training_scans.pt", "history.csv", "val_predictions.csv"]
    trained += ["test_predictions.csv"]
    plan = [
        ("folds", {}, [before(1), {"after_share": 0.3}], ["folds.csv"]),
        ("augment", {"fold": 0}, [before(1), {"after_share": 0.3}], shard),
        # after the first epoch's checkpoint (the rerun resumes from it), and while loading
        (
            "train",
            {"fold": 0},
            [after(1), {"after_share": 0.3}],
            [f"models/fold_0/{f}" for f in trained],
        ),
    ]
    for command, fold, kills, outs in plan:
        log += kill_and_recover(
            command_worker, work, shared, argv(command, cfg, **fold), kills, outs
        )
    for name in ("test_predictions.csv", "val_predictions.csv"):  # fold 1 as the workflow made it
        (work / "results" / "models" / "fold_1").mkdir(parents=True, exist_ok=True)
        shutil.copy2(shared / "models" / "fold_1" / name, work / "results" / "models" / "fold_1")
    evaluated = ["metrics.json", "oof_predictions.csv", "sbr_baseline_predictions.csv"]
    log += kill_and_recover(
        command_worker, work, shared, argv("evaluate", cfg), [after(1), before(3)], evaluated,
        skip=("provenance.json",),  # run-specific by design: dates, versions
    )  # fmt: skip

    print(f"\n{len(log)} kill points, every recovery matched the uninterrupted run's bytes:")
    print("\n".join(f"  {line}" for line in log))
    # 11 planned: the two moments in time may come after a quick command has finished
    assert len(log) >= 10, f"{11 - len(log)} kill point(s) never reached"
    commands = {"check", "ingest", "folds", "augment", "train", "evaluate"}
    assert {line.split()[0] for line in log} == commands
