"""Exercise 6 -- 2-D convolution (cross-correlation, as in PyTorch), with stride and zero padding.

Forward (given):  x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,); x is zero-padded by
                  `padding` on every side, then
                  out[n, o, i, j] = bias[o] + sum_{c, p, q} weight[o, c, p, q] * x_pad[n, c, i*stride + p, j*stride + q]
                  for out of shape (N, C_out, H_out, W_out).
Your task:        backward(ctx, grad) gets grad = dL/dout (N, C_out, H_out, W_out) and returns
                  (dL/dx, dL/dweight, dL/dbias, None, None) -- None for stride and padding.

Plain loops over n, o, i, j are fine here: for every output element, find which inputs and weights
it was made of, and send grad[n, o, i, j] back to each of them. Windows overlap when stride < kernel.
Reading: docs/backward/convolution.md. Check your answer with `minidl lab check`.
"""

import numpy as np

from minidl.autograd import Function


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        kernel_h, kernel_w = weight.shape[2:]
        out_h = (x_pad.shape[2] - kernel_h) // stride + 1
        out_w = (x_pad.shape[3] - kernel_w) // stride + 1
        out = np.zeros((x.shape[0], weight.shape[0], out_h, out_w))
        for p in range(kernel_h):
            for q in range(kernel_w):
                # the input pixels that kernel position (p, q) sees, for every output position at once
                seen = x_pad[:, :, p : p + stride * out_h : stride, q : q + stride * out_w : stride]
                out += np.einsum("nchw,oc->nohw", seen, weight[:, :, p, q])
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return out + bias[:, None, None]

    @staticmethod
    def backward(ctx, grad):
        """Return (dL/dx, dL/dweight, dL/dbias, None, None)."""
        x, weight = ctx.saved_tensors
        # ctx.stride and ctx.padding hold the forward's stride and padding
        raise NotImplementedError("exercise 6: write the backward of conv2d")
