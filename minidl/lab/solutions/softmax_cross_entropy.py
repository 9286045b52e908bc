"""Solution to exercise 2: minidl's own cross_entropy (minidl/ops/loss.py), run on the saved logits."""

from minidl.lab import library_gradients, load_template
from minidl.nn import functional as F


class SoftmaxCrossEntropy(load_template("softmax_cross_entropy").SoftmaxCrossEntropy):
    @staticmethod
    def backward(ctx, grad):
        logits, _, target = ctx.saved_tensors
        (grad_logits,) = library_gradients(lambda z: F.cross_entropy(z, target), [logits], grad)
        return grad_logits, None
