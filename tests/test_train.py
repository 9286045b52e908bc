"""The training helper: history records, accuracy, modes, scheduler, callback and the progress bar."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl import optim
from minidl.data import DataLoader, TensorDataset
from minidl.optim import lr_scheduler
from minidl.train import evaluate, fit


def blobs(count=120, seed=0):
    """Three well-separated clusters in 2-D: a problem any small network learns in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    points = centres[labels] + 0.5 * rng.standard_normal((count, 2))
    return TensorDataset(points.astype(np.float32), labels)


def test_fit_learns_and_records_every_epoch():
    minidl.manual_seed(0)
    network = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = optim.SGD(network.parameters(), lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    train_loader = DataLoader(blobs(), batch_size=16, shuffle=True)
    test_loader = DataLoader(blobs(seed=1), batch_size=50)
    history = fit(network, optimizer, train_loader, 5, test_loader=test_loader, scheduler=scheduler, progress=False)
    assert [record["epoch"] for record in history] == [1, 2, 3, 4, 5]
    assert [record["lr"] for record in history] == [0.1, 0.1, 0.05, 0.05, 0.025]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.95
    assert set(history[0]) == {"epoch", "lr", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"}


def test_evaluate_matches_a_numpy_computation_and_restores_the_mode():
    network = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5))
    dataset = blobs(37)
    points, labels = (t.data for t in dataset.tensors)
    network.train()
    result = evaluate(network, DataLoader(dataset, batch_size=10))
    assert network.training
    logits = points @ network[0].weight.data.T + network[0].bias.data  # dropout is off in evaluation
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(result["loss"], -log_probs[np.arange(37), labels].mean(), rtol=1e-5)
    assert result["accuracy"] == np.mean(logits.argmax(axis=1) == labels)


def test_accuracy_is_none_for_regression():
    dataset = TensorDataset(np.ones((8, 2), np.float32), np.zeros((8, 1), np.float32))
    network = nn.Linear(2, 1)
    history = fit(
        network, optim.SGD(network.parameters(), lr=0.1), DataLoader(dataset, 4), 1, F.mse_loss, progress=False
    )
    assert history[0]["train_accuracy"] is None and history[0]["test_loss"] is None


def test_callback_sees_each_record_and_can_stop():
    network = nn.Linear(2, 3)
    seen = []

    def stop_after_two(record):
        seen.append(record["epoch"])
        return record["epoch"] == 2

    history = fit(
        network,
        optim.SGD(network.parameters(), lr=0.1),
        DataLoader(blobs(), 30),
        10,
        callback=stop_after_two,
        progress=False,
    )
    assert seen == [1, 2] and len(history) == 2


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_can_be_hidden(capsys, progress):
    network = nn.Linear(2, 3)
    loader = DataLoader(blobs(), 40)
    fit(network, optim.SGD(network.parameters(), lr=0.1), loader, 2, test_loader=loader, progress=progress, desc="run")
    error = capsys.readouterr().err
    if progress:
        assert "run: 100%" in error and "left, loss" in error and "test err" in error
    else:
        assert error == ""


def test_scheduler_can_step_after_every_batch():
    minidl.manual_seed(0)
    network = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = optim.SGD(network.parameters(), lr=0.1)
    train_loader = DataLoader(blobs(), batch_size=16)
    scheduler = lr_scheduler.LinearLR(optimizer, start_factor=0.25, total_iters=len(train_loader))
    history = fit(network, optimizer, train_loader, 2, scheduler=scheduler, scheduler_interval="batch", progress=False)
    assert [record["lr"] for record in history] == pytest.approx([0.025, 0.1])
    assert scheduler.last_epoch == 2 * len(train_loader)
    with pytest.raises(ValueError, match="scheduler_interval"):
        fit(network, optimizer, train_loader, 1, scheduler=scheduler, scheduler_interval="step", progress=False)


def test_max_grad_norm_caps_every_update():
    minidl.manual_seed(0)
    network = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = optim.SGD(network.parameters(), lr=1.0)
    loader = DataLoader(blobs(count=16), batch_size=16)
    before = [p.data.copy() for p in network.parameters()]
    fit(network, optimizer, loader, 1, max_grad_norm=0.1, progress=False)
    moved = np.sqrt(sum(np.sum((p.data - old) ** 2) for p, old in zip(network.parameters(), before, strict=True)))
    assert 0.09 < moved <= 0.1 + 1e-6  # one step of lr 1: exactly the clipped gradient's length
