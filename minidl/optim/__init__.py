"""``minidl.optim``: optimizers and learning-rate schedulers with torch.optim's names and update rules."""

from minidl.optim import lr_scheduler
from minidl.optim.adam import Adam, AdamW
from minidl.optim.optimizer import Optimizer
from minidl.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
