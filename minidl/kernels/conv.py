"""Convolution kernels for NCHW arrays: ``im2col``, ``col2im``, and the fused forward and backward.

**im2col** turns a convolution into one matrix product. For a sample x of shape (C, H, W) and a kernel
of size (kH, kW), column p = (oh, ow) of ``im2col(x)`` holds the C*kH*kW input values that output pixel
p sees, in the order of ``weight.reshape(C_out, C*kH*kW)``; values that fall in the zero padding are 0.
Then, for every sample n::

    output[n].reshape(C_out, OH*OW) = weight.reshape(C_out, C*kH*kW) @ im2col(x)[n]

**col2im** is the adjoint (the transpose) of im2col: it adds every entry of a column matrix back onto the
input pixel it was read from. Where windows overlap, a pixel receives several contributions: that sum is
exactly the chain rule, so ``col2im(W^T @ grad)`` is the gradient of the input.

**conv2d_forward / conv2d_backward** compute the same thing, fused for speed. Calling ``im2col`` on the
whole batch and then one big multithreaded matrix multiply is simple but slow: the column matrix is
C*kH*kW times larger than the input (W1 of the benchmark: 72 MiB) and never fits in cache. Instead the
batch is split between the threads (``run_in_threads``: one jitted worker per core, each taking every
workers-th chunk of 1-4 samples, more for tiny outputs), and each worker, for each of its chunks, runs

    im2col(chunk) into its own small buffer (<= 256 KiB, so it stays in the core's L2 cache)
    -> one single-threaded matrix multiply (``np.dot``, SciPy's BLAS, limited to one thread)
    -> copy into the NCHW output, adding the bias.

The backward recomputes im2col per chunk (cheaper than keeping 72 MiB), accumulates per-worker partial
sums of grad_weight and grad_bias (added together at the end, so no two threads write the same memory)
and col2im's each sample's columns into its own slice of grad_input. Memory stays bounded at
threads x chunk x (one sample's columns), whatever the batch size.

Speed notes: the inner loops index flat arrays with unsigned (uint64) offsets. Numba must otherwise
check every signed index for a negative value (Python's wrap-around), which stops it from vectorising
the loop; this made im2col several times faster. (Beware: uint64 + int64 gives float64 in Numba, so
offsets are converted to uint64 as a whole.) On small images (an output row shorter than the chunk has
samples) the chunk's im2col and col2im loop over the samples innermost (``_im2col_chunk``): measured on
the degradation demo's 4x4 and 2x2 convolutions, forward 1.2-2x and backward up to 1.6x faster, a whole
training step 13% faster. What remains there is mostly the BLAS, slow on such thin products (10-18
GFLOP/s); bigger chunks (up to the whole batch) measured slower. Two of the three matrix products are
computed transposed (same numbers, shapes the BLAS handles faster); see ``_store_chunk`` and
``_backward_worker``.

Every kernel here is compiled on its first call, once per dtype, and cached on disk; with the
environment variable ``NUMBA_DISABLE_JIT=1`` they run as plain (slow) Python, which you can step
through in a debugger. The plain-NumPy references they are tested against are in conv_reference.py.
"""

import numpy as np
from numba import njit

from minidl.kernels._threads import limit_scipy_blas_threads, num_workers, run_in_threads

COLUMN_BUFFER_BYTES = 256 * 1024  # per thread: the chunk's columns should stay in the core's L2 cache
# Below this many multiply-adds a convolution runs on the calling thread alone: handing work to the
# pool and waiting for it costs more than it saves (measured on the demo's 8x8 networks: a training
# step 8% faster serial; at 75M multiply-adds two threads are 1.75x faster).
PARALLEL_MIN_MULTIPLY_ADDS = 2**24
MAX_CHUNK = 4  # samples per chunk; more gives fatter matrix products but uneven work between threads
# ... except for small outputs (4x4, 2x2): a chunk of 4 such samples makes a matrix product of only 16-64
# columns, where the BLAS call costs more than the arithmetic; take enough samples for this many columns
MIN_CHUNK_COLUMNS = 256


def output_size(size, kernel, stride, padding):
    """Number of kernel positions along one axis: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def chunk_size(patch, positions, itemsize):
    """Samples per chunk: MAX_CHUNK, or enough for MIN_CHUNK_COLUMNS columns if that is more, but no more
    than fit the per-thread column budget, and at least 1."""
    wanted = max(MAX_CHUNK, -(-MIN_CHUNK_COLUMNS // max(1, positions)))
    return int(max(1, min(wanted, COLUMN_BUFFER_BYTES // max(1, patch * positions * itemsize))))


# -- building blocks: one sample at a time, flat arrays ----------------------------------------------


@njit(cache=True)
def valid_output_range(size, kernel_offset, stride, padding, out_size):
    """Output positions o in [first, stop) whose input position o*stride - padding + kernel_offset is
    inside [0, size); the others read the zero padding."""
    shift = padding - kernel_offset  # input position = o * stride - shift
    last_input = size - 1 + shift
    if stride == 1:  # no division: it is called for every row of every sample, and small images have many rows
        first, stop = max(0, shift), min(out_size, last_input + 1)
    else:
        first = 0 if shift <= 0 else (shift + stride - 1) // stride
        stop = 0 if last_input < 0 else min(out_size, last_input // stride + 1)
    return first, max(first, stop)


@njit(cache=True)
def _im2col_sample(x, x_start, geometry, columns, column_start, row_length):
    """Copy one sample's receptive fields into a column matrix.

    ``x`` is the flat input, the sample starts at ``x_start``; ``columns`` is a flat matrix whose rows
    (one per (c, i, j)) are ``row_length`` long, and this sample's OH*OW columns start at
    ``column_start`` in each row. Entries that read the padding are not written: the buffer starts
    zeroed, and they are the same entries for every sample.
    """
    channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w = geometry
    step = np.uint64(stride_w)
    for c in range(channels):
        for i in range(kernel_h):
            oh_first, oh_stop = valid_output_range(height, i, stride_h, pad_h, out_h)
            for j in range(kernel_w):
                ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                row = (c * kernel_h + i) * kernel_w + j
                for oh in range(oh_first, oh_stop):
                    ih = oh * stride_h - pad_h + i
                    source = np.uint64(x_start + (c * height + ih) * width + ow_first * stride_w - pad_w + j)
                    target = np.uint64(column_start + row * row_length + oh * out_w + ow_first)
                    for k in range(np.uint64(ow_stop - ow_first)):
                        columns[target + k] = x[source + k * step]


@njit(cache=True)
def _col2im_sample(columns, column_start, row_length, geometry, grad_x, x_start):
    """The adjoint of ``_im2col_sample``: add each column entry onto the input pixel it came from."""
    channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w = geometry
    step = np.uint64(stride_w)
    for c in range(channels):
        for i in range(kernel_h):
            oh_first, oh_stop = valid_output_range(height, i, stride_h, pad_h, out_h)
            for j in range(kernel_w):
                ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                row = (c * kernel_h + i) * kernel_w + j
                for oh in range(oh_first, oh_stop):
                    ih = oh * stride_h - pad_h + i
                    target = np.uint64(x_start + (c * height + ih) * width + ow_first * stride_w - pad_w + j)
                    source = np.uint64(column_start + row * row_length + oh * out_w + ow_first)
                    for k in range(np.uint64(ow_stop - ow_first)):
                        grad_x[target + k * step] += columns[source + k]


@njit(cache=True)
def _im2col_chunk(x, x_start, count, geometry, columns, row_length):
    """``_im2col_sample`` for ``count`` consecutive samples (the first at ``x_start``), side by side in
    each row of ``columns``. On small images (4x4, 2x2) an output row has fewer pixels than the chunk
    has samples, so the innermost loop runs over the samples instead: one strided copy per (row, pixel)
    rather than many copies of a few values (figures in the module docstring)."""
    channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w = geometry
    sample_size, positions = channels * height * width, out_h * out_w
    if count <= out_w:
        for k in range(count):
            _im2col_sample(x, x_start + k * sample_size, geometry, columns, k * positions, row_length)
        return
    x_step, column_step = np.uint64(sample_size), np.uint64(positions)
    for c in range(channels):
        for i in range(kernel_h):
            oh_first, oh_stop = valid_output_range(height, i, stride_h, pad_h, out_h)
            for j in range(kernel_w):
                ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                row = (c * kernel_h + i) * kernel_w + j
                for oh in range(oh_first, oh_stop):
                    ih = oh * stride_h - pad_h + i
                    for ow in range(ow_first, ow_stop):
                        source = np.uint64(x_start + (c * height + ih) * width + ow * stride_w - pad_w + j)
                        target = np.uint64(row * row_length + oh * out_w + ow)
                        for k in range(np.uint64(count)):
                            columns[target + k * column_step] = x[source + k * x_step]


@njit(cache=True)
def _col2im_chunk(columns, row_length, count, geometry, grad_x, x_start):
    """The adjoint of ``_im2col_chunk`` (the same loops, adding instead of copying). Each pixel still
    receives its contributions in the same order as from ``_col2im_sample``, so the sums are identical."""
    channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, out_h, out_w = geometry
    sample_size, positions = channels * height * width, out_h * out_w
    if count <= out_w:
        for k in range(count):
            _col2im_sample(columns, k * positions, row_length, geometry, grad_x, x_start + k * sample_size)
        return
    x_step, column_step = np.uint64(sample_size), np.uint64(positions)
    for c in range(channels):
        for i in range(kernel_h):
            oh_first, oh_stop = valid_output_range(height, i, stride_h, pad_h, out_h)
            for j in range(kernel_w):
                ow_first, ow_stop = valid_output_range(width, j, stride_w, pad_w, out_w)
                row = (c * kernel_h + i) * kernel_w + j
                for oh in range(oh_first, oh_stop):
                    ih = oh * stride_h - pad_h + i
                    for ow in range(ow_first, ow_stop):
                        target = np.uint64(x_start + (c * height + ih) * width + ow * stride_w - pad_w + j)
                        source = np.uint64(row * row_length + oh * out_w + ow)
                        for k in range(np.uint64(count)):
                            grad_x[target + k * x_step] += columns[source + k * column_step]


def _geometry(x_shape, kernel_size, stride, padding):
    _, channels, height, width = x_shape
    out_h = output_size(height, kernel_size[0], stride[0], padding[0])
    out_w = output_size(width, kernel_size[1], stride[1], padding[1])
    return (channels, height, width, *kernel_size, *stride, *padding, out_h, out_w)


# -- im2col and col2im on a whole batch ---------------------------------------------------------------


@njit(nogil=True, cache=True)
def _im2col_worker(worker, workers, x, geometry, columns):
    """Samples worker, worker + workers, ... of the batch."""
    batch, patch, positions = columns.shape
    sample_size = geometry[0] * geometry[1] * geometry[2]
    columns_flat = columns.reshape(-1)
    for n in range(worker, batch, workers):
        _im2col_sample(x, n * sample_size, geometry, columns_flat, n * patch * positions, positions)


@njit(nogil=True, cache=True)
def _col2im_worker(worker, workers, columns, geometry, grad_x):
    batch, patch, positions = columns.shape
    sample_size = geometry[0] * geometry[1] * geometry[2]
    columns_flat = columns.reshape(-1)
    for n in range(worker, batch, workers):
        _col2im_sample(columns_flat, n * patch * positions, positions, geometry, grad_x, n * sample_size)


def im2col(x, kernel_size, stride, padding):
    """Columns of shape (N, C*kH*kW, OH*OW) from x of shape (N, C, H, W); pairs of ints for the rest."""
    geometry = _geometry(x.shape, kernel_size, stride, padding)
    columns = np.zeros((x.shape[0], x.shape[1] * kernel_size[0] * kernel_size[1], geometry[9] * geometry[10]), x.dtype)
    run_in_threads(_im2col_worker, num_workers(x.shape[0]), np.ascontiguousarray(x).reshape(-1), geometry, columns)
    return columns


def col2im(columns, x_shape, kernel_size, stride, padding):
    """The adjoint of im2col: sum columns of shape (N, C*kH*kW, OH*OW) back into an array of ``x_shape``."""
    grad_x = np.zeros(x_shape, columns.dtype)
    geometry = _geometry(x_shape, kernel_size, stride, padding)
    run_in_threads(_col2im_worker, num_workers(x_shape[0]), np.ascontiguousarray(columns), geometry, grad_x.reshape(-1))
    return grad_x


# -- the fused convolution ------------------------------------------------------------------------------


@njit(cache=True)
def _store_chunk(products_t, bias, output, first, count, positions):
    """output[first + k, o, p] = products_t[k * positions + p, o] + bias[o], for the chunk's samples.

    The forward computes the transposed product, ``columns.T @ weight_matrix.T`` of shape
    (chunk * OH*OW, C_out): the same numbers as ``weight_matrix @ columns``, but the BLAS runs it
    1.1-1.6x faster (measured) for these shapes. This copy transposes it back into NCHW."""
    row_length, out_channels = products_t.shape
    products_flat = products_t.reshape(-1)
    stride = np.uint64(out_channels)
    for k in range(count):
        for o in range(out_channels):
            source = np.uint64(k * positions * out_channels + o)
            target = np.uint64(((first + k) * out_channels + o) * positions)
            bias_value = bias[o]
            for p in range(np.uint64(positions)):
                output[target + p] = products_flat[source + p * stride] + bias_value


@njit(cache=True)
def _load_chunk(grad_output, first, count, positions, grads, grad_bias):
    """grads[o, k-th sample's columns] = grad_output[first + k, o, :] (zeros for samples past the batch's
    end), and add each row's sum to grad_bias[o]."""
    out_channels, row_length = grads.shape
    grads_flat = grads.reshape(-1)
    for o in range(out_channels):
        total = 0.0
        for k in range(count):
            source = np.uint64(((first + k) * out_channels + o) * positions)
            target = np.uint64(o * row_length + k * positions)
            for p in range(np.uint64(positions)):
                value = grad_output[source + p]
                grads_flat[target + p] = value
                total += value
        for p in range(count * positions, row_length):
            grads_flat[o * row_length + p] = 0.0
        grad_bias[o] += total


@njit(nogil=True, cache=True)
def _forward_worker(worker, workers, x, weight_matrix, bias, geometry, chunk, column_buffers, product_buffers, output):
    """One thread's share of the forward: chunks worker, worker + workers, ... of ``chunk`` samples,
    in this worker's own column and product buffers."""
    columns, products_t = column_buffers[worker], product_buffers[worker]
    batch = output.shape[0]
    sample_size = geometry[0] * geometry[1] * geometry[2]
    positions = geometry[9] * geometry[10]
    columns_flat, output_flat = columns.reshape(-1), output.reshape(-1)
    for first in range(worker * chunk, batch, workers * chunk):
        count = min(chunk, batch - first)
        _im2col_chunk(x, first * sample_size, count, geometry, columns_flat, chunk * positions)
        np.dot(columns.T, weight_matrix.T, products_t)
        _store_chunk(products_t, bias, output_flat, first, count, positions)


@njit(nogil=True, cache=True)
def _backward_worker(worker, workers, x, weight_matrix, grad_output, geometry, chunk, buffers, grad_input):
    """One thread's share of the backward. ``buffers`` holds each worker's own arrays: columns, grads,
    grad_columns, a scratch grad_weight, and its partial sums of grad_weight and grad_bias.

    grad_weight is kept transposed, (C*kH*kW, C_out): ``columns @ grads.T`` computes the same numbers as
    ``grads @ columns.T``, but the BLAS runs it 2-2.5x faster (measured) for these thin matrices."""
    column_buffers, grad_buffers, grad_column_buffers, scratch_buffers, grad_weight_parts, grad_bias_parts = buffers
    columns, grads, grad_columns = column_buffers[worker], grad_buffers[worker], grad_column_buffers[worker]
    grad_weight_chunk, grad_weight, grad_bias = (
        scratch_buffers[worker],
        grad_weight_parts[worker],
        grad_bias_parts[worker],
    )
    batch = grad_output.shape[0]
    sample_size = geometry[0] * geometry[1] * geometry[2]
    positions = geometry[9] * geometry[10]
    columns_flat, grad_columns_flat = columns.reshape(-1), grad_columns.reshape(-1)
    grad_output_flat, grad_input_flat = grad_output.reshape(-1), grad_input.reshape(-1)
    for first in range(worker * chunk, batch, workers * chunk):
        count = min(chunk, batch - first)
        _load_chunk(grad_output_flat, first, count, positions, grads, grad_bias)
        if grad_weight.size > 0:
            _im2col_chunk(x, first * sample_size, count, geometry, columns_flat, chunk * positions)
            np.dot(columns, grads.T, grad_weight_chunk)
            grad_weight += grad_weight_chunk
        if grad_input.size > 0:
            np.dot(weight_matrix.T, grads, grad_columns)
            _col2im_chunk(grad_columns_flat, chunk * positions, count, geometry, grad_input_flat, first * sample_size)


def _plan(x, weight, stride, padding):
    """Contiguous input, the weight as a (C_out, C*kH*kW) matrix, the geometry, samples per chunk, and
    how many threads get a share (no more than there are chunks)."""
    limit_scipy_blas_threads()
    x = np.ascontiguousarray(x)
    weight_matrix = np.ascontiguousarray(weight.reshape(weight.shape[0], -1))
    geometry = _geometry(x.shape, weight.shape[2:], stride, padding)
    positions = geometry[9] * geometry[10]
    chunk = chunk_size(weight_matrix.shape[1], positions, x.itemsize)
    multiply_adds = x.shape[0] * positions * weight_matrix.size
    workers = num_workers(-(-x.shape[0] // chunk)) if multiply_adds >= PARALLEL_MIN_MULTIPLY_ADDS else 1
    return x, weight_matrix, geometry, chunk, workers


def conv2d_forward(x, weight, bias, stride, padding):
    """Convolution output (N, C_out, OH, OW) of x (N, C, H, W) with weight (C_out, C, kH, kW) and bias
    (C_out,) or None; stride and padding are pairs. Fused im2col + matrix multiply, see the module doc."""
    x, weight_matrix, geometry, chunk, workers = _plan(x, weight, stride, padding)
    out_channels, patch = weight_matrix.shape
    row_length = chunk * geometry[9] * geometry[10]
    bias = np.zeros(out_channels, x.dtype) if bias is None else np.ascontiguousarray(bias, dtype=x.dtype)
    columns = np.zeros((workers, patch, row_length), x.dtype)
    products = np.empty((workers, row_length, out_channels), x.dtype)
    output = np.empty((x.shape[0], out_channels, geometry[9], geometry[10]), x.dtype)
    run_in_threads(
        _forward_worker, workers, x.reshape(-1), weight_matrix, bias, geometry, chunk, columns, products, output
    )
    return output


def conv2d_backward(x, weight, grad_output, stride, padding, need_input_grad=True, need_weight_grad=True):
    """(grad_input or None, grad_weight or None, grad_bias) of the convolution, fused (see the module doc)."""
    x, weight_matrix, geometry, chunk, workers = _plan(x, weight, stride, padding)
    out_channels, patch = weight_matrix.shape
    row_length = chunk * geometry[9] * geometry[10]
    columns = np.zeros((workers, patch, row_length), x.dtype)
    grads = np.empty((workers, out_channels, row_length), x.dtype)
    grad_columns = np.empty((workers, patch, row_length), x.dtype)
    grad_weight_chunk = np.empty((workers, patch, out_channels), x.dtype)
    # size-0 arrays tell the workers to skip a gradient nobody needs
    grad_weight_parts = np.zeros((workers, patch if need_weight_grad else 0, out_channels), x.dtype)
    grad_bias_parts = np.zeros((workers, out_channels), x.dtype)
    grad_input = np.zeros(x.shape if need_input_grad else (0,) * 4, x.dtype)
    buffers = (columns, grads, grad_columns, grad_weight_chunk, grad_weight_parts, grad_bias_parts)
    grad_output = np.ascontiguousarray(grad_output, dtype=x.dtype)
    run_in_threads(
        _backward_worker, workers, x.reshape(-1), weight_matrix, grad_output, geometry, chunk, buffers, grad_input
    )
    grad_weight = grad_weight_parts.sum(axis=0).T.reshape(weight.shape) if need_weight_grad else None
    return (grad_input if need_input_grad else None), grad_weight, grad_bias_parts.sum(axis=0)
