"""The degradation demo and bn-modes, run end to end with tiny settings."""

import contextlib
import csv
import io
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from minidl import cli, degradation
from minidl.degradation import Config, Variant, config_from_args, parse_args, variants

TINY = ["--depths", "8", "14", "--epochs", "2", "--widths", "4", "4", "8", "--seeds", "0"]
TINY_NAMES = [
    "plain-8",
    "residual-8",
    "plain-14",
    "residual-14",
    "plain-14 (no BN)",
    "residual-14 (no BN, zero-init)",
]


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory):
    """The tiny demo trained one network after another in this process: (output folder, printed text)."""
    out = tmp_path_factory.mktemp("sequential")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["degradation", *TINY, "--no-progress", "--jobs", "1", "--out", str(out)]) == 0
    return out, printed.getvalue()


def without_timings(value):
    """``value`` (results.json's content) without its wall-clock times, the one thing that may differ."""
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if key != "seconds"}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


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


def test_jobs_default_to_the_usable_cores_and_are_checked(monkeypatch):
    cores = degradation.usable_cpus()
    assert 1 <= cores <= os.cpu_count()
    monkeypatch.setattr(degradation, "usable_cpus", lambda: 4)
    assert config_from_args(parse_args([])).jobs == 4  # the quick preset trains 6 networks
    assert config_from_args(parse_args(["--depths", "8", "--no-ablation"])).jobs == 2  # only 2 to train
    assert config_from_args(parse_args(["--jobs", "1"])).jobs == 1
    assert config_from_args(parse_args(["--jobs", "9"])).jobs == 6
    with pytest.raises(SystemExit, match="--jobs must be at least 1"):
        config_from_args(parse_args(["--jobs", "0"]))


def test_cli_writes_figures_and_results(sequential_run):
    out, printed = sequential_run
    assert "plain-14 (no BN)" in printed and "grad first/last" in printed

    document = json.loads((out / "results.json").read_text())
    names = [run["name"] for run in document["runs"]]
    assert names == TINY_NAMES
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


def test_parallel_run_matches_the_sequential_one_and_prints_plain_lines_into_a_pipe(sequential_run, tmp_path):
    sequential_out, _ = sequential_run
    out = tmp_path / "parallel"
    command = [sys.executable, "-m", "minidl", "degradation", *TINY, "--jobs", "2", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 at a time" in result.stdout
    # progress is on, but stdout and stderr are pipes: no bars, no cursor movements, one line per network
    assert "\x1b" not in result.stdout + result.stderr and "\r" not in result.stdout + result.stderr
    finished = [line.split()[0] for line in result.stdout.splitlines() if " seed 0: train loss " in line]
    assert sorted(finished) == sorted(name.split()[0] for name in TINY_NAMES)

    sequential = json.loads((sequential_out / "results.json").read_text())
    parallel = json.loads((out / "results.json").read_text())
    assert [run["name"] for run in parallel["runs"]] == TINY_NAMES
    assert without_timings(parallel["runs"]) == without_timings(sequential["runs"])  # same floats, bit for bit
    assert (sequential["config"]["jobs"], parallel["config"]["jobs"]) == (1, 2)

    def csv_rows(folder):
        with open(folder / "results.csv") as handle:
            return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(handle)]

    assert csv_rows(out) == csv_rows(sequential_out)


def test_a_failing_training_names_itself_and_shows_the_workers_traceback():
    config = Config(depths=(8,), widths=(2, 2, 2), epochs=1, jobs=2)
    tasks = [(Variant(8, residual=True), 0), (Variant(9, residual=False), 0)]  # no network has depth 9
    with pytest.raises(RuntimeError, match="a worker process failed training plain-9, seed 0:") as error:
        degradation.train_in_workers(tasks, config, show_bars=False)
    assert "Traceback (most recent call last)" in str(error.value)
    assert "cifar_resnet: depth must be 6n + 2" in str(error.value)
    assert multiprocessing.active_children() == []  # the other worker was stopped, not left running


def children(pid):
    return (Path("/proc") / str(pid) / "task" / str(pid) / "children").read_text().split()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from Linux's /proc")
def test_ctrl_c_stops_the_workers_and_leaves_no_process_behind(tmp_path):
    # as a terminal's Ctrl-C does: SIGINT to the whole process group. The shell that started the tests may
    # ignore SIGINT (a background job), so the command restores Python's handler first.
    restore_ctrl_c = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)"
    run_cli = f"{restore_ctrl_c}; import sys; from minidl import cli; sys.exit(cli.main(sys.argv[1:]))"
    long_run = ["--depths", "20", "--epochs", "100", "--seeds", "0", "--no-progress", "--jobs", "2"]
    command = [sys.executable, "-c", run_cli, "degradation", *long_run, "--out", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(children(process.pid)) < 3:  # the two workers and multiprocessing's resource tracker
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.1)
        time.sleep(1)  # let the workers get into their training
        interrupted = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert time.monotonic() - interrupted < 5
        assert b"KeyboardInterrupt" in stderr and process.returncode != 0
        for _ in range(50):  # every process of the group is gone (the resource tracker may take a moment)
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"processes left behind: {subprocess.getoutput(f'ps -o pid,cmd -g {process.pid}')}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


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
