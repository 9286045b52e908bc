"""Plain NumPy versions of the pooling kernels: slow, obviously correct, and what the tests compare the
Numba kernels in pool.py with. Same arguments and results."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def max_pool2d_forward_reference(x, kernel_size, stride, padding):
    """Look at every window (padding as -inf); take its max, and as its position (i * kernel_w + j in the
    window) the first maximum, or the last NaN if the window holds a NaN (the max is then NaN), or the
    first input element if the window holds only -inf (never a padding element). PyTorch's rules."""
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel_size, stride, padding
    batch, channels = x.shape[:2]
    pad = ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w))
    padded, is_input = np.pad(x, pad, constant_values=-np.inf), np.pad(np.ones(x.shape, bool), pad)
    windows, window_is_input = (
        sliding_window_view(a, (kernel_h, kernel_w), axis=(2, 3))[:, :, ::stride_h, ::stride_w]
        for a in (padded, is_input)
    )
    out_h, out_w = windows.shape[2:4]
    flat_windows = windows.reshape(batch, channels, out_h, out_w, kernel_h * kernel_w)
    output = flat_windows.max(axis=-1)
    position = flat_windows.argmax(axis=-1)  # the first maximum, scanning the window row by row
    is_nan = np.isnan(flat_windows)
    last_nan = kernel_h * kernel_w - 1 - is_nan[..., ::-1].argmax(axis=-1)
    first_input = window_is_input.reshape(flat_windows.shape).argmax(axis=-1)
    position = np.where(output == -np.inf, first_input, position)
    position = np.where(is_nan.any(axis=-1), last_nan, position)
    return output, position


def max_pool2d_backward_reference(grad_output, positions, x_shape, kernel_size, stride, padding):
    """Turn each window position into the flat index h * W + w of its input element, and add the
    gradients there."""
    kernel_w, (stride_h, stride_w), (pad_h, pad_w) = kernel_size[1], stride, padding
    batch, channels, height, width = x_shape
    out_h, out_w = positions.shape[2:]
    rows = np.arange(out_h)[:, None] * stride_h - pad_h + positions // kernel_w
    cols = np.arange(out_w)[None, :] * stride_w - pad_w + positions % kernel_w
    flat_indices = rows * width + cols
    grad_input = np.zeros((batch, channels, height * width), grad_output.dtype)
    for n in range(batch):
        for c in range(channels):
            np.add.at(grad_input[n, c], flat_indices[n, c].ravel(), grad_output[n, c].ravel())
    return grad_input.reshape(x_shape)


def window_mean_forward_reference(x, rows, cols, divisor):
    output = np.empty((*x.shape[:2], *divisor.shape), x.dtype)
    for oh in range(divisor.shape[0]):
        for ow in range(divisor.shape[1]):
            window = x[:, :, rows[0, oh] : rows[1, oh], cols[0, ow] : cols[1, ow]]
            output[:, :, oh, ow] = window.sum(axis=(2, 3)) / divisor[oh, ow]
    return output


def window_mean_backward_reference(grad_output, rows, cols, divisor, x_shape):
    grad_input = np.zeros(x_shape, grad_output.dtype)
    for oh in range(divisor.shape[0]):
        for ow in range(divisor.shape[1]):
            share = grad_output[:, :, oh, ow] / divisor[oh, ow]
            grad_input[:, :, rows[0, oh] : rows[1, oh], cols[0, ow] : cols[1, ow]] += share[:, :, None, None]
    return grad_input


def avg_pool2d_forward_reference(x, kernel_size, stride, padding, divisor):
    """Pad with zeros, sum every window, divide by divisor[oh, ow]."""
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel_size, stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    windows = sliding_window_view(padded, (kernel_h, kernel_w), axis=(2, 3))[:, :, ::stride_h, ::stride_w]
    return (windows.sum(axis=(4, 5)) / divisor).astype(x.dtype)


def avg_pool2d_backward_reference(grad_output, x_shape, kernel_size, stride, padding, divisor):
    """Add grad_output / divisor to every element of each window of the padded input, then drop the padding."""
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel_size, stride, padding
    batch, channels, height, width = x_shape
    padded = np.zeros((batch, channels, height + 2 * pad_h, width + 2 * pad_w), grad_output.dtype)
    share = grad_output / divisor
    for oh in range(divisor.shape[0]):
        for ow in range(divisor.shape[1]):
            rows = slice(oh * stride_h, oh * stride_h + kernel_h)
            cols = slice(ow * stride_w, ow * stride_w + kernel_w)
            padded[:, :, rows, cols] += share[:, :, oh, ow, None, None]
    return padded[:, :, pad_h : pad_h + height, pad_w : pad_w + width]
