"""Datasets, the DataLoader, the embedded digits, and the IDX and CIFAR-10 readers on files written here."""

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

import minidl
from minidl.data import DataLoader, Dataset, TensorDataset, load_cifar10, load_digits, load_mnist, read_idx
from minidl.data.readers import read_cifar10_batch

SHARED_CSV = Path("/work/shared/data/digits.csv.gz")


def test_tensor_dataset():
    images, labels = np.arange(24.0).reshape(6, 2, 2), np.arange(6)
    dataset = TensorDataset(images, minidl.tensor(labels))
    assert len(dataset) == 6
    image, label = dataset[4]
    np.testing.assert_array_equal(image.data, images[4])
    assert label.item() == 4
    with pytest.raises(ValueError, match=r"same first dimension.*\(6, 2, 2\), \(5,\)"):
        TensorDataset(images, labels[:5])


def collect(loader):
    return [tuple(t.data for t in batch) for batch in loader]


@pytest.mark.parametrize("size, batch_size, drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (2, 5, False)])
def test_loader_batches_cover_the_data_in_order(size, batch_size, drop_last):
    x, y = np.arange(size * 2.0).reshape(size, 2), np.arange(size)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last)
    batches = collect(loader)
    assert len(batches) == len(loader) == (size // batch_size if drop_last else -(-size // batch_size))
    seen = np.concatenate([labels for _, labels in batches])
    expected = np.arange(len(loader) * batch_size if drop_last else size)
    np.testing.assert_array_equal(seen, expected)
    for inputs, labels in batches:
        np.testing.assert_array_equal(inputs, x[labels])


def test_shuffling_follows_manual_seed_and_changes_between_passes():
    loader = DataLoader(TensorDataset(np.arange(50)), batch_size=7, shuffle=True)
    minidl.manual_seed(1)
    first, second = collect(loader), collect(loader)
    minidl.manual_seed(1)
    assert [b[0].tolist() for b in collect(loader)] == [b[0].tolist() for b in first]
    order = np.concatenate([b[0] for b in first])
    assert sorted(order) == list(range(50)) and list(order) != list(range(50))
    assert list(order) != list(np.concatenate([b[0] for b in second]))


class Squares(Dataset):
    """A generic dataset: the DataLoader must stack its samples one field at a time."""

    def __len__(self):
        return 7

    def __getitem__(self, index):
        return minidl.tensor(np.full((2, 2), float(index))), index * index


def test_generic_dataset_is_collated_like_the_fast_path():
    minidl.manual_seed(4)
    generic = collect(DataLoader(Squares(), batch_size=3, shuffle=True))
    indices = np.arange(7)
    minidl.manual_seed(4)
    fast = collect(
        DataLoader(TensorDataset(np.repeat(indices, 4).reshape(7, 2, 2).astype(np.float32), indices**2), 3, True)
    )
    for (images, squares), (fast_images, fast_squares) in zip(generic, fast, strict=True):
        np.testing.assert_array_equal(images, fast_images)
        np.testing.assert_array_equal(squares, fast_squares)
        assert squares.dtype == np.int64


def test_dict_samples_and_shape_errors():
    class Dicts(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return {"x": np.zeros(index % 2 + 1), "y": 1.5}

    with pytest.raises(ValueError, match=r"different shapes \[\(1,\), \(2,\)\]"):
        next(iter(DataLoader(Dicts(), batch_size=2)))
    batch = next(iter(DataLoader(Dicts(), batch_size=1)))
    assert set(batch) == {"x", "y"} and batch["y"].dtype == np.float64


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_loader_refuses_bad_batch_sizes(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=batch_size)


def test_loader_refuses_non_datasets():
    with pytest.raises(TypeError, match="__getitem__"):
        DataLoader(42)


# -- the embedded digits ---------------------------------------------------------------------------
def test_load_digits_split_shapes_and_values():
    train, test = load_digits()
    assert (len(train), len(test)) == (1300, 497)
    for dataset in (train, test):
        images, labels = (t.data for t in dataset.tensors)
        assert images.shape == (len(dataset), 1, 8, 8) and images.dtype == np.float32
        assert labels.dtype == np.int64 and set(labels) == set(range(10))
        assert images.min() == 0 and images.max() == 1
        np.testing.assert_array_equal(images * 16, np.round(images * 16))  # counts 0..16, scaled
    train_counts = np.bincount(train.tensors[1].data)
    all_counts = train_counts + np.bincount(test.tensors[1].data)
    assert np.all(np.abs(train_counts - all_counts * 1300 / 1797) < 1)  # stratified


def test_load_digits_is_the_uci_data_split_into_disjoint_parts():
    if not SHARED_CSV.exists():
        pytest.skip("the source CSV is not on this machine")
    rows = np.loadtxt(gzip.open(SHARED_CSV, "rt"), delimiter=",")
    train, test = load_digits()
    images = np.concatenate([train.tensors[0].data, test.tensors[0].data]).reshape(-1, 64) * 16
    labels = np.concatenate([train.tensors[1].data, test.tensors[1].data])
    ours = sorted(map(tuple, np.column_stack([images, labels]).astype(int)))
    theirs = sorted(map(tuple, rows.astype(int)))
    assert ours == theirs  # every image exactly once, with its label


# -- IDX (MNIST, Fashion-MNIST) --------------------------------------------------------------------
def idx_bytes(magic, array):
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def mnist_dir(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(2051, images)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(2049, labels))
    return tmp_path, images, labels


def test_idx_files_gzipped_or_not(mnist_dir):
    root, images, labels = mnist_dir
    np.testing.assert_array_equal(read_idx(root / "train-images-idx3-ubyte.gz"), images)
    np.testing.assert_array_equal(read_idx(root / "train-labels-idx1-ubyte"), labels)
    dataset = load_mnist(root)
    assert dataset.tensors[0].shape == (5, 1, 28, 28) and dataset.tensors[0].dtype == np.float32
    np.testing.assert_allclose(dataset.tensors[0].data[:, 0], images / 255, rtol=1e-6)
    np.testing.assert_array_equal(dataset.tensors[1].data, labels)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(root, train=False)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[:-10], r"truncated.*\(5, 28, 28\).*3920 bytes.*3910"),
        (lambda data: data + b"\x00", "longer than its header"),
        (lambda data: (2052).to_bytes(4, "big") + data[4:], "magic number 2052"),
        (lambda data: data[:10], "truncated header"),
        (lambda data: data[:6], "too short"),
        (lambda data: gzip.compress(data)[:-20], "gzip"),
    ],
)
def test_bad_idx_files_are_explained(mnist_dir, damage, message):
    root, images, _ = mnist_dir
    path = root / "bad-images"
    path.write_bytes(damage(idx_bytes(2051, images)))
    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_idx_labels_where_images_are_expected(mnist_dir):
    root, _, _ = mnist_dir
    (root / "train-images-idx3-ubyte.gz").rename(root / "moved.gz")
    (root / "train-images-idx3-ubyte").write_bytes((root / "train-labels-idx1-ubyte").read_bytes())
    with pytest.raises(ValueError, match="holds labels.*expected images"):
        load_mnist(root)


# -- CIFAR-10 --------------------------------------------------------------------------------------
def write_batch(path, count, seed, protocol=2):
    rng = np.random.default_rng(seed)
    data, labels = rng.integers(0, 256, (count, 3072)).astype(np.uint8), rng.integers(0, 10, count).tolist()
    batch = {b"batch_label": b"testing", b"labels": labels, b"data": data, b"filenames": [b"x.png"] * count}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return data, labels


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batch_round_trip(tmp_path, protocol):
    data, labels = write_batch(tmp_path / "test_batch", 4, 0, protocol)
    images, read_labels = read_cifar10_batch(tmp_path / "test_batch")
    assert images.shape == (4, 3, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[2, 1], data[2, 1024:2048].reshape(32, 32))  # the green plane, row by row
    np.testing.assert_array_equal(read_labels, labels)
    dataset = load_cifar10(tmp_path, train=False)
    np.testing.assert_allclose(dataset.tensors[0].data, images / 255, rtol=1e-6)


def test_cifar_training_batches_are_concatenated(tmp_path):
    parts = [write_batch(tmp_path / f"data_batch_{n}", 2, n) for n in range(1, 6)]
    dataset = load_cifar10(tmp_path)
    assert len(dataset) == 10
    np.testing.assert_array_equal(dataset.tensors[1].data, sum((labels for _, labels in parts), []))
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_cifar10(tmp_path)


class Touch:
    """Unpickling this calls Path.touch: a stand-in for any code a malicious file could run."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return Path.touch, (self.path,)


def test_cifar_reader_refuses_to_run_code(tmp_path):
    marker = tmp_path / "code-was-run"
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Touch(marker), b"labels": []}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load"):
        read_cifar10_batch(tmp_path / "test_batch")
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: pickle.dumps([1, 2]), "is a dict"),
        (lambda data: pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), r"\(N, 3072\)"),
        (lambda data: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "2 integer labels"),
    ],
)
def test_bad_cifar_batches_are_explained(tmp_path, content, message):
    write_batch(tmp_path / "good", 2, 0)
    path = tmp_path / "bad"
    path.write_bytes(content((tmp_path / "good").read_bytes()))
    with pytest.raises(ValueError, match=message) as error:
        read_cifar10_batch(path)
    assert str(path) in str(error.value)
