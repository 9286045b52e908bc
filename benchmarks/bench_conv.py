"""Benchmark of minidl's conv2d (float32, NCHW) against plain NumPy and PyTorch CPU.

    PYTHONPATH=. python benchmarks/bench_conv.py [--repeats 7] [--skip-jit]

For each workload: forward and forward+backward time (median of interleaved runs), GFLOP/s, the
ratio to a plain NumPy implementation and to PyTorch with the same number of threads (when
installed), the column buffers' size and the peak memory of one call. Then the first-call JIT
time, cold (empty cache) and from the disk cache, each in a fresh process.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc

import numba
import numpy as np
from _timing import compare, torch_with_threads
from numpy.lib.stride_tricks import sliding_window_view

import minidl
import minidl.nn.functional as F
from minidl.kernels import conv as conv_kernels

WORKLOADS = {  # name: (batch, in_channels, out_channels, height/width, kernel, stride, padding)
    "W1": (128, 16, 16, 32, 3, 1, 1),
    "W2": (128, 32, 64, 16, 3, 2, 1),
    "W3": (128, 16, 32, 32, 1, 2, 0),
    "W4": (256, 16, 16, 8, 3, 1, 1),
}


# -- the plain NumPy implementation -------------------------------------------------------------------------


def numpy_conv2d_forward(x, weight, bias, stride, padding):
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kernel = weight.shape[2]
    windows = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    output = np.tensordot(windows, weight, axes=([1, 4, 5], [1, 2, 3]))  # (N, OH, OW, C_out)
    return output.transpose(0, 3, 1, 2) + bias[:, None, None]


def numpy_conv2d_backward(x, weight, grad_output, stride, padding):
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kernel, (out_h, out_w) = weight.shape[2], grad_output.shape[2:]
    windows = sliding_window_view(padded, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    grad_weight = np.tensordot(grad_output, windows, axes=([0, 2, 3], [0, 2, 3]))
    grad_padded = np.zeros_like(padded)
    for i in range(kernel):  # col2im by looping over the kernel offsets
        for j in range(kernel):
            contribution = np.tensordot(weight[:, :, i, j], grad_output, axes=([0], [1]))  # (C, N, OH, OW)
            grad_padded[:, :, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride] += (
                contribution.transpose(1, 0, 2, 3)
            )
    grad_input = grad_padded[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]]
    return grad_input, grad_weight, grad_output.sum(axis=(0, 2, 3))


# -- measurements ---------------------------------------------------------------------------------------------


def column_buffer_bytes(x_shape, weight_shape, stride, padding, itemsize):
    """Bytes of the per-thread column buffers of one call (forward: columns; backward: columns and
    their gradient), and of one im2col of the whole batch, for comparison."""
    out_h = conv_kernels.output_size(x_shape[2], weight_shape[2], stride, padding)
    out_w = conv_kernels.output_size(x_shape[3], weight_shape[3], stride, padding)
    patch, positions = int(np.prod(weight_shape[1:])), out_h * out_w
    chunk = conv_kernels.chunk_size(patch, positions, itemsize)
    workers = max(1, min(numba.get_num_threads(), -(-x_shape[0] // chunk)))
    per_call = workers * chunk * patch * positions * itemsize
    return per_call, 2 * per_call, x_shape[0] * patch * positions * itemsize


def peak_traced_bytes(function):
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def bench_workload(name, repeats, torch, settle=0.0):
    batch, in_channels, out_channels, size, kernel, stride, padding = WORKLOADS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, in_channels, size, size)).astype(np.float32)
    weight = (0.1 * rng.standard_normal((out_channels, in_channels, kernel, kernel))).astype(np.float32)
    bias = np.zeros(out_channels, np.float32)
    out = conv_kernels.output_size(size, kernel, stride, padding)
    grad_output = rng.standard_normal((batch, out_channels, out, out)).astype(np.float32)
    x_t, weight_t, bias_t = (minidl.Tensor(a, requires_grad=True) for a in (x, weight, bias))

    def minidl_forward():
        with minidl.no_grad():
            F.conv2d(x_t, weight_t, bias_t, stride, padding)

    def minidl_forward_backward():
        F.conv2d(x_t, weight_t, bias_t, stride, padding).backward(grad_output)

    def numpy_forward_backward():
        numpy_conv2d_forward(x, weight, bias, stride, padding)
        numpy_conv2d_backward(x, weight, grad_output, stride, padding)

    forward = {"minidl": minidl_forward, "numpy": lambda: numpy_conv2d_forward(x, weight, bias, stride, padding)}
    both = {"minidl": minidl_forward_backward, "numpy": numpy_forward_backward}
    if torch is not None:
        x_torch, weight_torch, bias_torch = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
        grad_torch = torch.tensor(grad_output)

        def torch_forward():
            with torch.no_grad():
                torch.nn.functional.conv2d(x_torch, weight_torch, bias_torch, stride, padding)

        def torch_forward_backward():
            torch.nn.functional.conv2d(x_torch, weight_torch, bias_torch, stride, padding).backward(grad_torch)

        forward["torch"], both["torch"] = torch_forward, torch_forward_backward
    flops = 2.0 * batch * out_channels * out * out * in_channels * kernel * kernel
    rows = []
    for label, callables, work in (("fwd", forward, flops), ("fwd+bwd", both, 3 * flops)):
        medians = compare(callables, repeats=repeats, settle=settle)
        ours = medians["minidl"]
        torch_ratio = f"{ours / medians['torch']:8.2f}" if "torch" in medians else "       -"
        rows.append(
            f"{name:3} {label:8} {ours * 1e3:9.2f} {work / ours / 1e9:8.1f} {ours / medians['numpy']:9.3f} "
            f"{torch_ratio} {medians.get('torch', float('nan')) * 1e3:9.2f} {medians['numpy'] * 1e3:9.1f}"
        )
    forward_columns, backward_columns, full = column_buffer_bytes(x.shape, weight.shape, stride, padding, 4)
    peak = peak_traced_bytes(minidl_forward_backward)
    rows.append(
        f"    column buffers: fwd {forward_columns / 2**20:.2f} MiB, bwd {backward_columns / 2**20:.2f} MiB "
        f"(one im2col of the batch: {full / 2**20:.1f} MiB); peak traced memory of fwd+bwd {peak / 2**20:.1f} MiB "
        f"(input {x.nbytes / 2**20:.1f} MiB, output {grad_output.nbytes / 2**20:.1f} MiB)"
    )
    return rows


FIRST_CALLS = textwrap.dedent(
    """
    import time
    import numpy as np
    import minidl, minidl.nn.functional as F
    dtypes = [np.float32] if "{dtypes}" == "float32" else [np.float32, np.float64]
    start = time.perf_counter()
    for dtype in dtypes:
        x = minidl.Tensor(np.ones((2, 3, 6, 6), dtype), requires_grad=True)
        w = minidl.Tensor(np.ones((4, 3, 3, 3), dtype), requires_grad=True)
        y = F.conv2d(x, w, None, 1, 1)
        y = F.max_pool2d(y, 2) + F.avg_pool2d(y, 2) + F.adaptive_avg_pool2d(y, 3)
        y.sum().backward()
    print(time.perf_counter() - start)
    """
)


def jit_times(dtypes):
    """(cold, cached) seconds of the first conv and pooling calls (forward and backward) in a fresh
    process: first with an empty Numba cache, then again from the cache the first run wrote."""
    with tempfile.TemporaryDirectory() as cache_dir:
        environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), environment.get("PYTHONPATH")]))
        code = FIRST_CALLS.format(dtypes=dtypes)
        times = []
        for _ in range(2):
            result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(result.stderr)
            times.append(float(result.stdout.split()[-1]))
        return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-jit", action="store_true", help="do not measure the JIT compile time")
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument(
        "--settle", type=float, default=0.2, help="seconds of rest before each timed call, for idle thread pools"
    )
    arguments = parser.parse_args()
    torch = torch_with_threads(numba.get_num_threads())
    threads = numba.get_num_threads()
    print(f"minidl conv2d, float32, {threads} threads; medians of {arguments.repeats} interleaved runs")
    if not arguments.skip_jit:
        for dtypes in ("float32", "float32+float64"):
            cold, cached = jit_times(dtypes)
            print(
                f"first-call JIT (conv + pooling, fwd+bwd, {dtypes}): cold {cold:.1f} s, from disk cache {cached:.2f} s"
            )
    warm = time.perf_counter()
    bench_workload("W4", 1, None)  # compile (or load) before timing anything
    print(f"(warm-up in this process: {time.perf_counter() - warm:.1f} s)")
    print("wl  pass       ms        GFLOP/s  /numpy    /torch   torch ms  numpy ms")
    for name in arguments.workloads:
        for row in bench_workload(name, arguments.repeats, torch, arguments.settle):
            print(row, flush=True)


if __name__ == "__main__":
    main()
