"""Pooling kernels for NCHW arrays: max and average pooling, and the mean over arbitrary windows
(adaptive average pooling).

Every (sample, channel) plane is pooled on its own, so the planes are split between threads (each
thread takes every workers-th plane; see run_in_threads). Compiled on first use, once per dtype, cached
on disk; plain Python under ``NUMBA_DISABLE_JIT=1``. The NumPy references are in pool_reference.py.
"""

import math

import numpy as np
from numba import njit

from minidl.kernels._threads import num_workers, run_in_threads
from minidl.kernels.conv import output_size, valid_output_range


def pooling_windows(size, kernel, stride, padding):
    """(2, out) int64 array: [first, stop) of each window along one axis, clipped to the input [0, size)."""
    starts = np.arange(output_size(size, kernel, stride, padding)) * stride - padding
    return np.stack([np.maximum(starts, 0), np.minimum(starts + kernel, size)]).astype(np.int64)


def adaptive_windows(size, out):
    """(2, out) int64 array: window i is [floor(i * size / out), ceil((i + 1) * size / out)), as PyTorch."""
    i = np.arange(out)
    return np.stack([(i * size) // out, -((-(i + 1) * size) // out)]).astype(np.int64)


# -- max and average pooling ------------------------------------------------------------------------------
# Both loop over the kernel offsets (i, j) outside and over a row of outputs inside: for a fixed (i, j) the
# inner loop reads input elements stride_w apart and writes neighbouring outputs, which Numba vectorises
# (with flat arrays and unsigned offsets, as in conv.py). Looping over each window's few elements inside
# was 2-3x slower. Max pooling's argmax bookkeeping does not vectorise (the max alone takes a quarter of
# the time); selects instead of the if, or a second pass for the argmax, measured no faster.
# ``valid_output_range`` gives the outputs whose (i, j) element is inside the input (not padding).


@njit(nogil=True, cache=True)
def _max_pool_forward_worker(worker, workers, x, shape, geometry, output, argmax):
    """output[plane, oh, ow] = max of the window; argmax = where it is (h * W + w in the plane).

    Padding counts as -inf, so it never wins. Visiting the window row by row and replacing only on a
    strictly larger value keeps the *first* maximum, as PyTorch does; a NaN always replaces, so NaN
    propagates (also as PyTorch). Windows of -inf only point at their first input element.
    """
    planes, height, width, out_h, out_w = shape
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w = geometry
    step = np.uint64(stride_w)
    for plane in range(worker, planes, workers):
        for oh in range(out_h):
            out_row = np.uint64((plane * out_h + oh) * out_w)
            h_first = max(oh * stride_h - pad_h, 0)
            for ow in range(out_w):
                output[out_row + np.uint64(ow)] = -np.inf
                argmax[out_row + np.uint64(ow)] = h_first * width + max(ow * stride_w - pad_w, 0)
            for i in range(kernel_h):
                h = oh * stride_h - pad_h + i
                if h < 0 or h >= height:
                    continue
                for j in range(kernel_w):
                    ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                    index = np.uint64(h * width + ow_first * stride_w - pad_w + j)  # in the plane, for ow_first
                    source = np.uint64(plane * height * width) + index
                    target = out_row + np.uint64(ow_first)
                    for k in range(np.uint64(ow_stop - ow_first)):
                        value = x[source + k * step]
                        if value > output[target + k] or value != value:
                            output[target + k] = value
                            argmax[target + k] = index + k * step


@njit(nogil=True, cache=True)
def _max_pool_backward_worker(worker, workers, grad_output, argmax, plane_size, grad_input):
    """Each output's gradient goes to the input element that was the maximum (added up where windows
    overlap and share a maximum). grad_input starts zeroed."""
    planes = grad_input.size // plane_size
    outputs = grad_output.size // planes
    for plane in range(worker, planes, workers):
        plane_start, out_start = np.uint64(plane * plane_size), np.uint64(plane * outputs)
        for k in range(np.uint64(outputs)):
            grad_input[plane_start + np.uint64(argmax[out_start + k])] += grad_output[out_start + k]


@njit(nogil=True, cache=True)
def _avg_pool_forward_worker(worker, workers, x, shape, geometry, scale, output):
    """output[plane, oh, ow] = scale[oh, ow] * (sum of the window's input elements); scale = 1 / divisor."""
    planes, height, width, out_h, out_w = shape
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w = geometry
    step = np.uint64(stride_w)
    for plane in range(worker, planes, workers):
        for oh in range(out_h):
            out_row = np.uint64((plane * out_h + oh) * out_w)
            for ow in range(out_w):
                output[out_row + np.uint64(ow)] = 0.0
            for i in range(kernel_h):
                h = oh * stride_h - pad_h + i
                if h < 0 or h >= height:
                    continue
                for j in range(kernel_w):
                    ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                    source = np.uint64(plane * height * width + h * width + ow_first * stride_w - pad_w + j)
                    target = out_row + np.uint64(ow_first)
                    for k in range(np.uint64(ow_stop - ow_first)):
                        output[target + k] += x[source + k * step]
            scale_row = np.uint64(oh * out_w)
            for ow in range(np.uint64(out_w)):
                output[out_row + ow] *= scale[scale_row + ow]


@njit(nogil=True, cache=True)
def _avg_pool_backward_worker(worker, workers, grad_output, shape, geometry, scale, grad_input):
    """Each output's gradient times scale[oh, ow] is added to every input element of its window."""
    planes, height, width, out_h, out_w = shape
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w = geometry
    step = np.uint64(stride_w)
    for plane in range(worker, planes, workers):
        for oh in range(out_h):
            out_row, scale_row = np.uint64((plane * out_h + oh) * out_w), np.uint64(oh * out_w)
            for i in range(kernel_h):
                h = oh * stride_h - pad_h + i
                if h < 0 or h >= height:
                    continue
                for j in range(kernel_w):
                    ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                    target = np.uint64(plane * height * width + h * width + ow_first * stride_w - pad_w + j)
                    source = np.uint64(ow_first)
                    for k in range(np.uint64(ow_stop - ow_first)):
                        grad_input[target + k * step] += (
                            grad_output[out_row + source + k] * scale[scale_row + source + k]
                        )


def _pool_shape(x_shape, kernel_size, stride, padding):
    """(planes, H, W, OH, OW): the (N, C) planes are pooled one by one."""
    batch, channels, height, width = x_shape
    out_h = output_size(height, kernel_size[0], stride[0], padding[0])
    out_w = output_size(width, kernel_size[1], stride[1], padding[1])
    return batch * channels, height, width, out_h, out_w


def max_pool2d_forward(x, kernel_size, stride, padding):
    """(output (N, C, OH, OW), argmax) for x (N, C, H, W); argmax (int32) is each maximum's flat index
    h * W + w in its plane. kernel_size, stride, padding are pairs; each window must hold an input element."""
    shape = _pool_shape(x.shape, kernel_size, stride, padding)
    output = np.empty(shape[0] * shape[3] * shape[4], x.dtype)
    argmax = np.empty(output.size, np.int32)
    flat_x = np.ascontiguousarray(x).reshape(-1)
    geometry = (*kernel_size, *stride, *padding)
    run_in_threads(_max_pool_forward_worker, num_workers(shape[0]), flat_x, shape, geometry, output, argmax)
    out_shape = (*x.shape[:2], shape[3], shape[4])
    return output.reshape(out_shape), argmax.reshape(out_shape)


def max_pool2d_backward(grad_output, argmax, x_shape):
    """dL/dx of max pooling: grad_output scattered (added) to the argmax positions; zero elsewhere."""
    grad_input = np.zeros(math.prod(x_shape), grad_output.dtype)
    grad_output = np.ascontiguousarray(grad_output).reshape(-1)
    workers = num_workers(x_shape[0] * x_shape[1])
    run_in_threads(
        _max_pool_backward_worker, workers, grad_output, argmax.reshape(-1), x_shape[2] * x_shape[3], grad_input
    )
    return grad_input.reshape(x_shape)


def avg_pool2d_forward(x, kernel_size, stride, padding, divisor):
    """Average pooling of x (N, C, H, W): each window's sum divided by divisor[oh, ow] (an (OH, OW) array)."""
    shape = _pool_shape(x.shape, kernel_size, stride, padding)
    output = np.empty(shape[0] * shape[3] * shape[4], x.dtype)
    scale = (1.0 / divisor).astype(x.dtype).reshape(-1)
    flat_x = np.ascontiguousarray(x).reshape(-1)
    geometry = (*kernel_size, *stride, *padding)
    run_in_threads(_avg_pool_forward_worker, num_workers(shape[0]), flat_x, shape, geometry, scale, output)
    return output.reshape(*x.shape[:2], shape[3], shape[4])


def avg_pool2d_backward(grad_output, x_shape, kernel_size, stride, padding, divisor):
    """dL/dx of average pooling: each grad_output / divisor added to every element of its window."""
    shape = _pool_shape(x_shape, kernel_size, stride, padding)
    grad_input = np.zeros(math.prod(x_shape), grad_output.dtype)
    scale = (1.0 / divisor).astype(grad_output.dtype).reshape(-1)
    flat_grad = np.ascontiguousarray(grad_output).reshape(-1)
    geometry = (*kernel_size, *stride, *padding)
    run_in_threads(_avg_pool_backward_worker, num_workers(shape[0]), flat_grad, shape, geometry, scale, grad_input)
    return grad_input.reshape(x_shape)


# -- mean over arbitrary windows (adaptive average pooling) ---------------------------------------------


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
