"""Benchmark: one training step (forward, backward, SGD with momentum) of whole networks, minidl vs PyTorch CPU.

    python benchmarks/bench_train.py [--repeats 7] [--quick-preset]

Networks: ``cifar_resnet(20)`` on a batch of 128x3x32x32, and the quick degradation demo's deepest
network (``cifar_resnet(56, widths=(8, 16, 32))`` on 128x1x8x8). The PyTorch twin (tests/torch_twins.py)
is built layer for layer with the same names and starts from minidl's weights. Steps alternate between
the two libraries (benchmarks/_timing.py) with the same number of threads; the table shows medians and
the ratio minidl / PyTorch (target: at most 2.5). ``--quick-preset`` also times the whole quick preset of
``minidl degradation`` in a fresh process (target: under 3 minutes on 2 cores).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from _timing import compare, torch_with_threads

import minidl
from minidl import optim
from minidl.models import cifar_resnet
from minidl.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

TARGET_RATIO = 2.5
QUICK_PRESET_LIMIT_SECONDS = 180
NETWORKS = {
    "resnet-20, 128x3x32x32": dict(depth=20, widths=(16, 32, 64), in_channels=3, size=32),
    "demo resnet-56, 128x1x8x8": dict(depth=56, widths=(8, 16, 32), in_channels=1, size=8),
}


def minidl_step(network, images, labels):
    optimizer = optim.SGD(network.parameters(), lr=0.01, momentum=0.9)
    inputs = minidl.Tensor(images)

    def step():
        loss = F.cross_entropy(network(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def torch_step(torch, network, images, labels):
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)
    inputs, targets = torch.from_numpy(images), torch.from_numpy(labels)

    def step():
        loss = torch.nn.functional.cross_entropy(network(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def time_quick_preset():
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "minidl", "degradation", "--no-progress", "--out", out],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved steps per library (median; at least 7)")
    parser.add_argument("--quick-preset", action="store_true", help="also time `minidl degradation` (about 3 min)")
    args = parser.parse_args()
    threads = numba.get_num_threads()
    torch = torch_with_threads(threads)
    if torch is not None:
        from torch_twins import TorchCifarResNet, load_minidl_state

    print(f"one SGD training step, float32, {threads} threads, median of {args.repeats} interleaved steps")
    print(f"{'network':<28}{'minidl ms':>11}{'PyTorch ms':>12}{'ratio':>8}  verdict")
    generator = np.random.default_rng(0)
    for name, spec in NETWORKS.items():
        minidl.manual_seed(0)
        network = cifar_resnet(spec["depth"], spec["widths"], in_channels=spec["in_channels"])
        images = generator.random((128, spec["in_channels"], spec["size"], spec["size"]), dtype=np.float32)
        labels = generator.integers(0, 10, 128)
        steps = {"minidl": minidl_step(network, images, labels)}
        if torch is not None:
            twin = TorchCifarResNet(spec["depth"], spec["widths"], in_channels=spec["in_channels"])
            steps["PyTorch"] = torch_step(torch, load_minidl_state(twin, network), images, labels)
        medians = compare(steps, repeats=args.repeats, warmup=2)
        if torch is None:
            print(f"{name:<28}{medians['minidl'] * 1e3:>11.1f}")
            continue
        ratio = medians["minidl"] / medians["PyTorch"]
        verdict = f"<= {TARGET_RATIO:g}: {'yes' if ratio <= TARGET_RATIO else 'NO'}"
        print(f"{name:<28}{medians['minidl'] * 1e3:>11.1f}{medians['PyTorch'] * 1e3:>12.1f}{ratio:>8.2f}  {verdict}")
    if args.quick_preset:
        seconds = time_quick_preset()
        verdict = "yes" if seconds < QUICK_PRESET_LIMIT_SECONDS else "NO"
        print(
            f"\nquick preset of `minidl degradation`: {seconds:.0f} s (under {QUICK_PRESET_LIMIT_SECONDS} s: {verdict})"
        )


if __name__ == "__main__":
    main()
