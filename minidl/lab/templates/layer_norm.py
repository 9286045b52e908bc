"""Exercise 5 -- layer normalisation.

Forward (given):  x of shape (..., D); every row (the last axis) is normalised on its own:
                  mean = x.mean(-1), var = x.var(-1) (biased: divide by D), inv_std = 1 / sqrt(var + eps),
                  x_hat = (x - mean) * inv_std,  out = gamma * x_hat + beta  (gamma, beta of shape (D,)).
Your task:        backward(ctx, grad) gets grad = dL/dout of x's shape and returns
                  (dL/dx of x's shape, dL/dgamma (D,), dL/dbeta (D,)).

Compare with exercise 4: the same formula along a different axis. gamma and beta are shared by every
row -- what does that mean for their gradients?
Reading: docs/backward/layernorm.md. Check your answer with `minidl lab check`.
"""

import numpy as np

from minidl.autograd import Function

EPS = 1e-5


class LayerNorm(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta):
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        inv_std = 1 / np.sqrt(var + EPS)
        x_hat = (x - mean) * inv_std
        ctx.save_for_backward(x, gamma, x_hat, inv_std)
        return gamma * x_hat + beta

    @staticmethod
    def backward(ctx, grad):
        """Return (dL/dx, dL/dgamma, dL/dbeta)."""
        x, gamma, x_hat, inv_std = ctx.saved_tensors
        raise NotImplementedError("exercise 5: write the backward of layer norm")
