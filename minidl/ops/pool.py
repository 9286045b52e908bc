"""Pooling of NCHW input as Functions: max, average, and adaptive average pooling (PyTorch's semantics).

Every output pixel summarises one window of its (sample, channel) plane. Window (oh, ow) covers rows
oh*stride_h - padding_h ... + kernel_h - 1 and the same for columns, clipped to the input. Adaptive
pooling instead chooses the windows from the output size (see AdaptiveAvgPool2d). The kernels are in
minidl/kernels/pool.py; derivations in docs/backward/pooling.md.
"""

import numpy as np

from minidl.autograd import Function
from minidl.kernels import pool as kernels
from minidl.ops.conv import as_pair, check_4d, check_window_fits


def _pool_arguments(op_name, x, kernel_size, stride, padding):
    """Pairs for kernel_size, stride (defaults to kernel_size, as PyTorch) and padding, checked against x."""
    check_4d(op_name, x)
    kernel_size = as_pair(op_name, "kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None or stride == [] else as_pair(op_name, "stride", stride, 1)
    padding = as_pair(op_name, "padding", padding, 0)
    if padding[0] > kernel_size[0] // 2 or padding[1] > kernel_size[1] // 2:
        raise ValueError(
            f"{op_name}: padding {padding} must be at most half the kernel size {kernel_size}, "
            "so that every window holds at least one input element"
        )
    check_window_fits(op_name, x.shape, kernel_size, padding)
    return kernel_size, stride, padding


def _window_sizes(rows, cols):
    """(OH, OW) array: how many input elements each window holds."""
    return np.outer(rows[1] - rows[0], cols[1] - cols[0])


class MaxPool2d(Function):
    """``max_pool2d(x, kernel_size, stride=kernel_size, padding=0)``: the maximum of every window."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0):
        kernel_size, stride, padding = _pool_arguments("max_pool2d", x, kernel_size, stride, padding)
        output, positions = kernels.max_pool2d_forward(x, kernel_size, stride, padding)
        ctx.positions, ctx.x_shape, ctx.geometry = positions, x.shape, (kernel_size, stride, padding)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx[n, c, h, w] = sum of grad[n, c, oh, ow] over the windows (oh, ow) whose maximum is at
        (h, w); zero elsewhere. A window with tied maxima sends its gradient to the first one (row by
        row), as PyTorch does. ``positions`` from forward remembers where each maximum was in its window."""
        return kernels.max_pool2d_backward(grad, ctx.positions, ctx.x_shape, *ctx.geometry), None, None, None


class AvgPool2d(Function):
    """``avg_pool2d(x, kernel_size, stride=kernel_size, padding=0, count_include_pad=True,
    divisor_override=None)``: the mean of every window. With ``count_include_pad`` the padding zeros
    count in the mean (divide by kH*kW); without, only the input elements do."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, count_include_pad=True, divisor_override=None):
        kernel_size, stride, padding = _pool_arguments("avg_pool2d", x, kernel_size, stride, padding)
        rows = kernels.pooling_windows(x.shape[2], kernel_size[0], stride[0], padding[0])
        cols = kernels.pooling_windows(x.shape[3], kernel_size[1], stride[1], padding[1])
        if divisor_override is not None:
            if divisor_override == 0:
                raise ValueError("avg_pool2d: divisor_override must not be zero")
            divisor = np.full((rows.shape[1], cols.shape[1]), float(divisor_override))
        elif count_include_pad:
            divisor = np.full((rows.shape[1], cols.shape[1]), float(kernel_size[0] * kernel_size[1]))
        else:
            divisor = _window_sizes(rows, cols).astype(np.float64)
        ctx.x_shape, ctx.geometry, ctx.divisor = x.shape, (kernel_size, stride, padding), divisor
        return kernels.avg_pool2d_forward(x, kernel_size, stride, padding, divisor)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx[n, c, h, w] = sum over the windows (oh, ow) containing (h, w) of
        grad[n, c, oh, ow] / divisor[oh, ow]."""
        grad_input = kernels.avg_pool2d_backward(grad, ctx.x_shape, *ctx.geometry, ctx.divisor)
        return grad_input, None, None, None, None, None


class AdaptiveAvgPool2d(Function):
    """``adaptive_avg_pool2d(x, output_size)``: mean pooling to a fixed output size (an int, a pair, or a
    pair with None to keep that input size). Output row i averages input rows floor(i*H/OH) up to
    ceil((i+1)*H/OH) - 1; windows may overlap or differ in size by one, as PyTorch's do."""

    @staticmethod
    def forward(ctx, x, output_size):
        check_4d("adaptive_avg_pool2d", x)
        sizes = (output_size, output_size) if output_size is None or np.ndim(output_size) == 0 else output_size
        sizes = tuple(x.shape[2 + axis] if size is None else size for axis, size in enumerate(sizes))
        sizes = as_pair("adaptive_avg_pool2d", "output_size", sizes, 1)
        rows, cols = kernels.adaptive_windows(x.shape[2], sizes[0]), kernels.adaptive_windows(x.shape[3], sizes[1])
        divisor = _window_sizes(rows, cols).astype(np.float64)
        ctx.windows, ctx.x_shape = (rows, cols, divisor), x.shape
        return kernels.window_mean_forward(x, rows, cols, divisor)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx[n, c, h, w] = sum over the windows (oh, ow) containing (h, w) of
        grad[n, c, oh, ow] / (number of elements in window (oh, ow))."""
        return kernels.window_mean_backward(grad, *ctx.windows, ctx.x_shape), None
