"""Benchmark of minidl's max and average pooling (float32, N=128, C=16, 32x32, 2x2) against PyTorch CPU.

PYTHONPATH=. python benchmarks/bench_pool.py [--repeats 7]
"""

import argparse

import numba
import numpy as np
from _timing import compare, torch_with_threads

import minidl
import minidl.nn.functional as F


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
    print("op        minidl ms  torch ms  ratio")
    for name, ours, theirs in (("max_pool", F.max_pool2d, "max_pool2d"), ("avg_pool", F.avg_pool2d, "avg_pool2d")):
        callables = {"minidl": lambda ours=ours: ours(x_ours, 2).backward(grad_output)}
        if torch is not None:
            function = getattr(torch.nn.functional, theirs)
            callables["torch"] = lambda function=function: function(x_torch, 2).backward(grad_torch)
        medians = compare(callables, repeats=arguments.repeats, settle=0.2)
        torch_ms = medians.get("torch", float("nan")) * 1e3
        print(f"{name:9} {medians['minidl'] * 1e3:9.2f} {torch_ms:9.2f} {medians['minidl'] * 1e3 / torch_ms:6.2f}")


if __name__ == "__main__":
    main()
