"""Exercise 3 -- matrix product with broadcasting over batch axes.

Forward (given):  C = A @ B with A of shape (..., n, k) and B of shape (..., k, m); the leading
                  "batch" axes broadcast as in NumPy, e.g. (5, n, k) @ (k, m) or (5, 1, n, k) @ (3, k, m).
Your task:        backward(ctx, grad) gets grad = dL/dC of shape (..., n, m) and returns
                  (dL/dA of A's shape, dL/dB of B's shape).

Start from the 2-D case and check that every shape fits. Then ask: if B was broadcast along a
batch axis, how many times did each element of B contribute to the loss?
Reading: docs/backward/matmul.md and docs/backward/elementwise.md (broadcasting).
Check your answer with `minidl lab check`.
"""

import numpy as np

from minidl.autograd import Function


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, grad):
        """Return (dL/da, dL/db)."""
        a, b = ctx.saved_tensors
        raise NotImplementedError("exercise 3: write the backward of a broadcasting matmul")
