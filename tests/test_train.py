"""Device choice, the AMP path, determinism, kill-and-resume and the shard check of one fold."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pandas as pd
import pytest
import torch

from conftest import BIN, rule_settings
from spectstage import checkpoint, config, train
from spectstage.crop import Crop
from spectstage.errors import InputError
from spectstage.fold_data import load_shard
from spectstage.folds import fold_split, read_folds
from spectstage.models import build_model
from spectstage.provenance import preprocessing_hash


def test_device_is_chosen_automatically(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train.select_device("auto").type == "cpu"
    with pytest.raises(InputError, match="no CUDA device"):
        train.select_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert train.select_device("auto").type == "cuda"
    assert train.select_device("cpu").type == "cpu"


def test_amp_only_on_cuda():
    assert train.amp_enabled(torch.device("cuda"), "auto")
    assert not train.amp_enabled(torch.device("cuda"), "off")
    assert not train.amp_enabled(torch.device("cpu"), "auto")
    with pytest.raises(InputError, match="CPU"):
        train.amp_enabled(torch.device("cpu"), "on")


def fold_args(run, tmp, name, epochs, patience=None):
    results = run / "results"
    train_settings = {"epochs": epochs, "batch_size": 4, "patience": patience or epochs}
    return [
        str(BIN / "spectstage"),
        "train",
        "--fold",
        "0",
        "--settings",
        rule_settings("train", raw_dir="raw", train=train_settings),
        "--shard",
        str(results / "folds/fold_0/train_shard.pt"),
        "--folds",
        str(results / "folds.csv"),
        "--cohort",
        str(results / "cohort.csv"),
        "--out-dir",
        str(tmp / name / "out"),
        "--checkpoint-dir",
        str(tmp / name / "ckpt"),
        "--threads",
        "1",
    ]


def train_fold_0(workflow_run, tmp_path, monkeypatch, train_settings: dict) -> dict:
    """Train fold 0 of the shared workflow run in-process, into tmp_path/out."""
    cfg = config.validate({"raw_dir": "raw", "train": train_settings})
    monkeypatch.chdir(workflow_run)
    r = workflow_run / "results"
    return train.train_fold(
        r / "folds.csv",
        r / "cohort.csv",
        r / "folds/fold_0/train_shard.pt",
        0,
        tmp_path / "out",
        tmp_path / "ckpt",
        cfg,
        threads=1,
    )


def test_amp_code_path_runs_on_cpu(workflow_run, tmp_path, monkeypatch):
    """The CUDA mixed-precision branch (autocast + GradScaler) exercised on the CPU."""
    monkeypatch.setattr(train, "amp_enabled", lambda device, setting: True)
    train_fold_0(workflow_run, tmp_path, monkeypatch, {"epochs": 1, "batch_size": 4})
    probs = pd.read_csv(tmp_path / "out" / "test_predictions.csv").filter(like="p_")
    assert ((probs.sum(axis=1) - 1).abs() < 1e-5).all()


def test_same_seed_same_weights_and_kill_then_resume_matches(workflow_run, tmp_path):
    epochs = 10  # patience = epochs: every epoch runs; the kill lands after the first
    subprocess.run(
        fold_args(workflow_run, tmp_path, "whole", epochs),
        cwd=workflow_run,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        fold_args(workflow_run, tmp_path, "again", epochs),
        cwd=workflow_run,
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        fold_args(workflow_run, tmp_path, "killed", epochs),
        cwd=workflow_run,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = tmp_path / "killed" / "ckpt" / checkpoint.CHECKPOINT
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = torch.load(ckpt, weights_only=True)["state"]["epoch"]
    assert 1 <= stopped_at < epochs, "the kill must land mid-training"
    assert not (tmp_path / "killed" / "out" / "model.pt").exists()
    subprocess.run(
        fold_args(workflow_run, tmp_path, "killed", epochs),
        cwd=workflow_run,
        check=True,
        capture_output=True,
    )

    def weights(name):
        return torch.load(tmp_path / name / "out" / "model.pt", weights_only=True)["state_dict"]

    whole, again, resumed = weights("whole"), weights("again"), weights("killed")
    for key in whole:
        assert torch.equal(whole[key], again[key]), key
        assert torch.equal(whole[key], resumed[key]), key
    history = [pd.read_csv(tmp_path / n / "out" / "history.csv") for n in ("whole", "killed")]
    pd.testing.assert_frame_equal(*history)
    meta = torch.load(tmp_path / "whole" / "out" / "model.pt", weights_only=True)["meta"]
    assert meta["labels"] == ["1", "2", "3", "4"] and meta["model"] == "small"


def test_checkpoint_from_other_settings_is_not_resumed(workflow_run, tmp_path):
    subprocess.run(
        fold_args(workflow_run, tmp_path, "a", 2), cwd=workflow_run, check=True, capture_output=True
    )
    args = fold_args(workflow_run, tmp_path, "a", 3)
    out = subprocess.run(args, cwd=workflow_run, check=True, capture_output=True, text=True)
    assert "starting afresh" in out.stderr
    assert len(pd.read_csv(tmp_path / "a" / "out" / "history.csv")) == 3


def test_monitor_ranks_by_its_quantity_and_breaks_ties_with_the_other():
    by_loss = [train.monitor_score("loss", ba, loss) for ba, loss in [(0.9, 0.8), (0.5, 0.6)]]
    assert by_loss[1] > by_loss[0]  # lower loss wins despite the lower balanced accuracy
    by_ba = [train.monitor_score("balanced_accuracy", 0.5, loss) for loss in (0.8, 0.6)]
    assert by_ba[1] > by_ba[0]  # same balanced accuracy: the lower loss breaks the tie
    assert train.monitor_score("balanced_accuracy", 0.6, 9.0) > by_ba[1]


@pytest.mark.parametrize("monitor", ["loss", "balanced_accuracy"])
def test_best_epochs_and_early_stopping_follow_the_monitor(
    workflow_run, tmp_path, monkeypatch, monitor
):
    epochs, patience = 12, 3
    train_settings = {"epochs": epochs, "batch_size": 4, "patience": patience, "monitor": monitor}
    meta = train_fold_0(workflow_run, tmp_path, monkeypatch, train_settings)
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    ranking = [
        train.monitor_score(monitor, ba, loss)
        for ba, loss in zip(history["val_balanced_accuracy"], history["val_loss"], strict=True)
    ]
    order = sorted(range(len(ranking)), key=lambda i: [-v for v in ranking[i]])
    assert meta["best_epoch"] == order[0] + 1
    assert meta["ensemble_epochs"] == [i + 1 for i in order[:3]]
    assert meta["monitor"] == monitor
    # Stops once `patience` epochs in a row failed to beat the best, or at the last epoch.
    assert len(history) == min(epochs, meta["best_epoch"] + patience)


def test_shard_with_samples_of_held_out_scans_is_refused(workflow_run, tmp_path):
    results, labels = workflow_run / "results", ["1", "2", "3", "4"]
    folds = read_folds(results / "folds.csv")
    train_scans = fold_split(folds, 0, "train")
    shard_path = results / "folds/fold_0/train_shard.pt"
    shard = load_shard(shard_path, train_scans, 0, labels)
    assert set(shard["scan_ids"]) == set(train_scans["scan_id"])
    test_scan = fold_split(folds, 0, "test")["scan_id"].iloc[0]
    stale = dict(shard, scan_ids=[test_scan, *shard["scan_ids"][1:]])
    torch.save(stale, tmp_path / "stale.pt")
    with pytest.raises(InputError, match=rf"stale.pt: .* not training scans .*\['{test_scan}'\]"):
        load_shard(tmp_path / "stale.pt", train_scans, 0, labels)
    more_scans = pd.concat([train_scans, fold_split(folds, 0, "test").iloc[[0]]])
    with pytest.raises(InputError, match=rf"without samples: \['{test_scan}'\]"):
        load_shard(shard_path, more_scans, 0, labels)
    relabelled = dict(shard, y=(shard["y"] + 1) % 4)
    torch.save(relabelled, tmp_path / "relabelled.pt")
    with pytest.raises(InputError, match="sample labels differ"):
        load_shard(tmp_path / "relabelled.pt", train_scans, 0, labels)


def test_preprocessing_hash_follows_what_shapes_the_input_not_the_job_count():
    base = config.validate({})
    changed = {
        "ingest": {"reference_min_coverage": 0.5},
        "slices": {"colormap": "gray"},
        "train": {"crop": {"voxel_mm": 2}},
    }
    for section, value in changed.items():
        other = config.validate({section: value})
        assert preprocessing_hash(other) != preprocessing_hash(base), section
    assert preprocessing_hash(config.validate({"ingest": {"batches": 3}})) == preprocessing_hash(
        base
    )


def test_every_model_takes_the_default_crop_but_densenet_which_says_what_to_change():
    default_crop = Crop.from_config(config.validate({})["train"]["crop"]).shape
    for name in ("small", "seed", "resnet10"):
        model = build_model(name, 4, default_crop).eval()
        assert model(torch.zeros(2, 1, *default_crop)).shape == (2, 4)
    with pytest.raises(InputError, match=r"densenet121 cannot take the \[20, 16, 12\].*voxel_mm 2"):
        build_model("densenet121", 4, default_crop)
    assert build_model("densenet121", 4, (40, 32, 32)).training  # returned ready to train


def test_cuda_random_state_is_checkpointed_and_restored(monkeypatch, tmp_path):
    """The CUDA branch of resume, on the CPU: the GPU generator states survive a
    weights_only round trip and are handed back to CUDA."""
    gpu_states = [torch.arange(8, dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: gpu_states)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    loader_gen = torch.Generator().manual_seed(3)
    torch.save(checkpoint.rng_state(loader_gen), tmp_path / "rng.pt")
    expected = torch.rand(2, generator=loader_gen)
    checkpoint.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), loader_gen)
    assert torch.equal(torch.rand(2, generator=loader_gen), expected)
    assert len(restored) == 1 and torch.equal(restored[0][0], gpu_states[0])
