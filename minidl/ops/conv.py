"""2-D convolution (cross-correlation, as PyTorch's ``conv2d``) of NCHW input, as a Function.

The whole idea is "im2col, matrix multiply, col2im". Per sample n, with P = OH*OW output pixels and
K = C_in*kH*kW values in each receptive field:

    columns_n = im2col(x[n])                       (K, P)   each column: one receptive field
    output[n] = W @ columns_n + b                  (C_out, P), W = weight.reshape(C_out, K)

The kernels in minidl/kernels/conv.py do exactly this, a few samples at a time on each thread, so the
column matrix stays small (their docstring explains the fused loop; conv_reference.py has the same in
plain NumPy). Derivation of the backward: docs/backward/convolution.md.
"""

import numpy as np

from minidl.autograd import Function
from minidl.kernels import conv as kernels
from minidl.ops.util import require_float


def as_pair(op_name, argument_name, value, minimum):
    """An int or a pair of ints as a pair (height, width), each at least ``minimum``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= minimum for v in pair):
        raise ValueError(f"{op_name}: {argument_name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_4d(op_name, x):
    """Refuse anything but a floating-point (N, C, H, W) array."""
    if x.ndim != 4:
        raise ValueError(f"{op_name}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    require_float(op_name, x)


def check_window_fits(op_name, x_shape, kernel_size, padding):
    """The kernel must fit inside the padded input, or there is no output pixel at all."""
    padded = (x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1])
    if kernel_size[0] > padded[0] or kernel_size[1] > padded[1]:
        raise ValueError(
            f"{op_name}: kernel size {kernel_size} is larger than the padded input {padded} "
            f"(input shape {x_shape}, padding {padding})"
        )


class Conv2d(Function):
    """``conv2d(x, weight, bias, stride, padding)``: x (N, C_in, H, W), weight (C_out, C_in, kH, kW),
    bias (C_out,) or None; output (N, C_out, OH, OW) with OH = (H + 2 padding_h - kH) // stride_h + 1."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0):
        check_4d("conv2d", x)
        if weight.ndim != 4:
            raise ValueError(f"conv2d: weight must be 4-D (C_out, C_in, kH, kW), got shape {weight.shape}")
        if x.shape[1] != weight.shape[1]:
            raise ValueError(
                f"conv2d: input has {x.shape[1]} channel(s) (shape {x.shape}), but weight of shape "
                f"{weight.shape} expects {weight.shape[1]}"
            )
        if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
            bias_dtype = "" if bias is None else f", bias {bias.dtype}"
            raise TypeError(f"conv2d: input {x.dtype} and weight {weight.dtype}{bias_dtype} must have the same dtype")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"conv2d: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        stride, padding = as_pair("conv2d", "stride", stride, 1), as_pair("conv2d", "padding", padding, 0)
        check_window_fits("conv2d", x.shape, weight.shape[2:], padding)
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return kernels.conv2d_forward(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        """With G_n = grad[n].reshape(C_out, P) and columns_n = im2col(x[n]) as in forward:

            dL/dW         = sum_n G_n @ columns_n^T    (C_out, P) @ (P, K)    -> (C_out, K) -> weight's shape
            dL/dcolumns_n = W^T @ G_n                  (K, C_out) @ (C_out, P) -> (K, P)
            dL/dx[n]      = col2im(dL/dcolumns_n)      (K, P) -> (C_in, H, W): each entry added back where
                                                       im2col read it from (overlaps add up)
            dL/db         = sum of grad over n, oh, ow (C_out,)

        grad_input is skipped when the input needs no gradient (the first layer).
        """
        x, weight = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_input, grad_weight, grad_bias = kernels.conv2d_backward(
            x, weight, grad, ctx.stride, ctx.padding, need_input_grad=need_input, need_weight_grad=need_weight
        )
        return grad_input, grad_weight, (grad_bias if need_bias else None), None, None
