"""Numba kernels for batch norm and layer norm: fused forward and backward passes.

Plain loops over arrays, no autograd; ``minidl/kernels/norm_reference.py`` has the same four public
functions in NumPy (slow, obviously correct) and tests compare the two. Sums are accumulated in float64
whatever the input dtype, so float32 statistics over 100 000+ values stay accurate.

Batch norm sees its input as (N, C, L): L = H*W for images, 1 for (N, C) features. The work is split by
channel: each channel is read once for its sums, then again (mostly from cache) to write the output.
Layer norm sees (M, D): M rows of D = prod(normalized_shape) values, split into blocks of rows. Its
element-by-element passes run in the input's precision (see _normalized_row); batch norm's in float64.
The wrappers take x in its own shape and return y and dL/dx in that shape, as new arrays: a reshaped
view would make the autograd engine copy dL/dx before giving it to x.grad.

Each kernel is a ``_..._channel`` or ``_..._rows`` function doing one piece of the work, and two loops
over the pieces: a ``prange`` loop on Numba's threads, and a plain one for inputs below
PARALLEL_MIN_SIZE, where waking the threads costs more than the work (measured here: a batch norm
forward and backward 30% slower on two threads at 65536 elements, 10% faster at 524288). The loop is
``prange`` rather than the convolutions' pool of sleeping threads (``run_in_threads``) because on these
memory-bound loops it measured 25% faster (batch norm on 2M elements: 5.8 against 7.4 ms); the price,
Numba's threads spinning for a few ms after each call, is only paid on inputs that large. Measured again
with pieces handed out as threads come free: still slower (batch norm forward and backward 9.0 against
5.2 ms, layer norm 5.4 against 3.2). On these virtual machines a core idle for 20-100 ms takes 1.4-7 ms
to run a woken thread; OpenMP's threads spin through short gaps, the pool's sleep at once.

The functions compile on first call (never at import), once per input dtype, and ``cache=True`` keeps the
machine code on disk. With ``NUMBA_DISABLE_JIT=1`` they run as plain (slow) Python.
"""

import math

import numpy as np
from numba import get_num_threads, njit, prange

# "reassoc" lets LLVM split the sums over SIMD lanes (the order of float additions changes, not the maths).
_FAST = {"reassoc", "contract", "nsz", "arcp"}
# ... but not in layer norm's element-wise loops, which compute x - mean as (x - mean_hi) - mean_lo:
# reassociated, that becomes x - (mean_hi + mean_lo), and the split is lost (see _normalized_row).
_ELEMENTWISE = {"contract", "nsz", "arcp"}

PARALLEL_MIN_SIZE = 2**18


def _use_threads(x):
    return x.size >= PARALLEL_MIN_SIZE and get_num_threads() > 1


def _as_3d(array):
    """(N, C, ...) as (N, C, L): a view of the same memory, so what a kernel writes into it lands in ``array``."""
    return array.reshape(array.shape[0], array.shape[1], math.prod(array.shape[2:]))


def _as_rows(array, size):
    """(..., *normalized_shape) as (M, D) rows of D = ``size`` values: a view of the same memory.
    (With D = 0 there is nothing to normalise, and M is taken as 0.)"""
    return array.reshape(array.size // size if size else 0, size)


# -- batch norm: forward --------------------------------------------------------------------------------
@njit(cache=True, fastmath=_FAST)
def _batch_norm_forward_channel(x, c, weight, bias, mean, var, eps, use_batch_stats, y, inv_std):
    batch, _, length = x.shape
    count = batch * length
    if use_batch_stats:
        shift = np.float64(x[0, c, 0])
        shifted_sum = 0.0
        shifted_sum_sq = 0.0
        for n in range(batch):
            for i in range(length):
                d = np.float64(x[n, c, i]) - shift
                shifted_sum += d
                shifted_sum_sq += d * d
        shifted_mean = shifted_sum / count
        mean[c] = shift + shifted_mean
        var[c] = max(shifted_sum_sq / count - shifted_mean * shifted_mean, 0.0)
    inv_std[c] = 1.0 / np.sqrt(var[c] + eps)
    scale = weight[c] * inv_std[c]
    offset = bias[c] - mean[c] * scale
    for n in range(batch):
        for i in range(length):
            y[n, c, i] = x[n, c, i] * scale + offset


@njit(parallel=True, cache=True)
def _batch_norm_forward_threads(x, weight, bias, mean, var, eps, use_batch_stats, y, inv_std):
    for c in prange(x.shape[1]):
        _batch_norm_forward_channel(x, c, weight, bias, mean, var, eps, use_batch_stats, y, inv_std)


@njit(cache=True)
def _batch_norm_forward_serial(x, weight, bias, mean, var, eps, use_batch_stats, y, inv_std):
    for c in range(x.shape[1]):
        _batch_norm_forward_channel(x, c, weight, bias, mean, var, eps, use_batch_stats, y, inv_std)


def batch_norm_forward(x, weight, bias, mean, var, eps, use_batch_stats):
    """y[n, c, l] = (x[n, c, l] - mean[c]) * inv_std[c] * weight[c] + bias[c], inv_std = 1 / sqrt(var + eps).

    x: (N, C, ...) contiguous, seen as (N, C, L); weight, bias, mean, var: (C,) float64. With
    ``use_batch_stats`` (training) mean and var are first filled with the batch mean and the *biased*
    batch variance of each channel; otherwise they are read (the running statistics). Returns
    (y of x's shape and dtype, inv_std (C,) float64); y is a new array, not a view.

    The variance comes from sums of d = x - shift, shift = the channel's first value: sum(d)^2 / m and
    sum(d^2) are then of the order of the variance, not of mean^2, so their difference keeps its digits.
    """
    y, inv_std = np.empty_like(x), np.empty(x.shape[1])
    loop = _batch_norm_forward_threads if _use_threads(x) else _batch_norm_forward_serial
    loop(_as_3d(x), weight, bias, mean, var, float(eps), use_batch_stats, _as_3d(y), inv_std)
    return y, inv_std


# -- batch norm: backward -------------------------------------------------------------------------------
@njit(cache=True, fastmath=_FAST)
def _batch_norm_backward_channel(
    grad_output, x, c, weight, mean, inv_std, use_batch_stats, grad_input, grad_weight, grad_bias
):
    batch, _, length = x.shape
    count = batch * length
    channel_mean = mean[c]
    sum_dy = 0.0
    sum_dy_centered = 0.0
    for n in range(batch):
        for i in range(length):
            dy = np.float64(grad_output[n, c, i])
            sum_dy += dy
            sum_dy_centered += dy * (np.float64(x[n, c, i]) - channel_mean)
    sum_dy_xhat = sum_dy_centered * inv_std[c]
    grad_bias[c] = sum_dy
    grad_weight[c] = sum_dy_xhat
    scale = weight[c] * inv_std[c]
    x_coefficient = 0.0
    constant = 0.0
    if use_batch_stats:
        # scale * (dy - mean(dy) - x_hat * mean(dy * x_hat)) with x_hat = (x - mean) * inv_std, as a * dy + b * x + k
        x_coefficient = -scale * inv_std[c] * sum_dy_xhat / count
        constant = -scale * sum_dy / count - x_coefficient * mean[c]
    for n in range(batch):
        for i in range(length):
            grad_input[n, c, i] = scale * grad_output[n, c, i] + x_coefficient * x[n, c, i] + constant


@njit(parallel=True, cache=True)
def _batch_norm_backward_threads(
    grad_output, x, weight, mean, inv_std, use_batch_stats, grad_input, grad_weight, grad_bias
):
    for c in prange(x.shape[1]):
        _batch_norm_backward_channel(
            grad_output, x, c, weight, mean, inv_std, use_batch_stats, grad_input, grad_weight, grad_bias
        )


@njit(cache=True)
def _batch_norm_backward_serial(
    grad_output, x, weight, mean, inv_std, use_batch_stats, grad_input, grad_weight, grad_bias
):
    for c in range(x.shape[1]):
        _batch_norm_backward_channel(
            grad_output, x, c, weight, mean, inv_std, use_batch_stats, grad_input, grad_weight, grad_bias
        )


def batch_norm_backward(grad_output, x, weight, mean, inv_std, use_batch_stats):
    """dL/dx, dL/dweight, dL/dbias of batch norm, given dL/dy. Shapes as ``batch_norm_forward``; grad_output as x.

    With x_hat = (x - mean) * inv_std and m = N*L values per channel, per channel:
        dL/dbias   = sum(dy)
        dL/dweight = sum(dy * x_hat)
        dL/dx      = weight * inv_std / m * (m * dy - sum(dy) - x_hat * sum(dy * x_hat))   (batch statistics)
        dL/dx      = weight * inv_std * dy                                                  (fixed statistics)
    Chain rule: y = weight * x_hat + bias, and with batch statistics each x_hat[j] depends on x[i] three
    ways: directly (giving m * dy[i]), through the mean (every x_hat[j] moves by -inv_std / m, giving
    -sum(dy)) and through the variance (d inv_std / d x[i] = -inv_std^3 (x[i] - mean) / m, giving
    -x_hat[i] * sum(dy * x_hat)). With fixed (running) statistics only the direct path is left.
    Derivation: docs/backward/batchnorm.md. Returns (grad_input of x's shape and dtype, grad_weight, grad_bias float64).
    """
    channels = x.shape[1]
    grad_input, grad_weight, grad_bias = np.empty_like(x), np.empty(channels), np.empty(channels)
    loop = _batch_norm_backward_threads if _use_threads(x) else _batch_norm_backward_serial
    arguments = _as_3d(grad_output), _as_3d(x), weight, mean, inv_std, use_batch_stats, _as_3d(grad_input)
    loop(*arguments, grad_weight, grad_bias)
    return grad_input, grad_weight, grad_bias


# -- layer norm: forward --------------------------------------------------------------------------------
# Layer norm's element-wise passes run in the input's precision: for float32, that is eight numbers per SIMD
# instruction instead of four, and measured 16% faster (forward) and 24% (backward) on one thread. The row
# sums stay float64. Rounding the float64 mean to float32 alone would cost |mean| / std * 6e-8 of relative
# error in x_hat (0.01 on a row of mean 1000 and spread 0.01), so the mean is split in two float32 numbers,
# mean_hi + mean_lo, and x - mean computed as (x - mean_hi) - mean_lo: the first subtraction is exact when
# x is near the mean, and what is left is then of the order of x - mean. Batch norm keeps float64
# element arithmetic: it is limited by memory speed, and float32 measured no faster there.
@njit(cache=True)
def _split_mean(row_mean, row_inv_std, scalars):
    """scalars = [mean_hi, mean_lo, inv_std]: mean_hi + mean_lo is the float64 mean to about 2^-48 of it
    (float32 input), mean_hi alone to 2^-24. ``scalars`` is a small array of x's dtype: storing into it
    rounds to that dtype, whichever it is, and the element-wise loops then compute in it."""
    scalars[0] = row_mean
    scalars[1] = row_mean - scalars[0]
    scalars[2] = row_inv_std


@njit(cache=True, fastmath=_ELEMENTWISE)
def _normalized_row(x_row, scalars, weight_x, bias_x, y_row):
    """y = x_hat * weight + bias on one row, x_hat = ((x - mean_hi) - mean_lo) * inv_std, in x's dtype."""
    mean_hi, mean_lo, row_inv_std = scalars[0], scalars[1], scalars[2]
    for j in range(x_row.size):
        y_row[j] = ((x_row[j] - mean_hi) - mean_lo) * row_inv_std * weight_x[j] + bias_x[j]


@njit(cache=True, fastmath=_FAST)
def _layer_norm_forward_rows(x, start, stop, weight, bias, eps, y, mean, inv_std):
    size = x.shape[1]
    weight_x, bias_x, scalars = weight.astype(x.dtype), bias.astype(x.dtype), np.empty(3, x.dtype)
    for r in range(start, stop):
        shift = np.float64(x[r, 0])
        shifted_sum = 0.0
        shifted_sum_sq = 0.0
        for j in range(size):
            d = np.float64(x[r, j]) - shift
            shifted_sum += d
            shifted_sum_sq += d * d
        shifted_mean = shifted_sum / size
        row_mean = shift + shifted_mean
        row_inv_std = 1.0 / np.sqrt(max(shifted_sum_sq / size - shifted_mean * shifted_mean, 0.0) + eps)
        _split_mean(row_mean, row_inv_std, scalars)
        _normalized_row(x[r], scalars, weight_x, bias_x, y[r])
        mean[r] = row_mean
        inv_std[r] = row_inv_std


@njit(parallel=True, cache=True)
def _layer_norm_forward_threads(x, weight, bias, eps, y, mean, inv_std, blocks):
    rows = x.shape[0]
    for block in prange(blocks):
        start, stop = block * rows // blocks, (block + 1) * rows // blocks
        _layer_norm_forward_rows(x, start, stop, weight, bias, eps, y, mean, inv_std)


def layer_norm_forward(x, weight, bias, eps):
    """y[r, j] = (x[r, j] - mean[r]) * inv_std[r] * weight[j] + bias[j] for each row r of x, seen as (M, D).

    x: contiguous, read as rows of D = weight.size values (x's trailing axes); weight, bias: (D,) float64.
    Returns (y of x's shape and dtype, a new array; mean (M,); inv_std (M,) float64).

    The statistics take one pass, with sums of d = x - shift, shift = the row's first value, as in batch
    norm. The variance sum(d^2) / D - mean(d)^2 then loses at most about D * 2^-53 of itself to
    cancellation (as (x[0] - mean)^2 <= D * var), where plain sums of x and x^2 would lose
    (mean / std)^2 * 2^-53. (A second pass over the row, for the mean first, measured 10% slower.)
    """
    size = weight.size
    y = np.empty_like(x)
    x2, y2 = _as_rows(x, size), _as_rows(y, size)
    rows = x2.shape[0]
    mean, inv_std = np.empty(rows), np.empty(rows)
    if _use_threads(x):
        _layer_norm_forward_threads(x2, weight, bias, float(eps), y2, mean, inv_std, min(rows, get_num_threads()))
    else:
        _layer_norm_forward_rows(x2, 0, rows, weight, bias, float(eps), y2, mean, inv_std)
    return y, mean, inv_std


# -- layer norm: backward -------------------------------------------------------------------------------
# Measured on bench_norm.py's (4096, 256) float32, two threads, the forward's output still alive as in
# training, 10 runs of 60 alternating calls: this backward takes 1.1-1.7 ms, PyTorch's 1.1-1.6 (ours/theirs
# 0.96-1.17, median 1.06). Without the float64 partial weight and bias sums it took 11-38% less: they are
# what costs. Tried against them, same process, none kept:
# - the sums in a loop of their own per row: 24-45% slower;
# - over four rows at a time, one load and store of the sums per four rows: 20-22% slower (the float64
#   conversions redone cost more);
# - float32 sums added into float64 every 8 or 16 rows, half the bytes: no faster;
# - float32 for all of it, PyTorch's way: from 2% slower to 28% faster, median 6% faster, but it gives up
#   the float64 sums.
@njit(cache=True, fastmath=_ELEMENTWISE)
def _layer_norm_grad_row(grad_row, x_row, scalars, weight_x, grad_input_row):
    """dL/dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)) on one row, g = dy * weight, in x's dtype."""
    mean_hi, mean_lo, row_inv_std, mean_g, mean_g_xhat = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
    for j in range(x_row.size):
        x_hat = ((x_row[j] - mean_hi) - mean_lo) * row_inv_std
        grad_input_row[j] = row_inv_std * (grad_row[j] * weight_x[j] - mean_g - x_hat * mean_g_xhat)


@njit(cache=True, fastmath=_FAST)
def _layer_norm_backward_rows(
    grad_output, x, start, stop, weight, mean, inv_std, grad_input, partial_weight, partial_bias
):
    size = x.shape[1]
    weight_x, scalars = weight.astype(x.dtype), np.empty(5, x.dtype)
    for r in range(start, stop):
        # the row's statistics in locals: the stores into partial sums below could alias mean and inv_std
        # for all the compiler knows, and it would reload them for every element
        row_mean, row_inv_std = mean[r], inv_std[r]
        sum_g = 0.0
        sum_g_xhat = 0.0
        for j in range(size):
            dy = np.float64(grad_output[r, j])
            x_hat = (np.float64(x[r, j]) - row_mean) * row_inv_std
            g = dy * weight[j]
            sum_g += g
            sum_g_xhat += g * x_hat
            partial_weight[j] += dy * x_hat
            partial_bias[j] += dy
        _split_mean(row_mean, row_inv_std, scalars)
        scalars[3], scalars[4] = sum_g / size, sum_g_xhat / size
        _layer_norm_grad_row(grad_output[r], x[r], scalars, weight_x, grad_input[r])


@njit(parallel=True, cache=True)
def _layer_norm_backward_threads(grad_output, x, weight, mean, inv_std, grad_input, partial_weight, partial_bias):
    rows, blocks = x.shape[0], partial_weight.shape[0]
    for block in prange(blocks):
        start, stop = block * rows // blocks, (block + 1) * rows // blocks
        _layer_norm_backward_rows(
            grad_output, x, start, stop, weight, mean, inv_std, grad_input, partial_weight[block], partial_bias[block]
        )


def layer_norm_backward(grad_output, x, weight, mean, inv_std):
    """dL/dx, dL/dweight, dL/dbias of layer norm, given dL/dy; shapes as ``layer_norm_forward``.

    Per row, with g = dy * weight and x_hat = (x - mean) * inv_std, D values per row:
        dL/dx = inv_std / D * (D * g - sum(g) - x_hat * sum(g * x_hat))
    (batch norm's formula with rows in place of channels, and g in place of weight * dy);
    dL/dweight[j] = sum over rows of dy * x_hat, dL/dbias[j] = sum over rows of dy. Derivation:
    docs/backward/layernorm.md. Each block of rows keeps its own partial weight and bias sums (no two
    threads add into the same numbers), added up at the end.
    """
    size = weight.size
    grad_input = np.empty_like(x)
    grad2, x2, grad_input2 = _as_rows(grad_output, size), _as_rows(x, size), _as_rows(grad_input, size)
    rows = x2.shape[0]
    blocks = min(rows, get_num_threads()) if _use_threads(x) else 1
    partial_weight, partial_bias = np.zeros((blocks, size)), np.zeros((blocks, size))
    if blocks > 1:
        _layer_norm_backward_threads(grad2, x2, weight, mean, inv_std, grad_input2, partial_weight, partial_bias)
    else:
        _layer_norm_backward_rows(
            grad2, x2, 0, rows, weight, mean, inv_std, grad_input2, partial_weight[0], partial_bias[0]
        )
    return grad_input, partial_weight.sum(axis=0), partial_bias.sum(axis=0)
