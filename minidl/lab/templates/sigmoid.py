"""Exercise 1 -- sigmoid.

Forward (given):  s = sigmoid(x) = 1 / (1 + exp(-x)), element by element.
Your task:        backward(ctx, grad) gets grad = dL/ds (x's shape) and returns dL/dx (x's shape).

Derive ds/dx by hand first and write it in terms of s, the forward's output: that is why forward
saves it. Reading: docs/backward/elementwise.md. Check your answer with `minidl lab check`.
"""

import numpy as np

from minidl.autograd import Function


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(x, s)
        return s

    @staticmethod
    def backward(ctx, grad):
        """Return dL/dx."""
        x, s = ctx.saved_tensors
        raise NotImplementedError("exercise 1: write the backward of sigmoid")
