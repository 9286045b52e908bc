"""Plain NumPy versions of the pooling kernels: slow, obviously correct, and what the tests compare the
Numba kernels in pool.py with. Same arguments and results."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def max_pool2d_forward_reference(x, kernel_size, stride, padding):
    """Pad with -inf, look at every window, take its max and the first position of the max."""
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel_size, stride, padding
    batch, channels, height, width = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)), constant_values=-np.inf)
    windows = sliding_window_view(padded, (kernel_h, kernel_w), axis=(2, 3))[:, :, ::stride_h, ::stride_w]
    out_h, out_w = windows.shape[2:4]
    flat_windows = windows.reshape(batch, channels, out_h, out_w, kernel_h * kernel_w)
    output = flat_windows.max(axis=-1)
    position = flat_windows.argmax(axis=-1)  # the first maximum, scanning the window row by row
    rows = np.arange(out_h)[:, None] * stride_h - pad_h + position // kernel_w
    cols = np.arange(out_w)[None, :] * stride_w - pad_w + position % kernel_w
    return output, (rows * width + cols).astype(np.int32)


def max_pool2d_backward_reference(grad_output, argmax, x_shape):
    batch, channels, height, width = x_shape
    grad_input = np.zeros((batch, channels, height * width), grad_output.dtype)
    for n in range(batch):
        for c in range(channels):
            np.add.at(grad_input[n, c], argmax[n, c].ravel(), grad_output[n, c].ravel())
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
