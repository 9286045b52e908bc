"""Typical wrong answer to exercise 7: the gradient sent to every element of the window, not only its maximum."""

import numpy as np

from minidl.lab import load_template


class MaxPool2d(load_template("max_pool2d").MaxPool2d):
    @staticmethod
    def backward(ctx, grad):
        x, _ = ctx.saved_tensors
        kernel, stride = ctx.kernel_size, ctx.stride
        grad_x = np.zeros_like(x)
        for i in range(grad.shape[2]):
            for j in range(grad.shape[3]):
                window = (
                    slice(None),
                    slice(None),
                    slice(i * stride, i * stride + kernel),
                    slice(j * stride, j * stride + kernel),
                )
                grad_x[window] += grad[:, :, i : i + 1, j : j + 1]
        return grad_x, None, None
