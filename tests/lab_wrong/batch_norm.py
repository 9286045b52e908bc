"""Typical wrong answer to exercise 4: the mean and the variance treated as constants."""

from minidl.lab import load_template


class BatchNorm(load_template("batch_norm").BatchNorm):
    @staticmethod
    def backward(ctx, grad):
        _, gamma, x_hat, inv_std = ctx.saved_tensors
        return grad * gamma * inv_std, (grad * x_hat).sum(axis=0), grad.sum(axis=0)
