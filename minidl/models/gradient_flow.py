"""Gradient-flow instrumentation: how large is each layer's weight gradient?

In a deep plain network the gradient norms spread over orders of magnitude from the first layers
to the last (or die out everywhere without batch norm); with residual connections they stay within
about one order. ``gradient_norms`` reads them after a ``backward()``; ``gradient_flow`` runs one
forward and backward on a batch first.
"""

from collections import OrderedDict

import numpy as np

from minidl import nn
from minidl.nn import functional as F


def gradient_norms(model, layer_type=None):
    """``{layer_name: ||dL/dW||}`` for the weight of every ``layer_type`` module (Conv2d by default), in
    forward order, from the gradients the last ``backward()`` left. Layers without a gradient are skipped."""
    layer_type = nn.Conv2d if layer_type is None else layer_type
    norms = OrderedDict()
    for name, module in model.named_modules():
        if isinstance(module, layer_type) and module.weight.grad is not None:
            norms[name] = float(np.linalg.norm(module.weight.grad))
    return norms


def gradient_flow(model, inputs, targets, loss_fn=F.cross_entropy, layer_type=None):
    """Forward ``inputs``, backward ``loss_fn(output, targets)``, and return ``gradient_norms(model)``.

    The model is left as it was: its gradients are cleared before and after, and its buffers (batch
    norm's running statistics, which a forward in train mode updates) are put back.
    """
    saved_buffers = [(buffer, buffer.data.copy()) for buffer in model.buffers()]
    model.zero_grad()
    loss_fn(model(inputs), targets).backward()
    norms = gradient_norms(model, layer_type)
    model.zero_grad()
    for buffer, data in saved_buffers:
        buffer.data = data
    return norms
