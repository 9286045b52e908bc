"""Exercise 4 -- batch normalisation in training mode.

Forward (given):  x of shape (N, C); for every feature (column) c, over the batch:
                  mean = x.mean(0), var = x.var(0) (biased: divide by N), inv_std = 1 / sqrt(var + eps),
                  x_hat = (x - mean) * inv_std,  out = gamma * x_hat + beta  (gamma, beta of shape (C,)).
Your task:        backward(ctx, grad) gets grad = dL/dout of shape (N, C) and returns
                  (dL/dx (N, C), dL/dgamma (C,), dL/dbeta (C,)).

Careful: in training mode the mean and the variance are computed from x itself, so every x[i, c]
reaches the output along three paths (directly, through the mean, through the variance).
Reading: docs/backward/batchnorm.md. Check your answer with `minidl lab check`.
"""

import numpy as np

from minidl.autograd import Function

EPS = 1e-5


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta):
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        inv_std = 1 / np.sqrt(var + EPS)
        x_hat = (x - mean) * inv_std
        ctx.save_for_backward(x, gamma, x_hat, inv_std)
        return gamma * x_hat + beta

    @staticmethod
    def backward(ctx, grad):
        """Return (dL/dx, dL/dgamma, dL/dbeta)."""
        x, gamma, x_hat, inv_std = ctx.saved_tensors
        raise NotImplementedError("exercise 4: write the backward of batch norm (training mode)")
