"""The training steps on tiny in-memory data: each does one thing, checked on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from spectstage import config, train
from spectstage.checkpoint import TrainState, load_checkpoint, save_checkpoint
from spectstage.fold_data import FoldData

SHAPE = (8, 8, 6)
LABELS = ["1", "2", "3"]


def ids(n: int, split: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "fold": 0,
            "patient_id": [f"{split}{i}" for i in range(n)],
            "scan_id": [f"{split}{i}" for i in range(n)],
            "stage": [LABELS[i % 3] for i in range(n)],
            "split": split,
        }
    )


@pytest.fixture
def data() -> FoldData:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(12) % 3
    x = torch.rand(12, 1, *SHAPE, generator=gen) + y.view(-1, 1, 1, 1, 1).float()
    loader_gen = torch.Generator().manual_seed(1)
    dataset = torch.utils.data.TensorDataset(x, y)
    val, test = ids(6, "val"), ids(4, "test")
    return FoldData(
        labels=LABELS,
        loader=torch.utils.data.DataLoader(dataset, 4, shuffle=True, generator=loader_gen),
        loader_gen=loader_gen,
        class_counts=torch.bincount(y, minlength=3),
        val=val,
        x_val=torch.rand(6, 1, *SHAPE, generator=gen),
        y_val=np.array([LABELS.index(s) for s in val["stage"]]),
        test=test,
        x_test=torch.rand(4, 1, *SHAPE, generator=gen),
    )


def settings(**extra) -> dict:
    return {**config.validate({})["train"], "batch_size": 4, **extra}


def fitting(data, **extra):
    torch.manual_seed(0)
    return train.build_fitting(settings(**extra), data, torch.device("cpu"))


def test_an_epoch_updates_the_weights_and_steps_the_schedule(data):
    fit = fitting(data, epochs=4)
    before = [p.detach().clone() for p in fit.model.parameters()]
    loss, lr = train.train_epoch(fit, data.loader)
    assert np.isfinite(loss) and lr == settings()["lr"]
    assert fit.optimiser.param_groups[0]["lr"] < lr  # cosine schedule stepped once
    assert any(not torch.equal(a, b) for a, b in zip(before, fit.model.parameters(), strict=True))


def test_validation_gives_balanced_accuracy_and_loss(data):
    ba, loss = train.validate(fitting(data), data.x_val, data.y_val, settings())
    assert 0 <= ba <= 1 and loss > 0


def test_update_best_counts_bad_epochs_and_keeps_the_k_best_earliest_first(data):
    fit, state = fitting(data), TrainState()
    for score in ([-1.0, 0.2], [-0.5, 0.3], [-0.5, 0.3], [-0.9, 0.1]):
        state.epoch += 1
        train.update_best(state, score, fit.model, keep=2)
    assert (state.best_epoch, state.bad_epochs) == (2, 2)
    assert [t["epoch"] for t in state.top] == [2, 3]  # a tie: the earlier epoch first


def test_a_checkpoint_restores_weights_state_and_shuffling(data, tmp_path):
    fit = fitting(data)
    state = TrainState()
    loss, lr = train.train_epoch(fit, data.loader)
    train.record_epoch(state, loss, 0.5, 0.7, lr)
    save_checkpoint(tmp_path / "last.pt", "stamp", fit, data.loader_gen, state)
    expected_order = torch.randperm(12, generator=data.loader_gen)
    other = fitting(data)
    restored = load_checkpoint(tmp_path / "last.pt", "stamp", other, data.loader_gen)
    assert restored == state
    assert torch.equal(torch.randperm(12, generator=data.loader_gen), expected_order)
    for a, b in zip(
        fit.model.state_dict().values(), other.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert load_checkpoint(tmp_path / "last.pt", "other settings", other, data.loader_gen) == (
        TrainState()
    )


def test_outputs_hold_the_validation_and_test_scans_from_the_ensemble(data, tmp_path):
    fit, state = fitting(data), TrainState()
    for score in ([-0.9, 0.3], [-0.7, 0.4]):
        train.record_epoch(state, 1.0, score[1], -score[0], 0.003)
        train.update_best(state, score, fit.model, keep=3)
    cfg = config.validate({"train": {"batch_size": 4}})
    meta = train.write_outputs(tmp_path, fit, data, state, cfg, fold=0)
    assert meta["best_epoch"] == 2 and meta["ensemble_epochs"] == [2, 1]
    for name, split in (("val_predictions.csv", data.val), ("test_predictions.csv", data.test)):
        table = pd.read_csv(tmp_path / name, dtype={"stage": str})
        assert table["scan_id"].tolist() == split["scan_id"].tolist()
        assert table["stage"].tolist() == split["stage"].tolist()
        probs = table[[f"p_{label}" for label in LABELS]].to_numpy()
        assert np.allclose(probs.sum(axis=1), 1)
    assert len(pd.read_csv(tmp_path / "history.csv")) == 2
