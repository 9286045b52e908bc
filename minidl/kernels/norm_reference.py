"""Plain NumPy versions of the kernels in ``minidl/kernels/norm.py``: same arguments, same results.

Written to be obviously correct (whole-array formulas, float64 throughout), not fast; tests compare
the Numba kernels with them, and the benchmark uses them as "plain NumPy".
"""

import numpy as np


def batch_norm_forward(x, weight, bias, mean, var, eps, use_batch_stats):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel of x (N, C, L); see the kernel."""
    x64 = x.astype(np.float64)
    if use_batch_stats:
        mean[:] = x64.mean(axis=(0, 2))
        var[:] = x64.var(axis=(0, 2))
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x64 - mean[:, None]) * inv_std[:, None]
    y = x_hat * weight[:, None] + bias[:, None]
    return y.astype(x.dtype), inv_std


def batch_norm_backward(grad_output, x, weight, mean, inv_std, use_batch_stats):
    """(grad_input, grad_weight, grad_bias) of batch norm; the closed form in the kernel's docstring."""
    dy = grad_output.astype(np.float64)
    x_hat = (x.astype(np.float64) - mean[:, None]) * inv_std[:, None]
    count = x.shape[0] * x.shape[2]
    sum_dy = dy.sum(axis=(0, 2))
    sum_dy_xhat = (dy * x_hat).sum(axis=(0, 2))
    scale = (weight * inv_std)[:, None]
    if use_batch_stats:
        grad_input = scale / count * (count * dy - sum_dy[:, None] - x_hat * sum_dy_xhat[:, None])
    else:
        grad_input = scale * dy
    return grad_input.astype(x.dtype), sum_dy_xhat, sum_dy


def layer_norm_forward(x, weight, bias, eps):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per row of x (M, D); returns (y, mean, inv_std)."""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=1)
    inv_std = 1.0 / np.sqrt(x64.var(axis=1) + eps)
    y = (x64 - mean[:, None]) * inv_std[:, None] * weight + bias
    return y.astype(x.dtype), mean, inv_std


def layer_norm_backward(grad_output, x, weight, mean, inv_std):
    """(grad_input, grad_weight, grad_bias) of layer norm; the closed form in the kernel's docstring."""
    dy = grad_output.astype(np.float64)
    x_hat = (x.astype(np.float64) - mean[:, None]) * inv_std[:, None]
    size = x.shape[1]
    g = dy * weight
    sum_g = g.sum(axis=1, keepdims=True)
    sum_g_xhat = (g * x_hat).sum(axis=1, keepdims=True)
    grad_input = inv_std[:, None] / size * (size * g - sum_g - x_hat * sum_g_xhat)
    return grad_input.astype(x.dtype), (dy * x_hat).sum(axis=0), dy.sum(axis=0)
