"""Exercise 8 -- a residual block.

Forward (given):  x (N, D), W1 (D, H), W2 (H, D);
                  h = tanh(x @ W1)        the branch's hidden layer, (N, H)
                  out = x + h @ W2        the branch F(x) = h @ W2, plus the skip connection "+ x"
Your task:        backward(ctx, grad) gets grad = dL/dout (N, D) and returns (dL/dx, dL/dW1, dL/dW2).

x reaches the output along two paths, through the branch and through the skip. This is the reason
deep residual networks train: think about what reaches x when the branch's gradient is tiny.
(The branch uses tanh rather than ReLU only so that gradient checks never sit on ReLU's kink.)
Reading: docs/backward/residual.md. Check your answer with `minidl lab check`.
"""

import numpy as np

from minidl.autograd import Function


class ResidualBlock(Function):
    @staticmethod
    def forward(ctx, x, W1, W2):
        h = np.tanh(x @ W1)
        ctx.save_for_backward(x, W1, W2, h)
        return x + h @ W2

    @staticmethod
    def backward(ctx, grad):
        """Return (dL/dx, dL/dW1, dL/dW2)."""
        x, W1, W2, h = ctx.saved_tensors
        raise NotImplementedError("exercise 8: write the backward of the residual block")
