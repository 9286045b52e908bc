"""Plain NumPy versions of the convolution kernels: slow, obviously correct, and what the tests compare
the Numba kernels in conv.py with. Same arguments and shapes; kernel_size, stride, padding are pairs."""

import numpy as np


def _sizes(x_shape, kernel_size, stride, padding):
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel_size, stride, padding
    out_h = (x_shape[2] + 2 * pad_h - kernel_h) // stride_h + 1
    out_w = (x_shape[3] + 2 * pad_w - kernel_w) // stride_w + 1
    return out_h, out_w


def im2col_reference(x, kernel_size, stride, padding):
    """columns[n, (c, i, j), (oh, ow)] = padded_x[n, c, oh * stride_h + i, ow * stride_w + j]."""
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel_size, stride, padding
    batch, channels = x.shape[:2]
    out_h, out_w = _sizes(x.shape, kernel_size, stride, padding)
    padded = np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    columns = np.empty((batch, channels, kernel_h, kernel_w, out_h, out_w), x.dtype)
    for i in range(kernel_h):
        for j in range(kernel_w):
            columns[:, :, i, j] = padded[
                :, :, i : i + stride_h * (out_h - 1) + 1 : stride_h, j : j + stride_w * (out_w - 1) + 1 : stride_w
            ]
    return columns.reshape(batch, channels * kernel_h * kernel_w, out_h * out_w)


def col2im_reference(columns, x_shape, kernel_size, stride, padding):
    """The adjoint of im2col_reference: add every entry back where it was read from, then drop the padding."""
    (kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w) = kernel_size, stride, padding
    batch, channels, height, width = x_shape
    out_h, out_w = _sizes(x_shape, kernel_size, stride, padding)
    columns = columns.reshape(batch, channels, kernel_h, kernel_w, out_h, out_w)
    padded = np.zeros((batch, channels, height + 2 * pad_h, width + 2 * pad_w), columns.dtype)
    for i in range(kernel_h):
        for j in range(kernel_w):
            padded[
                :, :, i : i + stride_h * (out_h - 1) + 1 : stride_h, j : j + stride_w * (out_w - 1) + 1 : stride_w
            ] += columns[:, :, i, j]
    return padded[:, :, pad_h : pad_h + height, pad_w : pad_w + width]


def conv2d_forward_reference(x, weight, bias, stride, padding):
    """output[n] = weight.reshape(C_out, -1) @ im2col(x)[n] + bias, reshaped to (N, C_out, OH, OW)."""
    out_h, out_w = _sizes(x.shape, weight.shape[2:], stride, padding)
    columns = im2col_reference(x, weight.shape[2:], stride, padding)
    output = weight.reshape(weight.shape[0], -1) @ columns
    if bias is not None:
        output = output + bias[:, None]
    return output.reshape(x.shape[0], weight.shape[0], out_h, out_w)


def conv2d_backward_reference(x, weight, grad_output, stride, padding):
    """(grad_input, grad_weight, grad_bias) by the formulas in minidl.ops.conv.Conv2d.backward."""
    weight_matrix = weight.reshape(weight.shape[0], -1)
    grads = grad_output.reshape(grad_output.shape[0], grad_output.shape[1], -1)  # (N, C_out, OH*OW)
    columns = im2col_reference(x, weight.shape[2:], stride, padding)
    grad_weight = np.einsum("nop,nkp->ok", grads, columns).reshape(weight.shape)
    grad_input = col2im_reference(weight_matrix.T @ grads, x.shape, weight.shape[2:], stride, padding)
    return grad_input, grad_weight, grads.sum(axis=(0, 2))
