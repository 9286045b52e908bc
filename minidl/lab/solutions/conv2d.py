"""Solution to exercise 6: minidl's own conv2d (minidl/ops/conv.py, im2col), run on the saved arrays."""

import numpy as np

from minidl.lab import library_gradients, load_template
from minidl.nn import functional as F


class Conv2d(load_template("conv2d").Conv2d):
    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        bias = np.zeros(weight.shape[0])  # the bias only shifts the output: no gradient depends on it

        def conv2d(x, weight, bias):
            return F.conv2d(x, weight, bias, stride=ctx.stride, padding=ctx.padding)

        return (*library_gradients(conv2d, [x, weight, bias], grad), None, None)
