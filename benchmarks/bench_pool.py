"""Benchmark of minidl's max and average pooling (float32, N=128, C=16, 32x32, 2x2) against plain NumPy and
PyTorch CPU.

PYTHONPATH=. python benchmarks/bench_pool.py [--repeats 7]
"""

import argparse

import numba
import numpy as np
from _timing import compare, torch_with_threads

import minidl
import minidl.nn.functional as F


def as_windows(x):
    """(N, C, H, W) -> (N, C, H/2, W/2, 4): each 2x2 window (stride 2) along the last axis, row by row."""
    batch, channels, height, width = x.shape
    blocks = x.reshape(batch, channels, height // 2, 2, width // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    return blocks.reshape(batch, channels, height // 2, width // 2, 4)


def from_windows(windows):
    """The inverse of as_windows."""
    batch, channels, out_h, out_w = windows.shape[:4]
    blocks = windows.reshape(batch, channels, out_h, out_w, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    return blocks.reshape(batch, channels, 2 * out_h, 2 * out_w)


def numpy_max_pool(x, grad_output):
    """Plain NumPy 2x2 max pooling, forward and backward: argmax over each window, gradient put there."""
    windows = as_windows(x)
    output, position = windows.max(axis=-1), windows.argmax(axis=-1)
    grad_windows = np.zeros_like(windows)
    np.put_along_axis(grad_windows, position[..., None], grad_output[..., None], axis=-1)
    return output, from_windows(grad_windows)


def numpy_avg_pool(x, grad_output):
    """Plain NumPy 2x2 average pooling, forward and backward."""
    output = as_windows(x).mean(axis=-1)
    grad_windows = np.broadcast_to(grad_output[..., None] / 4, (*grad_output.shape, 4))
    return output, from_windows(grad_windows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    torch = torch_with_threads(numba.get_num_threads())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 16, 32, 32)).astype(np.float32)
    grad_output = rng.standard_normal((128, 16, 16, 16)).astype(np.float32)
    x_ours = minidl.Tensor(x, requires_grad=True)
    if torch is not None:
        x_torch, grad_torch = torch.tensor(x, requires_grad=True), torch.tensor(grad_output)
    print(f"pooling 2x2 on (128, 16, 32, 32) float32, {numba.get_num_threads()} threads, fwd+bwd, medians")
    print("op        minidl ms  torch ms  numpy ms  /torch  /numpy")
    operations = (
        ("max_pool", F.max_pool2d, "max_pool2d", numpy_max_pool),
        ("avg_pool", F.avg_pool2d, "avg_pool2d", numpy_avg_pool),
    )
    for name, ours, theirs, numpy_version in operations:
        callables = {
            "minidl": lambda ours=ours: ours(x_ours, 2).backward(grad_output),
            "numpy": lambda numpy_version=numpy_version: numpy_version(x, grad_output),
        }
        if torch is not None:
            function = getattr(torch.nn.functional, theirs)
            callables["torch"] = lambda function=function: function(x_torch, 2).backward(grad_torch)
        medians = {key: seconds * 1e3 for key, seconds in compare(callables, arguments.repeats, settle=0.2).items()}
        ours_ms, torch_ms, numpy_ms = medians["minidl"], medians.get("torch", float("nan")), medians["numpy"]
        ratios = f"{ours_ms / torch_ms:7.2f} {ours_ms / numpy_ms:7.2f}"
        print(f"{name:9} {ours_ms:9.2f} {torch_ms:9.2f} {numpy_ms:9.2f} {ratios}")


if __name__ == "__main__":
    main()
