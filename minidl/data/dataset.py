"""Datasets and the DataLoader, with torch.utils.data's names and behaviour.

A dataset is anything with ``__len__`` and ``__getitem__`` (one sample, e.g. an ``(image, label)``
pair). The DataLoader groups samples into batches, stacking each field into one Tensor; shuffling
draws from minidl's generator, so ``minidl.manual_seed`` makes the order repeatable.
"""

import math
from collections.abc import Mapping

import numpy as np

from minidl.random import default_generator
from minidl.tensor import Tensor


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} has no __getitem__()")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} has no __len__()")


class TensorDataset(Dataset):
    """Samples are rows of the given tensors (or arrays): ``dataset[i] == (images[i], labels[i])``."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in tensors)
        sizes = [len(t.data) if t.ndim else None for t in self.tensors]
        if None in sizes or len(set(sizes)) != 1:
            shapes = ", ".join(str(t.shape) for t in self.tensors)
            raise ValueError(
                f"TensorDataset: every tensor needs the same first dimension (one row a sample), got {shapes}"
            )

    def __getitem__(self, index):
        return tuple(Tensor(t.data[index]) for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0].data)

    def batch(self, indices):
        """The samples at ``indices`` as one batch (fancy indexing: no per-sample Python loop)."""
        return tuple(Tensor(t.data[indices]) for t in self.tensors)


def default_collate(samples):
    """Stack a list of samples into a batch: tensors and arrays along a new first axis, numbers into a
    1-d array (ints as int64, floats as float64, as PyTorch), tuples and dicts field by field."""
    first = samples[0]
    if isinstance(first, Mapping):
        return {key: default_collate([sample[key] for sample in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in samples):
            raise ValueError(f"DataLoader: samples have different numbers of fields, e.g. {len(first)} and others")
        return tuple(default_collate(list(field)) for field in zip(*samples, strict=True))
    if isinstance(first, (Tensor, np.ndarray, np.generic, int, float, bool)):
        arrays = [np.asarray(sample.data if isinstance(sample, Tensor) else sample) for sample in samples]
        shapes = {array.shape for array in arrays}
        if len(shapes) > 1:
            raise ValueError(
                f"DataLoader: cannot stack samples of different shapes {sorted(shapes)} into one batch; "
                "make every sample the same shape, or pass a collate_fn"
            )
        batch = np.stack(arrays)
        if isinstance(first, float):
            batch = batch.astype(np.float64)
        return Tensor(batch)
    raise TypeError(f"DataLoader: don't know how to batch samples of type {type(first).__name__}; pass a collate_fn")


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples.

    ``shuffle=True`` draws a new order at the start of each pass from minidl's generator;
    ``drop_last=True`` skips a final batch smaller than ``batch_size``. ``len(loader)`` is the
    number of batches per pass.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None):
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader needs a dataset with __getitem__ and __len__, got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.collate_fn = default_collate if collate_fn is None else collate_fn

    def __len__(self):
        count = len(self.dataset)
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def __iter__(self):
        count = len(self.dataset)
        order = default_generator().permutation(count) if self.shuffle else np.arange(count)
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start : start + self.batch_size]
            if fast:
                yield self.dataset.batch(indices)
            else:
                yield self.collate_fn([self.dataset[int(index)] for index in indices])
