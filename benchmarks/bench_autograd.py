"""Per-op overhead of minidl's graph: a small MLP's forward+backward against the same maths in plain NumPy.

The network is 64x64 -> 256 -> 256 -> 10 with ReLU and cross-entropy, batch 64, float32: small enough
that the bookkeeping of the graph (Tensor objects, contexts, the topological sort, gradient checks) is
a visible share of the time. The plain NumPy version computes exactly the same forward and the same
gradients by hand, with no graph. Runs are interleaved (minidl, NumPy, minidl, ...) so both see the
same machine state; the figure is the ratio of the medians. Target: at most 3x.

    python benchmarks/bench_autograd.py [--repeats 15] [--iterations 50]
"""

import argparse
import statistics
import time

import numpy as np

import minidl
import minidl.nn.functional as F

BATCH, IN_FEATURES, HIDDEN, CLASSES = 64, 64, 256, 10


def make_problem(seed=0):
    rng = np.random.default_rng(seed)

    def layer(fan_in, fan_out):
        bound = 1 / np.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        bias = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        return weight, bias

    params = [*layer(IN_FEATURES, HIDDEN), *layer(HIDDEN, HIDDEN), *layer(HIDDEN, CLASSES)]
    inputs = rng.standard_normal((BATCH, IN_FEATURES)).astype(np.float32)
    targets = rng.integers(0, CLASSES, BATCH)
    return params, inputs, targets


def minidl_step(params, inputs, targets):
    """Forward and backward through minidl's autograd; returns the loss and the gradients."""
    w1, b1, w2, b2, w3, b3 = params
    for p in params:
        p.grad = None
    hidden = F.relu(F.linear(inputs, w1, b1))
    hidden = F.relu(F.linear(hidden, w2, b2))
    loss = F.cross_entropy(F.linear(hidden, w3, b3), targets)
    loss.backward()
    return loss.item(), [p.grad for p in params]


def numpy_step(params, inputs, targets):
    """The same forward and backward written by hand in NumPy, with no graph."""
    w1, b1, w2, b2, w3, b3 = params
    pre1 = inputs @ w1.T + b1
    hidden1 = np.maximum(pre1, 0)
    pre2 = hidden1 @ w2.T + b2
    hidden2 = np.maximum(pre2, 0)
    logits = hidden2 @ w3.T + b3
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(len(targets)), targets].mean()

    grad_logits = np.exp(log_probs)
    grad_logits[np.arange(len(targets)), targets] -= 1
    grad_logits /= len(targets)
    grad_w3, grad_b3 = grad_logits.T @ hidden2, grad_logits.sum(axis=0)
    grad_pre2 = (grad_logits @ w3) * (pre2 > 0)
    grad_w2, grad_b2 = grad_pre2.T @ hidden1, grad_pre2.sum(axis=0)
    grad_pre1 = (grad_pre2 @ w2) * (pre1 > 0)
    grad_w1, grad_b1 = grad_pre1.T @ inputs, grad_pre1.sum(axis=0)
    return float(loss), [grad_w1, grad_b1, grad_w2, grad_b2, grad_w3, grad_b3]


def time_once(step, args, iterations):
    start = time.perf_counter()
    for _ in range(iterations):
        step(*args)
    return (time.perf_counter() - start) / iterations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of each version (median taken)")
    parser.add_argument("--iterations", type=int, default=50, help="steps per timed run")
    args = parser.parse_args(argv)

    arrays, inputs, targets = make_problem()
    tensors = [minidl.Tensor(p, requires_grad=True) for p in arrays]
    minidl_args = (tensors, minidl.Tensor(inputs), targets)
    numpy_args = (arrays, inputs, targets)

    loss_minidl, grads_minidl = minidl_step(*minidl_args)
    loss_numpy, grads_numpy = numpy_step(*numpy_args)
    assert np.isclose(loss_minidl, loss_numpy, rtol=1e-5), (loss_minidl, loss_numpy)
    for grad_minidl, grad_numpy in zip(grads_minidl, grads_numpy, strict=True):
        np.testing.assert_allclose(grad_minidl, grad_numpy, rtol=1e-4, atol=1e-6)

    minidl_times, numpy_times = [], []
    for _ in range(args.repeats):
        minidl_times.append(time_once(minidl_step, minidl_args, args.iterations))
        numpy_times.append(time_once(numpy_step, numpy_args, args.iterations))
    minidl_median, numpy_median = statistics.median(minidl_times), statistics.median(numpy_times)
    print(f"MLP {IN_FEATURES}->{HIDDEN}->{HIDDEN}->{CLASSES}, batch {BATCH}, float32, forward+backward")
    print(f"  minidl autograd: {minidl_median * 1e6:8.1f} us per step (median of {args.repeats})")
    print(f"  plain NumPy:     {numpy_median * 1e6:8.1f} us per step (median of {args.repeats})")
    print(f"  ratio: {minidl_median / numpy_median:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
