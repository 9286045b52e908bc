"""Typical wrong answer to exercise 1: a sign error, s * (s - 1) instead of s * (1 - s)."""

from minidl.lab import load_template


class Sigmoid(load_template("sigmoid").Sigmoid):
    @staticmethod
    def backward(ctx, grad):
        _, s = ctx.saved_tensors
        return grad * s * (s - 1)
