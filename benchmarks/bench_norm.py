"""Benchmark: batch norm and layer norm, forward + backward, minidl vs plain NumPy vs PyTorch CPU.

    python benchmarks/bench_norm.py [--repeats 9] [--pause-ms 20]

Cases (float32, as the issue asks): batch norm in training mode on (128, 16, 32, 32), layer norm over
the last axis of (4096, 256), each with weight and bias and a random upstream gradient. Every library
runs with the same number of threads (Numba's). Runs are interleaved (minidl, NumPy, PyTorch, minidl,
...) so a slow phase of the machine hits all three alike, and the table shows medians. Between runs a
short pause lets the previous library's idle threads stop spinning (OpenMP and OpenBLAS threads keep
a core busy for a while after each parallel region), so no library pays for another's pool.

"minidl" is the user-facing call (``F.batch_norm(...).backward(grad)`` on leaf tensors, autograd
included); "kernels" the Numba kernels alone, i.e. minus the op's argument checks, the autograd
engine and the tensors it keeps alive. Ratios and verdicts use the "minidl" column. "middle half" is the
range of the middle half (quartiles) of minidl/PyTorch measured within each round: where it spans the
target, the verdict says so, as one more run may well give the other answer.
Compilation is excluded: each function runs twice before timing starts.
"""

import argparse

import numba
import numpy as np
from _timing import timings, torch_with_threads  # benchmarks/_timing.py, beside this file

import minidl
from minidl.kernels import norm as kernels
from minidl.nn import functional as F

EPS = 1e-5
TARGETS = {"batch norm": 0.75, "layer norm": 1.0}  # at most this fraction of PyTorch's time
NUMPY_SPEEDUP_TARGET = 3.0


# -- plain NumPy: what one writes without a fused kernel -------------------------------------------------
def numpy_batch_norm(x, weight, bias, grad_output):
    axes, per_channel = (0, 2, 3), (1, -1, 1, 1)
    count = x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + EPS)
    x_hat = (x - mean) * inv_std
    output = x_hat * weight.reshape(per_channel) + bias.reshape(per_channel)
    sum_dy = grad_output.sum(axis=axes, keepdims=True)
    sum_dy_xhat = (grad_output * x_hat).sum(axis=axes, keepdims=True)
    grad_input = weight.reshape(per_channel) * inv_std / count * (count * grad_output - sum_dy - x_hat * sum_dy_xhat)
    return output, grad_input, sum_dy_xhat.ravel(), sum_dy.ravel()


def numpy_layer_norm(x, weight, bias, grad_output):
    size = x.shape[-1]
    mean = x.mean(axis=-1, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=-1, keepdims=True) + EPS)
    x_hat = (x - mean) * inv_std
    output = x_hat * weight + bias
    g = grad_output * weight
    grad_input = (
        inv_std / size * (size * g - g.sum(axis=-1, keepdims=True) - x_hat * (g * x_hat).sum(-1, keepdims=True))
    )
    return output, grad_input, (grad_output * x_hat).sum(axis=0), grad_output.sum(axis=0)


# -- the three implementations of each case -------------------------------------------------------------
def batch_norm_case(torch, x, weight, bias, grad_output):
    channels = x.shape[1]
    ours = [minidl.Tensor(a, requires_grad=True) for a in (x, weight, bias)]
    running = minidl.Tensor(np.zeros(channels, np.float32)), minidl.Tensor(np.ones(channels, np.float32))

    def run_minidl():
        for tensor in ours:
            tensor.grad = None
        F.batch_norm(ours[0], *running, ours[1], ours[2], training=True).backward(grad_output)

    x3, grad3 = x.reshape(x.shape[0], channels, -1), grad_output.reshape(x.shape[0], channels, -1)
    weight64, bias64 = weight.astype(np.float64), bias.astype(np.float64)

    def run_kernels():
        mean, var = np.empty(channels), np.empty(channels)
        _, inv_std = kernels.batch_norm_forward(x3, weight64, bias64, mean, var, EPS, True)
        kernels.batch_norm_backward(grad3, x3, weight64, mean, inv_std, True)

    def run_numpy():
        numpy_batch_norm(x, weight, bias, grad_output)

    runs = {"minidl": run_minidl, "kernels": run_kernels, "NumPy": run_numpy}
    if torch is not None:
        theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
        torch_running = torch.zeros(channels), torch.ones(channels)
        torch_grad = torch.tensor(grad_output)

        def run_torch():
            for tensor in theirs:
                tensor.grad = None
            torch.nn.functional.batch_norm(theirs[0], *torch_running, theirs[1], theirs[2], training=True).backward(
                torch_grad
            )

        runs["PyTorch"] = run_torch
    return runs


def layer_norm_case(torch, x, weight, bias, grad_output):
    shape = (x.shape[-1],)
    ours = [minidl.Tensor(a, requires_grad=True) for a in (x, weight, bias)]

    def run_minidl():
        for tensor in ours:
            tensor.grad = None
        F.layer_norm(ours[0], shape, ours[1], ours[2]).backward(grad_output)

    weight64, bias64 = weight.astype(np.float64), bias.astype(np.float64)

    def run_kernels():
        _, mean, inv_std = kernels.layer_norm_forward(x, weight64, bias64, EPS)
        kernels.layer_norm_backward(grad_output, x, weight64, mean, inv_std)

    def run_numpy():
        numpy_layer_norm(x, weight, bias, grad_output)

    runs = {"minidl": run_minidl, "kernels": run_kernels, "NumPy": run_numpy}
    if torch is not None:
        theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
        torch_grad = torch.tensor(grad_output)

        def run_torch():
            for tensor in theirs:
                tensor.grad = None
            torch.nn.functional.layer_norm(theirs[0], shape, theirs[1], theirs[2]).backward(torch_grad)

        runs["PyTorch"] = run_torch
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="interleaved rounds (median taken; at least 7)")
    parser.add_argument("--pause-ms", type=float, default=20.0, help="pause before each run, in milliseconds")
    args = parser.parse_args()

    threads = numba.get_num_threads()
    torch = torch_with_threads(threads)

    generator = np.random.default_rng(0)
    cases = {}
    bn_shape, ln_shape = (128, 16, 32, 32), (4096, 256)
    x = (generator.standard_normal(bn_shape) * 2 + 1).astype(np.float32)
    channel = generator.standard_normal((2, bn_shape[1])).astype(np.float32)
    grad = generator.standard_normal(bn_shape).astype(np.float32)
    cases["batch norm"] = (f"train, {bn_shape}", batch_norm_case(torch, x, channel[0], channel[1], grad))
    x = (generator.standard_normal(ln_shape) * 2 + 1).astype(np.float32)
    feature = generator.standard_normal((2, ln_shape[1])).astype(np.float32)
    grad = generator.standard_normal(ln_shape).astype(np.float32)
    cases["layer norm"] = (f"{ln_shape}, last axis", layer_norm_case(torch, x, feature[0], feature[1], grad))

    print(f"forward + backward, float32, {threads} threads, median of {args.repeats} interleaved runs")
    header = f"{'case':<11} {'shape':<26} {'minidl ms':>10} {'kernels ms':>11} {'NumPy ms':>9} {'PyTorch ms':>11} "
    header += f"{'minidl/PyTorch':>15} {'middle half':>12} {'NumPy/minidl':>13}  verdict"
    print(header)
    print("-" * len(header))
    for name, (description, runs) in cases.items():
        samples = timings(runs, repeats=args.repeats, settle=args.pause_ms / 1000)
        medians = {key: float(np.median(times)) for key, times in samples.items()}
        ours, numpy_time, torch_time = medians["minidl"], medians["NumPy"], medians.get("PyTorch")
        speedup = numpy_time / ours
        verdicts = [f"NumPy/minidl >= {NUMPY_SPEEDUP_TARGET:g}: {'yes' if speedup >= NUMPY_SPEEDUP_TARGET else 'NO'}"]
        torch_columns = f"{'-':>11} {'-':>15} {'-':>12}"
        if torch_time is not None:
            ratio = ours / torch_time
            # the ratio within each round, minidl's call and PyTorch's a fraction of a second apart: the middle
            # half of those shows how far the machine's noise moves the ratio
            low, high = np.percentile(np.divide(samples["minidl"], samples["PyTorch"]), [25, 75])
            torch_columns = f"{torch_time * 1e3:>11.2f} {ratio:>15.2f} {f'{low:.2f}-{high:.2f}':>12}"
            verdict = f"minidl/PyTorch <= {TARGETS[name]:g}: {'yes' if ratio <= TARGETS[name] else 'NO'}"
            if low <= TARGETS[name] <= high:
                verdict += " (within the noise)"
            verdicts.insert(0, verdict)
        print(
            f"{name:<11} {description:<26} {ours * 1e3:>10.2f} {medians['kernels'] * 1e3:>11.2f} "
            f"{numpy_time * 1e3:>9.2f} {torch_columns} "
            f"{speedup:>13.1f}  {'; '.join(verdicts)}"
        )


if __name__ == "__main__":
    main()
