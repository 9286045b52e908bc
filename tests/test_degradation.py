"""The degradation demo and bn-modes, run end to end with tiny settings."""

import csv
import json
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from minidl import cli
from minidl.degradation import Config, Variant, config_from_args, parse_args, variants

TINY = ["--depths", "8", "14", "--epochs", "2", "--widths", "4", "4", "8", "--seeds", "0", "--no-progress"]


def test_variants_cover_plain_residual_and_the_ablation():
    names = [v.name for v in variants(Config(depths=(8, 32)))]
    assert names == [
        "plain-8",
        "residual-8",
        "plain-32",
        "residual-32",
        "plain-32 (no BN)",
        "residual-32 (no BN, zero-init)",
    ]
    assert Variant(32, residual=True, batch_norm=False).zero_init
    assert not Variant(32, residual=True).zero_init


def test_presets_and_overrides():
    quick = config_from_args(parse_args([]))
    assert (quick.depths, quick.seeds, quick.widths, quick.epochs, quick.lr, quick.batch_size) == (
        (8, 56),
        (0,),
        (8, 16, 32),
        15,
        0.05,
        128,
    )
    assert quick.momentum == 0.9 and quick.weight_decay == 0
    full = config_from_args(parse_args(["--preset", "full", "--epochs", "3", "--lr", "0.1"]))
    assert full.depths == (8, 20, 32, 56) and full.seeds == (0, 1, 2)
    assert (full.epochs, full.lr) == (3, 0.1)


def test_bad_depth_is_refused_with_a_clear_message():
    with pytest.raises(SystemExit, match="6n \\+ 2"):
        config_from_args(parse_args(["--depths", "10"]))


def test_cli_writes_figures_and_results(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["degradation", *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "plain-14 (no BN)" in printed and "grad first/last" in printed

    document = json.loads((out / "results.json").read_text())
    names = [run["name"] for run in document["runs"]]
    assert names == [
        "plain-8",
        "residual-8",
        "plain-14",
        "residual-14",
        "plain-14 (no BN)",
        "residual-14 (no BN, zero-init)",
    ]
    assert document["config"]["epochs"] == 2 and "numba" in document["versions"]
    for run in document["runs"]:
        assert [epoch["epoch"] for epoch in run["epochs"]] == [1, 2]
        assert all(0 <= epoch["train_error"] <= 1 and np.isfinite(epoch["train_loss"]) for epoch in run["epochs"])
        assert len(run["gradient_flow"]["init"]) > 0
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 * 2 and rows[0]["name"] == "plain-8"

    for name in ("curves.png", "ablation.png", "gradient_flow.png"):
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 400 and image.shape[1] > 800
        assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas
    assert not list(out.glob("*.tmp*"))


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "minidl.degradation", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--preset" in result.stdout


def test_bn_modes_eval_is_batch_independent(capsys):
    assert cli.main(["bn-modes", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    train_part, eval_part = printed.split("  eval mode (")
    train_spread = float(train_part.rsplit("across the batches:", 1)[1].split()[0])
    eval_spread = float(eval_part.rsplit("across the batches:", 1)[1].split()[0])
    assert train_spread > 1e-3
    assert eval_spread < 1e-6
    assert "running averages" in printed


def test_schedule_warms_up_then_decays_to_zero():
    from minidl import nn, optim
    from minidl.degradation import make_scheduler

    config = Config(epochs=6, lr=0.1, warmup_epochs=2)
    optimizer = optim.SGD(nn.Linear(2, 2).parameters(), lr=config.lr)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch=3)
    rates = []
    for _ in range(6 * 3):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    warmup_steps = 2 * 3
    assert rates[0] == pytest.approx(config.lr / warmup_steps)
    assert np.all(np.diff(rates[: warmup_steps + 1]) > 0)
    assert rates[warmup_steps] == pytest.approx(config.lr)
    assert np.all(np.diff(rates[warmup_steps:]) < 0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0, abs=1e-12)


def test_only_networks_without_batch_norm_get_their_gradients_clipped(monkeypatch):
    from minidl import degradation

    caps = {}

    def record_fit(model, *args, max_grad_norm=None, callback=None, desc=None, **kwargs):
        caps[desc.rsplit(", seed", 1)[0]] = max_grad_norm

    monkeypatch.setattr(degradation, "fit", record_fit)
    data = degradation.load_data("digits")
    config = Config(depths=(8,), widths=(2, 2, 2), epochs=1, max_grad_norm_without_bn=0.5)
    for variant in variants(config):
        degradation.train_variant(variant, 0, data, config, progress=False)
    assert caps == {"plain-8": None, "residual-8": None, "plain-8 (no BN)": 0.5, "residual-8 (no BN, zero-init)": 0.5}


def test_data_option_names_what_it_expected(tmp_path):
    from minidl.degradation import load_data

    with pytest.raises(SystemExit, match="is not a folder"):
        load_data(str(tmp_path / "missing"))
    with pytest.raises(SystemExit, match="train-images-idx3-ubyte"):
        load_data(str(tmp_path))  # a folder with neither MNIST nor CIFAR-10 files in it
