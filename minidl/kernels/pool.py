"""Pooling kernels for NCHW arrays: max and average pooling, and the mean over arbitrary windows
(adaptive average pooling).

Every (sample, channel) plane is pooled on its own, so the planes are split between threads (see
run_in_threads), each taking a contiguous block of them (planes_of). Compiled on first use, once per
dtype, cached on disk; plain Python under ``NUMBA_DISABLE_JIT=1``. The NumPy references are in
pool_reference.py. Gradients are allocated in the input's shape, not as reshaped views of a flat array:
the engine hands such an array to ``x.grad`` as it is, but copies a view (8 MB per call in
benchmarks/bench_pool.py).
"""

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


@njit(cache=True)
def planes_of(worker, workers, planes):
    """[first, stop) of the planes that worker (of workers) pools: a contiguous block. Taking every
    workers-th plane instead was slower on two threads (2x2 max pooling of bench_pool.py's input, forward
    1.8 against 1.45 ms, backward 2.3 against 2.1; 3.0 against 2.0 ms forward after a 20 ms pause)."""
    return planes * worker // workers, planes * (worker + 1) // workers


# kernel_size, stride and padding of the usual pooling layer (2x2 windows, stride 2, no padding), which has
# kernels of its own
TWO_BY_TWO = (2, 2, 2, 2, 0, 0)


# -- max and average pooling ------------------------------------------------------------------------------
# The general kernels loop over the kernel offsets (i, j) outside and over a row of outputs inside: for a
# fixed (i, j) the inner loop reads input elements stride_w apart and updates neighbouring outputs, with no
# dependency from one output to the next (with flat arrays and unsigned offsets, as in conv.py). Looping
# over each window's few elements inside was 2-3x slower (every comparison waits for the previous one).
# ``valid_output_range`` gives the outputs whose (i, j) element is inside the input (not padding).
#
# Max pooling must stay free of branches: which element wins depends on the data, so a branch on it is
# mispredicted about every other element. With an `if`, forward took 14.5 ms (one thread, CPU time) on the
# (128, 16, 32, 32) float32 input of benchmarks/bench_pool.py. Without: the max is ``np.maximum`` (selects;
# it keeps a NaN) and the position a select between two values loaded beforehand (a load on one side only
# brings the branch back). The general kernel then takes 6.1 ms there (3x3 stride 2 padding 1: 12.5 ms,
# was 28; 3x3 stride 1: 21 ms, was 51); the 2x2 kernel below, with a window's four elements in registers,
# 1.4 ms, close to reading the input once (x.max(): 1.1 ms). Each maximum is remembered by its position
# i * kernel_w + j in the window, in the smallest unsigned type that holds it (uint8 up to 16x16 windows):
# a quarter of the memory of int32 flat indices. The backward zeroes a plane and adds every output's
# gradient at its window's corner plus offsets[position]: 1.8 ms there (was 2.9 with np.zeros and flat
# indices). Where windows overlap (stride < kernel) this scatter is up to 1.5-2x slower than with flat
# indices: neighbouring windows often share their maximum, and each add then waits for the previous one,
# whose address takes one more load to find (3x3 stride 1: 4.4-6 ms against 3.2, next to 30 ms saved in
# forward).
#
# Average pooling has no branch to avoid: the general kernel zeroes a row of outputs, adds the elements
# (i, j) by (i, j), then multiplies the row by scale = 1 / divisor. The 2x2 kernel (stride 2, no padding)
# sums a window's four elements in registers, in the same order (so the same floats), and writes each
# output once: forward 1.35 ms against 3.6-3.7 with the general kernel on bench_pool.py's input (medians of
# wall time, the two alternating; on two threads 1.45 against 3.65). Its windows do not overlap, so its
# backward writes each output's gradient times the scale to its four input elements instead of adding
# them to zeros (only a last row or column left out by an odd size is zeroed): 1.6-1.7 ms against 4.4-4.6
# (two threads 1.7-1.9 against 4.4-4.7). The general backward zeroes each plane just before its adds, as
# max pooling's does, instead of np.zeros up front: 3x3 stride 2 padding 1 7.8-8.4 ms against 9.7-10.9
# (two threads 6.9-7.4 against 8.9), 2x2 stride 1 4-15% faster, 3x3 stride 1 unchanged (12.5-13.5 ms).
# Scaling each row of gradients once, into a buffer, before the adds made 3x3 stride 1 about 20% faster
# but 3x3 stride 2 padding 1 12-24% slower: not kept.


@njit(nogil=True, cache=True)
def _max_pool_forward_worker(worker, workers, x, shape, geometry, output, positions):
    """output[plane, oh, ow] = max of the window; positions = where it is, i * kernel_w + j in the window.

    Padding never wins: it is never visited, and each output starts at -inf with the position of its first
    input element (so a window of -inf points there, as PyTorch). Replacing only on a strictly larger
    value keeps the *first* maximum, row by row, as PyTorch does; a NaN always replaces (also as PyTorch,
    so NaN propagates and the last NaN of the window is the position).
    """
    planes, height, width, out_h, out_w = shape
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w = geometry
    step = np.uint64(stride_w)
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
        for oh in range(out_h):
            out_row = np.uint64((plane * out_h + oh) * out_w)
            h_start = oh * stride_h - pad_h
            first_row = max(-h_start, 0) * kernel_w  # the position of the window's first input row
            for ow in range(out_w):
                output[out_row + np.uint64(ow)] = -np.inf
                positions[out_row + np.uint64(ow)] = first_row + max(pad_w - ow * stride_w, 0)
            for i in range(kernel_h):
                h = h_start + i
                if h < 0 or h >= height:
                    continue
                for j in range(kernel_w):
                    ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                    source = np.uint64(plane * height * width + h * width + ow_first * stride_w - pad_w + j)
                    target = out_row + np.uint64(ow_first)
                    position = i * kernel_w + j
                    for k in range(np.uint64(ow_stop - ow_first)):
                        value, best, previous = x[source + k * step], output[target + k], positions[target + k]
                        wins = (value > best) | (value != value)
                        output[target + k] = np.maximum(best, value)
                        positions[target + k] = position if wins else previous


@njit(nogil=True, cache=True)
def _max_pool_2x2_forward_worker(worker, workers, x, shape, output, positions):
    """_max_pool_forward_worker for 2x2 windows, stride 2, no padding (the usual max pooling layer): the
    four elements of a window are compared in registers, in the same order and with the same rule."""
    planes, height, width, out_h, out_w = shape
    one, two = np.uint64(1), np.uint64(2)
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
        for oh in range(out_h):
            out_row = np.uint64((plane * out_h + oh) * out_w)
            top = np.uint64(plane * height * width + 2 * oh * width)
            bottom = top + np.uint64(width)
            for ow in range(np.uint64(out_w)):
                best, position = x[top + two * ow], np.uint8(0)
                value = x[top + two * ow + one]
                position = np.uint8(1) if (value > best) | (value != value) else position
                best = np.maximum(best, value)
                value = x[bottom + two * ow]
                position = np.uint8(2) if (value > best) | (value != value) else position
                best = np.maximum(best, value)
                value = x[bottom + two * ow + one]
                position = np.uint8(3) if (value > best) | (value != value) else position
                output[out_row + ow] = np.maximum(best, value)
                positions[out_row + ow] = position


@njit(nogil=True, cache=True)
def _zero_plane(grad_input, plane, plane_size):
    """Zero one plane of a flat gradient: the backward kernels that add into their planes do this just
    before, so the plane is in cache for the adds (instead of np.zeros over the whole array up front)."""
    plane_start = np.uint64(plane * plane_size)
    for k in range(np.uint64(plane_size)):
        grad_input[plane_start + k] = 0


@njit(nogil=True, cache=True)
def _max_pool_backward_worker(worker, workers, grad_output, positions, shape, geometry, offsets, grad_input):
    """Each output's gradient is added to the input element that was its maximum: window corner plus
    offsets[position] ((i * W + j) for position i * kernel_w + j). Adding, not writing: overlapping
    windows may share their maximum. Each plane is zeroed just before, so it is in cache for the adds."""
    planes, height, width, out_h, out_w = shape
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w = geometry
    plane_size = height * width
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
        _zero_plane(grad_input, plane, plane_size)
        for oh in range(out_h):
            out_row = np.uint64((plane * out_h + oh) * out_w)
            row_corner = plane * plane_size + (oh * stride_h - pad_h) * width - pad_w  # may be < 0 (padding)
            for ow in range(out_w):
                out_index = out_row + np.uint64(ow)
                target = np.uint64(row_corner + ow * stride_w + offsets[positions[out_index]])
                grad_input[target] += grad_output[out_index]


@njit(nogil=True, cache=True)
def _avg_pool_forward_worker(worker, workers, x, shape, geometry, scale, output):
    """output[plane, oh, ow] = scale[oh, ow] * (sum of the window's input elements); scale = 1 / divisor."""
    planes, height, width, out_h, out_w = shape
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w = geometry
    step = np.uint64(stride_w)
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
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
def _avg_pool_2x2_forward_worker(worker, workers, x, shape, scale, output):
    """_avg_pool_forward_worker for 2x2 windows, stride 2, no padding: the four elements of a window are
    summed in registers, in the same order, and each output written once."""
    planes, height, width, out_h, out_w = shape
    one, two = np.uint64(1), np.uint64(2)
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
        for oh in range(out_h):
            out_row, scale_row = np.uint64((plane * out_h + oh) * out_w), np.uint64(oh * out_w)
            top = np.uint64(plane * height * width + 2 * oh * width)
            bottom = top + np.uint64(width)
            for ow in range(np.uint64(out_w)):
                total = x[top + two * ow] + x[top + two * ow + one] + x[bottom + two * ow] + x[bottom + two * ow + one]
                output[out_row + ow] = total * scale[scale_row + ow]


@njit(nogil=True, cache=True)
def _avg_pool_backward_worker(worker, workers, grad_output, shape, geometry, scale, grad_input):
    """Each output's gradient times scale[oh, ow] is added to every input element of its window. Each
    plane is zeroed just before, so it is in cache for the adds."""
    planes, height, width, out_h, out_w = shape
    kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w = geometry
    step = np.uint64(stride_w)
    plane_size = height * width
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
        _zero_plane(grad_input, plane, plane_size)
        for oh in range(out_h):
            out_row, scale_row = np.uint64((plane * out_h + oh) * out_w), np.uint64(oh * out_w)
            for i in range(kernel_h):
                h = oh * stride_h - pad_h + i
                if h < 0 or h >= height:
                    continue
                for j in range(kernel_w):
                    ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                    target = np.uint64(plane * plane_size + h * width + ow_first * stride_w - pad_w + j)
                    source = np.uint64(ow_first)
                    for k in range(np.uint64(ow_stop - ow_first)):
                        grad_input[target + k * step] += (
                            grad_output[out_row + source + k] * scale[scale_row + source + k]
                        )


@njit(nogil=True, cache=True)
def _avg_pool_2x2_backward_worker(worker, workers, grad_output, shape, scale, grad_input):
    """_avg_pool_backward_worker for 2x2 windows, stride 2, no padding: the windows do not overlap, so each
    output's share is written (not added) to its four input elements; only a last row or column that no
    window covers (odd H or W) is zeroed."""
    planes, height, width, out_h, out_w = shape
    one, two = np.uint64(1), np.uint64(2)
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
        plane_start = np.uint64(plane * height * width)
        for oh in range(out_h):
            out_row, scale_row = np.uint64((plane * out_h + oh) * out_w), np.uint64(oh * out_w)
            top = plane_start + np.uint64(2 * oh * width)
            bottom = top + np.uint64(width)
            for ow in range(np.uint64(out_w)):
                share = grad_output[out_row + ow] * scale[scale_row + ow]
                grad_input[top + two * ow] = share
                grad_input[top + two * ow + one] = share
                grad_input[bottom + two * ow] = share
                grad_input[bottom + two * ow + one] = share
            if width % 2:
                grad_input[bottom - one] = 0
                grad_input[bottom + np.uint64(width) - one] = 0
        if height % 2:
            last_row = plane_start + np.uint64((height - 1) * width)
            for k in range(np.uint64(width)):
                grad_input[last_row + k] = 0


def _pool_shape(x_shape, kernel_size, stride, padding):
    """(planes, H, W, OH, OW): the (N, C) planes are pooled one by one."""
    batch, channels, height, width = x_shape
    out_h = output_size(height, kernel_size[0], stride[0], padding[0])
    out_w = output_size(width, kernel_size[1], stride[1], padding[1])
    return batch * channels, height, width, out_h, out_w


def window_position_dtype(kernel_size):
    """The smallest unsigned integer type that holds the window positions 0 .. kernel_h * kernel_w - 1."""
    return np.min_scalar_type(kernel_size[0] * kernel_size[1] - 1)


def max_pool2d_forward(x, kernel_size, stride, padding):
    """(output (N, C, OH, OW), positions) for x (N, C, H, W); positions (window_position_dtype) is where
    each maximum is in its window, i * kernel_w + j. kernel_size, stride, padding are pairs; each window
    must hold an input element."""
    shape = _pool_shape(x.shape, kernel_size, stride, padding)
    output = np.empty(shape[0] * shape[3] * shape[4], x.dtype)
    positions = np.empty(output.size, window_position_dtype(kernel_size))
    flat_x = np.ascontiguousarray(x).reshape(-1)
    geometry, workers = (*kernel_size, *stride, *padding), num_workers(shape[0])
    if geometry == TWO_BY_TWO:
        run_in_threads(_max_pool_2x2_forward_worker, workers, flat_x, shape, output, positions)
    else:
        run_in_threads(_max_pool_forward_worker, workers, flat_x, shape, geometry, output, positions)
    out_shape = (*x.shape[:2], shape[3], shape[4])
    return output.reshape(out_shape), positions.reshape(out_shape)


def max_pool2d_backward(grad_output, positions, x_shape, kernel_size, stride, padding):
    """dL/dx of max pooling: grad_output added to the maximum of each window (positions from forward);
    zero elsewhere."""
    shape = _pool_shape(x_shape, kernel_size, stride, padding)
    grad_input = np.empty(x_shape, grad_output.dtype)  # the kernel zeroes it, plane by plane
    window = np.arange(kernel_size[0] * kernel_size[1])
    offsets = (window // kernel_size[1]) * x_shape[3] + window % kernel_size[1]
    flat_grad = np.ascontiguousarray(grad_output).reshape(-1)
    arguments = (flat_grad, positions.reshape(-1), shape, (*kernel_size, *stride, *padding), offsets)
    run_in_threads(_max_pool_backward_worker, num_workers(shape[0]), *arguments, grad_input.reshape(-1))
    return grad_input


def avg_pool2d_forward(x, kernel_size, stride, padding, divisor):
    """Average pooling of x (N, C, H, W): each window's sum divided by divisor[oh, ow] (an (OH, OW) array)."""
    shape = _pool_shape(x.shape, kernel_size, stride, padding)
    output = np.empty(shape[0] * shape[3] * shape[4], x.dtype)
    scale = (1.0 / divisor).astype(x.dtype).reshape(-1)
    flat_x = np.ascontiguousarray(x).reshape(-1)
    geometry, workers = (*kernel_size, *stride, *padding), num_workers(shape[0])
    if geometry == TWO_BY_TWO:
        run_in_threads(_avg_pool_2x2_forward_worker, workers, flat_x, shape, scale, output)
    else:
        run_in_threads(_avg_pool_forward_worker, workers, flat_x, shape, geometry, scale, output)
    return output.reshape(*x.shape[:2], shape[3], shape[4])


def avg_pool2d_backward(grad_output, x_shape, kernel_size, stride, padding, divisor):
    """dL/dx of average pooling: each grad_output / divisor added to every element of its window."""
    shape = _pool_shape(x_shape, kernel_size, stride, padding)
    grad_input = np.empty(x_shape, grad_output.dtype)  # the kernels write every element
    scale = (1.0 / divisor).astype(grad_output.dtype).reshape(-1)
    flat_grad = np.ascontiguousarray(grad_output).reshape(-1)
    geometry, workers = (*kernel_size, *stride, *padding), num_workers(shape[0])
    if geometry == TWO_BY_TWO:
        run_in_threads(_avg_pool_2x2_backward_worker, workers, flat_grad, shape, scale, grad_input.reshape(-1))
    else:
        run_in_threads(_avg_pool_backward_worker, workers, flat_grad, shape, geometry, scale, grad_input.reshape(-1))
    return grad_input


# -- mean over arbitrary windows (adaptive average pooling) ---------------------------------------------


@njit(nogil=True, cache=True)
def _window_mean_forward_worker(worker, workers, x, rows, cols, divisor, output):
    """output[plane, oh, ow] = sum of x[plane, rows[0, oh]:rows[1, oh], cols[0, ow]:cols[1, ow]] / divisor[oh, ow]."""
    planes = x.shape[0]
    out_h, out_w = divisor.shape
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
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
    first_plane, stop_plane = planes_of(worker, workers, planes)
    for plane in range(first_plane, stop_plane):
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
    grad_input = np.zeros(x_shape, grad_output.dtype)
    grad_output = np.ascontiguousarray(grad_output).reshape(batch * channels, *divisor.shape)
    divisor = divisor.astype(grad_output.dtype)
    planes = grad_input.reshape(batch * channels, height, width)
    run_in_threads(
        _window_mean_backward_worker, num_workers(batch * channels), grad_output, rows, cols, divisor, planes
    )
    return grad_input
