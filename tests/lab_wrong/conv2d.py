"""Typical wrong answer to exercise 6: loops that overwrite (=) the input gradient where windows overlap."""

import numpy as np

from minidl.lab import load_template


class Conv2d(load_template("conv2d").Conv2d):
    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.stride, ctx.padding
        kernel = weight.shape[2]
        x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        grad_x_pad = np.zeros_like(x_pad)
        grad_weight = np.zeros_like(weight)
        batch, out_channels, out_h, out_w = grad.shape
        for n in range(batch):
            for o in range(out_channels):
                for i in range(out_h):
                    for j in range(out_w):
                        rows = slice(i * stride, i * stride + kernel)
                        cols = slice(j * stride, j * stride + kernel)
                        grad_x_pad[n, :, rows, cols] = weight[o] * grad[n, o, i, j]
                        grad_weight[o] += x_pad[n, :, rows, cols] * grad[n, o, i, j]
        grad_x = grad_x_pad[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]]
        return grad_x, grad_weight, grad.sum(axis=(0, 2, 3)), None, None
