"""Typical wrong answer to exercise 5: dL/dx right, but gamma's and beta's gradients not summed over the rows."""

from minidl.lab import load_template


class LayerNorm(load_template("layer_norm").LayerNorm):
    @staticmethod
    def backward(ctx, grad):
        _, gamma, x_hat, inv_std = ctx.saved_tensors
        g = grad * gamma
        grad_x = inv_std * (g - g.mean(axis=-1, keepdims=True) - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
        return grad_x, grad * x_hat, grad
