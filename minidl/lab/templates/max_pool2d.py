"""Exercise 7 -- 2-D max pooling.

Forward (given):  x (N, C, H, W); every channel is cut into kernel_size x kernel_size windows placed
                  `stride` apart, and out[n, c, i, j] is the largest element of window (i, j).
Your task:        backward(ctx, grad) gets grad = dL/dout (N, C, H_out, W_out) and returns
                  (dL/dx of x's shape, None, None) -- None for kernel_size and stride.

Only one element of each window made it to the output. (The checker draws inputs without ties, so
"the" largest element is well defined.) Windows overlap when stride < kernel_size.
Reading: docs/backward/pooling.md. Check your answer with `minidl lab check`.
"""

import numpy as np

from minidl.autograd import Function


class MaxPool2d(Function):
    @staticmethod
    def forward(ctx, x, kernel_size, stride):
        out_h = (x.shape[2] - kernel_size) // stride + 1
        out_w = (x.shape[3] - kernel_size) // stride + 1
        out = np.full(x.shape[:2] + (out_h, out_w), -np.inf)
        for p in range(kernel_size):
            for q in range(kernel_size):
                seen = x[:, :, p : p + stride * out_h : stride, q : q + stride * out_w : stride]
                out = np.maximum(out, seen)
        ctx.save_for_backward(x, out)
        ctx.kernel_size, ctx.stride = kernel_size, stride
        return out

    @staticmethod
    def backward(ctx, grad):
        """Return (dL/dx, None, None)."""
        x, out = ctx.saved_tensors
        # ctx.kernel_size and ctx.stride hold the forward's window size and stride
        raise NotImplementedError("exercise 7: write the backward of max pooling")
