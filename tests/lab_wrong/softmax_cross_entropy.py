"""Typical wrong answer to exercise 2: the gradient of the summed loss, not of its mean over the batch."""

import numpy as np

from minidl.lab import load_template


class SoftmaxCrossEntropy(load_template("softmax_cross_entropy").SoftmaxCrossEntropy):
    @staticmethod
    def backward(ctx, grad):
        _, probs, target = ctx.saved_tensors
        grad_logits = probs.copy()
        grad_logits[np.arange(len(target)), target] -= 1
        return grad * grad_logits, None
