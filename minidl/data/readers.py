"""Readers for datasets a user already has on disk, in their standard formats.

* MNIST and Fashion-MNIST: IDX files (``train-images-idx3-ubyte.gz`` ...), gzipped or not.
  An IDX file is a big-endian header (magic number 2051 for images, 2049 for labels, then one
  4-byte size per dimension) followed by the unsigned bytes.
* CIFAR-10: the "python version" batches (``data_batch_1`` ... ``data_batch_5``, ``test_batch``),
  pickled dicts with ``b'data'`` (N x 3072 uint8: 1024 red, 1024 green, 1024 blue values, row by
  row) and ``b'labels'``. Unpickling can run arbitrary code, so these are read with an unpickler
  that refuses every global except the three NumPy needs to rebuild an array.

Every reader checks what it reads and names the file and the problem when something is wrong.
"""

import gzip
import importlib
import io
import pickle
from pathlib import Path

import numpy as np

from minidl.data.dataset import TensorDataset

IDX_IMAGES, IDX_LABELS = 2051, 2049
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    """The file's bytes, decompressed if it is gzipped (recognised by its first two bytes, not its name)."""
    raw = Path(path).read_bytes()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, gzip.BadGzipFile) as error:
        raise ValueError(f"{path}: the gzip stream is damaged or truncated ({error})") from None


def read_idx(path, expected_magic=None):
    """An IDX file as a uint8 array: images (N, rows, cols) for magic 2051, labels (N,) for magic 2049."""
    data = _read_bytes(path)
    if len(data) < 8:
        raise ValueError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (IDX_IMAGES, IDX_LABELS):
        raise ValueError(
            f"{path}: not an MNIST IDX file: magic number {magic} (0x{magic:08x}); expected {IDX_IMAGES} "
            f"(images) or {IDX_LABELS} (labels)"
        )
    if expected_magic is not None and magic != expected_magic:
        kinds = {IDX_IMAGES: "images", IDX_LABELS: "labels"}
        raise ValueError(f"{path}: holds {kinds[magic]} (magic {magic}), expected {kinds[expected_magic]}")
    ndim = 3 if magic == IDX_IMAGES else 1
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated header ({len(data)} bytes, the header alone needs {header_size})")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    body = len(data) - header_size
    if body != expected:
        problem = "truncated" if body < expected else "longer than its header says"
        raise ValueError(
            f"{path}: file is {problem}: the header says shape {shape} ({expected} bytes of data), "
            f"but {body} bytes follow the header"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find(root, stem):
    for candidate in (Path(root) / stem, Path(root) / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{root}: found neither {stem} nor {stem}.gz")


def load_mnist(root, train=True):
    """MNIST or Fashion-MNIST (same file names and format) from the directory ``root``.

    Returns a ``TensorDataset`` of images (N, 1, 28, 28) float32 in [0, 1] and labels int64.
    """
    images_file, labels_file = (_find(root, stem) for stem in MNIST_FILES[train])
    images = read_idx(images_file, IDX_IMAGES)
    labels = read_idx(labels_file, IDX_LABELS)
    if len(images) != len(labels):
        raise ValueError(f"{images_file} holds {len(images)} images but {labels_file} {len(labels)} labels")
    return TensorDataset((images.astype(np.float32) / 255)[:, None], labels.astype(np.int64))


load_fashion_mnist = load_mnist


# What a pickled NumPy array refers to (``numpy.core`` was renamed ``numpy._core`` in NumPy 2), and
# ``_codecs.encode``, with which Python 3 writes bytes at pickle protocol 2 (it only converts text to bytes).
SAFE_NUMPY_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Loads builtin containers, numbers, bytes and NumPy arrays, and refuses every other global: pickle
    runs code only through the functions and classes it imports, so a malicious file cannot run any."""

    def find_class(self, module, name):
        if (module.replace("numpy._core", "numpy.core"), name) not in SAFE_NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch never contains it")
        for candidate in (module.replace("numpy.core", "numpy._core"), module.replace("numpy._core", "numpy.core")):
            try:
                return getattr(importlib.import_module(candidate), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError(f"this NumPy has no {module}.{name}")


def read_cifar10_batch(path):
    """One CIFAR-10 python batch: images uint8 (N, 3, 32, 32) and labels int64 (N,)."""
    try:
        with open(path, "rb") as file:
            batch = _ArrayOnlyUnpickler(io.BytesIO(file.read()), encoding="bytes").load()
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path}: not a CIFAR-10 python batch ({error})") from None
    except (EOFError, ValueError, TypeError, IndexError, AttributeError) as error:
        raise ValueError(f"{path}: damaged or truncated CIFAR-10 batch ({type(error).__name__}: {error})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: a CIFAR-10 batch is a dict, this file holds a {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: a CIFAR-10 batch has 'data' and 'labels' entries, found {sorted(map(str, batch))}")
    data, labels = np.asarray(data), np.asarray(labels)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{path}: expected {len(data)} integer labels to match 'data', got {labels.dtype} {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: CIFAR-10 labels are 0..9, found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(root, train=True):
    """CIFAR-10 from the ``cifar-10-batches-py`` directory ``root``: ``data_batch_1..5`` or ``test_batch``.

    Returns a ``TensorDataset`` of images (N, 3, 32, 32) float32 in [0, 1] and labels int64.
    """
    names = [f"data_batch_{number}" for number in range(1, 6)] if train else ["test_batch"]
    missing = [name for name in names if not (Path(root) / name).exists()]
    if missing:
        raise FileNotFoundError(f"{root}: missing CIFAR-10 batch file(s) {', '.join(missing)}")
    batches = [read_cifar10_batch(Path(root) / name) for name in names]
    images = np.concatenate([images for images, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    return TensorDataset(images.astype(np.float32) / 255, labels)
