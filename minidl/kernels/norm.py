"""Numba kernels for batch norm and layer norm: fused forward and backward passes.

Plain loops over arrays, no autograd; ``minidl/kernels/norm_reference.py`` has the same functions in
NumPy (slow, obviously correct) and tests compare the two. Sums are accumulated in float64 whatever the
input dtype, so float32 statistics over 100 000+ values stay accurate.

Batch norm sees its input as (N, C, L): L = H*W for images, 1 for (N, C) features. One parallel region
runs over the channels; each channel is read once to get its shifted sums, then again (mostly from cache)
to write the output. Layer norm sees (M, D): M rows of D = prod(normalized_shape) values, one row per
step of a parallel loop.

The functions compile on first call (never at import), once per input dtype, and ``cache=True`` keeps the
machine code on disk. With ``NUMBA_DISABLE_JIT=1`` they run as plain (slow) Python.
"""

import numpy as np
from numba import get_num_threads, njit, prange

# "reassoc" lets LLVM split the sums over SIMD lanes (the order of float additions changes, not the maths).
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(parallel=True, cache=True, fastmath=_FAST)
def batch_norm_forward(x, weight, bias, mean, var, eps, use_batch_stats):
    """y[n, c, l] = (x[n, c, l] - mean[c]) * inv_std[c] * weight[c] + bias[c], inv_std = 1 / sqrt(var + eps).

    x: (N, C, L) contiguous; weight, bias, mean, var: (C,) float64. With ``use_batch_stats`` (training)
    mean and var are first filled with the batch mean and the *biased* batch variance of each channel;
    otherwise they are read (the running statistics). Returns (y of x's dtype, inv_std (C,) float64).

    The variance comes from sums of (x - shift) with shift = the channel's first value: sum(d)^2 / m and
    sum(d^2) are then of the order of the variance, not of mean^2, so their difference keeps its digits.
    """
    batch, channels, length = x.shape
    count = batch * length
    y = np.empty_like(x)
    inv_std = np.empty(channels)
    for c in prange(channels):
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
    return y, inv_std


@njit(parallel=True, cache=True, fastmath=_FAST)
def batch_norm_backward(grad_output, x, weight, mean, inv_std, use_batch_stats):
    """dL/dx, dL/dweight, dL/dbias of batch norm, given dL/dy. Shapes as ``batch_norm_forward``.

    With x_hat = (x - mean) * inv_std and m = N*L values per channel, per channel:
        dL/dbias   = sum(dy)
        dL/dweight = sum(dy * x_hat)
        dL/dx      = weight * inv_std / m * (m * dy - sum(dy) - x_hat * sum(dy * x_hat))   (batch statistics)
        dL/dx      = weight * inv_std * dy                                                  (fixed statistics)
    Chain rule: y = weight * x_hat + bias, and with batch statistics each x_hat depends on x[i] three
    ways: directly (weight * inv_std * dy), through the mean (every x_hat moves by -inv_std / m, giving
    -sum(dy)) and through the variance (d inv_std / d x[i] = -inv_std^3 (x[i] - mean) / m, giving
    -x_hat * sum(dy * x_hat)). With fixed (running) statistics only the direct path is left.
    Derivation: docs/backward/batchnorm.md. Returns (grad_input of x's dtype, grad_weight, grad_bias float64).
    """
    batch, channels, length = x.shape
    count = batch * length
    grad_input = np.empty_like(x)
    grad_weight = np.empty(channels)
    grad_bias = np.empty(channels)
    for c in prange(channels):
        sum_dy = 0.0
        sum_dy_centered = 0.0
        for n in range(batch):
            for i in range(length):
                dy = np.float64(grad_output[n, c, i])
                sum_dy += dy
                sum_dy_centered += dy * (np.float64(x[n, c, i]) - mean[c])
        sum_dy_xhat = sum_dy_centered * inv_std[c]
        grad_bias[c] = sum_dy
        grad_weight[c] = sum_dy_xhat
        scale = weight[c] * inv_std[c]
        if use_batch_stats:
            # dx = scale * (dy - mean(dy) - x_hat * mean(dy * x_hat)), written as a * dy + b * x + k
            mean_dy = sum_dy / count
            mean_dy_xhat = sum_dy_xhat / count
            x_coefficient = -scale * inv_std[c] * mean_dy_xhat
            constant = -scale * mean_dy - x_coefficient * mean[c]
        else:
            x_coefficient = 0.0
            constant = 0.0
        for n in range(batch):
            for i in range(length):
                grad_input[n, c, i] = scale * grad_output[n, c, i] + x_coefficient * x[n, c, i] + constant
    return grad_input, grad_weight, grad_bias


@njit(parallel=True, cache=True, fastmath=_FAST)
def layer_norm_forward(x, weight, bias, eps):
    """y[r, j] = (x[r, j] - mean[r]) * inv_std[r] * weight[j] + bias[j] for each row r of x (M, D).

    weight, bias: (D,) float64. A row fits in L1 cache, so the variance is taken in two passes (mean,
    then mean of squared deviations), which needs no shift. Returns (y, mean (M,), inv_std (M,) float64).
    """
    rows, size = x.shape
    y = np.empty_like(x)
    mean = np.empty(rows)
    inv_std = np.empty(rows)
    for r in prange(rows):
        total = 0.0
        for j in range(size):
            total += np.float64(x[r, j])
        row_mean = total / size
        squares = 0.0
        for j in range(size):
            d = np.float64(x[r, j]) - row_mean
            squares += d * d
        row_inv_std = 1.0 / np.sqrt(squares / size + eps)
        for j in range(size):
            y[r, j] = (x[r, j] - row_mean) * row_inv_std * weight[j] + bias[j]
        mean[r] = row_mean
        inv_std[r] = row_inv_std
    return y, mean, inv_std


@njit(parallel=True, cache=True, fastmath=_FAST)
def _layer_norm_backward(grad_output, x, weight, mean, inv_std, blocks):
    """dL/dx, dL/dweight, dL/dbias of layer norm, given dL/dy; shapes as ``layer_norm_forward``.

    Per row, with g = dy * weight and x_hat = (x - mean) * inv_std, D values per row:
        dL/dx = inv_std / D * (D * g - sum(g) - x_hat * sum(g * x_hat))
    (batch norm's formula with the roles of rows and channels swapped, and g in place of weight * dy);
    dL/dweight[j] = sum over rows of dy * x_hat, dL/dbias[j] = sum over rows of dy. Derivation:
    docs/backward/layernorm.md. The weight and bias sums are kept per block of rows (``blocks``: one per
    thread, so no two threads write the same partial sum) and added at the end.
    """
    rows, size = x.shape
    grad_input = np.empty_like(x)
    blocks = max(min(rows, blocks), 1)
    partial_weight = np.zeros((blocks, size))
    partial_bias = np.zeros((blocks, size))
    for block in prange(blocks):
        for r in range(block * rows // blocks, (block + 1) * rows // blocks):
            sum_g = 0.0
            sum_g_xhat = 0.0
            for j in range(size):
                dy = np.float64(grad_output[r, j])
                x_hat = (np.float64(x[r, j]) - mean[r]) * inv_std[r]
                g = dy * weight[j]
                sum_g += g
                sum_g_xhat += g * x_hat
                partial_weight[block, j] += dy * x_hat
                partial_bias[block, j] += dy
            mean_g = sum_g / size
            mean_g_xhat = sum_g_xhat / size
            for j in range(size):
                x_hat = (x[r, j] - mean[r]) * inv_std[r]
                grad_input[r, j] = inv_std[r] * (grad_output[r, j] * weight[j] - mean_g - x_hat * mean_g_xhat)
    return grad_input, partial_weight.sum(axis=0), partial_bias.sum(axis=0)


def layer_norm_backward(grad_output, x, weight, mean, inv_std):
    """``_layer_norm_backward`` with one block of rows per Numba thread (the kernel cannot ask itself:
    a function that reads the thread count is not cached to disk)."""
    return _layer_norm_backward(grad_output, x, weight, mean, inv_std, get_num_threads())
