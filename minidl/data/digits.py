"""The embedded dataset: UCI optical-recognition handwritten digits, 1,797 grayscale 8x8 images of 0-9.

Source: E. Alpaydin and C. Kaynak (1998), "Optical Recognition of Handwritten Digits", UCI Machine
Learning Repository, https://archive.ics.uci.edu/dataset/80 (CC BY 4.0); the same 1,797 images that
scikit-learn bundles. ``digits.npz`` next to this file holds the images as uint8 counts 0..16
(shape (1797, 8, 8)), the labels (uint8) and the fixed train/test split, with no pickled objects.
"""

import gzip
from pathlib import Path

import numpy as np

from minidl.data.dataset import TensorDataset

DIGITS_FILE = Path(__file__).with_name("digits.npz")
TRAIN_SIZE, SPLIT_SEED = 1300, 0
MAX_INTENSITY = 16  # each pixel counts the set bits in a 4x4 block of the original 32x32 bitmap


def load_digits():
    """The digits as ``(train_dataset, test_dataset)``, two ``TensorDataset``s of ``(images, labels)``.

    Images are float32 in [0, 1] (the counts 0..16 divided by 16), shaped (N, 1, 8, 8); labels are
    int64 in 0..9. The split is fixed: 1,300 training and 497 test images, stratified by class (each
    digit is split in the same 1300:497 proportion, within one image) and drawn once with seed 0; the
    indices are stored in the file, so every installation and NumPy version gets the same split.
    Get plain arrays with ``train.tensors[0].numpy()``.
    """
    with np.load(DIGITS_FILE, allow_pickle=False) as stored:
        images, labels = stored["images"], stored["labels"]
        train_indices, test_indices = stored["train_indices"], stored["test_indices"]
    images = (images.astype(np.float32) / MAX_INTENSITY).reshape(-1, 1, 8, 8)
    labels = labels.astype(np.int64)
    return (
        TensorDataset(images[train_indices], labels[train_indices]),
        TensorDataset(images[test_indices], labels[test_indices]),
    )


def stratified_split(labels, train_size, seed):
    """Sorted (train_indices, test_indices): each class gets its share of ``train_size`` (largest remainder)."""
    classes, counts = np.unique(labels, return_counts=True)
    shares = counts * train_size / len(labels)
    quotas = np.floor(shares).astype(np.int64)
    quotas[np.argsort(quotas - shares, kind="stable")[: train_size - quotas.sum()]] += 1
    order = np.random.default_rng(seed).permutation(len(labels))
    train = np.concatenate(
        [order[labels[order] == label][:quota] for label, quota in zip(classes, quotas, strict=True)]
    )
    train = np.sort(train)
    return train, np.setdiff1d(np.arange(len(labels)), train)


def build_digits_file(csv_path, npz_path=DIGITS_FILE):
    """Convert the UCI CSV (64 counts 0..16 then the label, one image a line, gzipped) into ``digits.npz``.

    Run once by the maintainers; kept here so that the shipped file can be rebuilt and checked.
    """
    with gzip.open(csv_path, "rt") as text:
        rows = np.loadtxt(text, delimiter=",", dtype=np.int64)
    if rows.ndim != 2 or rows.shape[1] != 65 or rows[:, :64].min() < 0 or rows[:, :64].max() > MAX_INTENSITY:
        raise ValueError(f"{csv_path}: expected lines of 64 counts in 0..16 and a label, got shape {rows.shape}")
    labels = rows[:, 64].astype(np.uint8)
    train_indices, test_indices = stratified_split(labels, TRAIN_SIZE, SPLIT_SEED)
    np.savez_compressed(
        npz_path,
        images=rows[:, :64].astype(np.uint8).reshape(-1, 8, 8),
        labels=labels,
        train_indices=train_indices.astype(np.uint16),
        test_indices=test_indices.astype(np.uint16),
    )
