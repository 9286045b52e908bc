"""``minidl.data``: datasets, the DataLoader, the embedded digits and readers for MNIST and CIFAR-10 files."""

from minidl.data.dataset import DataLoader, Dataset, TensorDataset, default_collate
from minidl.data.digits import load_digits
from minidl.data.readers import load_cifar10, load_mnist, read_cifar10_batch, read_idx

__all__ = [
    "DataLoader",
    "Dataset",
    "TensorDataset",
    "default_collate",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "read_cifar10_batch",
    "read_idx",
]
