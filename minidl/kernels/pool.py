"""Pooling kernels for NCHW arrays: max pooling, and the mean over arbitrary windows (average pooling
and adaptive average pooling both are that, with different windows).

Every (sample, channel) plane is pooled on its own, so the planes are split between threads (each
thread takes every workers-th plane; see run_in_threads). Compiled on first use, once per dtype, cached
on disk; plain Python under ``NUMBA_DISABLE_JIT=1``. The NumPy references are in pool_reference.py.
"""

import numpy as np
from numba import njit

from minidl.kernels._threads import num_workers, run_in_threads

# -- max pooling ----------------------------------------------------------------------------------------


@njit(nogil=True, cache=True)
def _max_pool_forward_worker(worker, workers, x, geometry, output, argmax):
    """output[plane, oh, ow] = max of the window; argmax = where it is (h * W + w in the plane).

    The window is clipped to the input: padding counts as -inf, so it never wins. Scanning row by row
    and replacing only on a strictly larger value keeps the *first* maximum, as PyTorch does; a NaN
    always replaces, so NaN propagates (also as PyTorch).
    """
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w = geometry
    planes, height, width = x.shape
    out_h, out_w = output.shape[1:]
    for plane in range(worker, planes, workers):
        for oh in range(out_h):
            h_first, h_stop = max(oh * stride_h - pad_h, 0), min(oh * stride_h - pad_h + kernel_h, height)
            for ow in range(out_w):
                w_first, w_stop = max(ow * stride_w - pad_w, 0), min(ow * stride_w - pad_w + kernel_w, width)
                best, best_index = -np.inf, h_first * width + w_first
                for h in range(h_first, h_stop):
                    for w in range(w_first, w_stop):
                        value = x[plane, h, w]
                        if value > best or np.isnan(value):
                            best, best_index = value, h * width + w
                output[plane, oh, ow] = best
                argmax[plane, oh, ow] = best_index


@njit(nogil=True, cache=True)
def _max_pool_backward_worker(worker, workers, grad_output, argmax, grad_input):
    """Each output's gradient goes to the input element that was the maximum (added up where windows
    overlap and share a maximum)."""
    planes, out_h, out_w = grad_output.shape
    for plane in range(worker, planes, workers):
        for oh in range(out_h):
            for ow in range(out_w):
                grad_input[plane, argmax[plane, oh, ow]] += grad_output[plane, oh, ow]


def max_pool2d_forward(x, kernel_size, stride, padding):
    """(output (N, C, OH, OW), argmax) for x (N, C, H, W); argmax (int32) is each maximum's flat index
    h * W + w in its plane. kernel_size, stride, padding are pairs; each window must hold an input element."""
    batch, channels, height, width = x.shape
    out_h = (height + 2 * padding[0] - kernel_size[0]) // stride[0] + 1
    out_w = (width + 2 * padding[1] - kernel_size[1]) // stride[1] + 1
    planes = np.ascontiguousarray(x).reshape(batch * channels, height, width)
    output = np.empty((batch * channels, out_h, out_w), x.dtype)
    argmax = np.empty((batch * channels, out_h, out_w), np.int32)
    geometry = (*kernel_size, *stride, *padding)
    run_in_threads(_max_pool_forward_worker, num_workers(batch * channels), planes, geometry, output, argmax)
    return output.reshape(batch, channels, out_h, out_w), argmax.reshape(batch, channels, out_h, out_w)


def max_pool2d_backward(grad_output, argmax, x_shape):
    """dL/dx of max pooling: grad_output scattered (added) to the argmax positions; zero elsewhere."""
    batch, channels, height, width = x_shape
    grad_input = np.zeros((batch * channels, height * width), grad_output.dtype)
    grad_output = np.ascontiguousarray(grad_output).reshape(batch * channels, *grad_output.shape[2:])
    argmax = argmax.reshape(grad_output.shape)
    run_in_threads(_max_pool_backward_worker, num_workers(batch * channels), grad_output, argmax, grad_input)
    return grad_input.reshape(x_shape)


# -- mean over windows (average and adaptive average pooling) ---------------------------------------------


@njit(nogil=True, cache=True)
def _window_mean_forward_worker(worker, workers, x, rows, cols, divisor, output):
    """output[plane, oh, ow] = sum of x[plane, rows[0, oh]:rows[1, oh], cols[0, ow]:cols[1, ow]] / divisor[oh, ow]."""
    planes = x.shape[0]
    out_h, out_w = divisor.shape
    for plane in range(worker, planes, workers):
        for oh in range(out_h):
            for ow in range(out_w):
                total = 0.0
                for h in range(rows[0, oh], rows[1, oh]):
                    for w in range(cols[0, ow], cols[1, ow]):
                        total += x[plane, h, w]
                output[plane, oh, ow] = total / divisor[oh, ow]


@njit(nogil=True, cache=True)
def _window_mean_backward_worker(worker, workers, grad_output, rows, cols, divisor, grad_input):
    """Each output's gradient, divided by its divisor, is added to every input element of its window."""
    planes = grad_output.shape[0]
    out_h, out_w = divisor.shape
    for plane in range(worker, planes, workers):
        for oh in range(out_h):
            for ow in range(out_w):
                share = grad_output[plane, oh, ow] / divisor[oh, ow]
                for h in range(rows[0, oh], rows[1, oh]):
                    for w in range(cols[0, ow], cols[1, ow]):
                        grad_input[plane, h, w] += share


def window_mean_forward(x, rows, cols, divisor):
    """Pool x (N, C, H, W) over windows: rows and cols are int64 arrays of shape (2, OH) and (2, OW) with
    each window's [first, stop) inside the input; divisor (OH, OW) is what each window's sum is divided by."""
    batch, channels, height, width = x.shape
    planes = np.ascontiguousarray(x).reshape(batch * channels, height, width)
    output = np.empty((batch * channels, *divisor.shape), x.dtype)
    divisor = divisor.astype(x.dtype)
    run_in_threads(_window_mean_forward_worker, num_workers(batch * channels), planes, rows, cols, divisor, output)
    return output.reshape(batch, channels, *divisor.shape)


def window_mean_backward(grad_output, rows, cols, divisor, x_shape):
    """dL/dx of window_mean_forward: each grad_output / divisor spread over its window."""
    batch, channels, height, width = x_shape
    grad_input = np.zeros((batch * channels, height, width), grad_output.dtype)
    grad_output = np.ascontiguousarray(grad_output).reshape(batch * channels, *divisor.shape)
    divisor = divisor.astype(grad_output.dtype)
    run_in_threads(
        _window_mean_backward_worker, num_workers(batch * channels), grad_output, rows, cols, divisor, grad_input
    )
    return grad_input.reshape(x_shape)
