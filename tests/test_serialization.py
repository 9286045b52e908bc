"""minidl.save / minidl.load: exact round trips, no pickle, atomic writes, clear errors on damaged files."""

import json
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import optim


def model():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, dtype=np.float64))


def assert_same(loaded, original):
    """Equal values, and equal types all the way down (dict vs OrderedDict, tuple vs list, dtypes)."""
    assert type(loaded) is type(original)
    if isinstance(original, dict):
        assert list(loaded) == list(original)
        for key in original:
            assert type(key) is type([k for k in loaded if k == key][0])
            assert_same(loaded[key], original[key])
    elif isinstance(original, (list, tuple)):
        assert len(loaded) == len(original)
        for a, b in zip(loaded, original, strict=True):
            assert_same(a, b)
    elif isinstance(original, (np.ndarray, np.generic)):
        assert loaded.dtype == original.dtype and loaded.shape == original.shape
        np.testing.assert_array_equal(loaded, original)
    elif isinstance(original, float) and np.isnan(original):
        assert np.isnan(loaded)
    else:
        assert loaded == original


def test_model_and_optimizer_state_dicts_round_trip_exactly(tmp_path):
    network = model()
    optimizer = optim.Adam(network.parameters(), lr=0.01)
    network(minidl.randn(2, 3)).sum().backward()
    optimizer.step()
    checkpoint = {"model": network.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}
    minidl.save(checkpoint, tmp_path / "checkpoint.npz")
    loaded = minidl.load(tmp_path / "checkpoint.npz")
    assert_same(loaded, checkpoint)
    assert isinstance(loaded["model"], OrderedDict) and 0 in loaded["optimizer"]["state"]


def test_every_kind_of_value_round_trips(tmp_path):
    value = {
        "numbers": [1, -2.5, float("inf"), float("nan"), True, None, 2**70],
        "tuple": (0.9, 0.999),
        (1, "two"): "tuple key",
        3: np.float32(1.5),
        "arrays": [np.arange(6, dtype=np.int16).reshape(2, 3), np.zeros((0, 4)), np.array(True)],
        "text": "ünïcode",
    }
    minidl.save(value, tmp_path / "values")
    assert_same(minidl.load(tmp_path / "values"), value)
    tensor = minidl.tensor([1.0, 2.0])
    minidl.save(tensor, tmp_path / "tensor")
    loaded = minidl.load(tmp_path / "tensor")
    assert isinstance(loaded, minidl.Tensor) and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.data, tensor.data)


def test_the_file_is_plain_npz_without_pickled_objects(tmp_path):
    minidl.save({"model": model().state_dict()}, tmp_path / "plain.npz")
    with np.load(tmp_path / "plain.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    assert not any(array.dtype.hasobject for array in arrays.values())
    manifest = json.loads(str(arrays["__minidl_manifest__"]))
    assert manifest["format"] == "minidl-checkpoint-1"


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a set \(at the top level\['bad'\]\)"):
        minidl.save({"bad": {1, 2}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="Python objects"):
        minidl.save(np.array([object()]), tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: data[:-30],
        lambda data: data[:1000] + bytes(255 - b for b in data[1000:1200]) + data[1200:],
        lambda data: b"not a checkpoint at all",
    ],
)
def test_damaged_files_are_refused_clearly(tmp_path, damage):
    path = tmp_path / "damaged.npz"
    minidl.save(nn.Linear(20, 30).state_dict(), path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match="not a readable minidl checkpoint") as error:
        minidl.load(path)
    assert str(path) in str(error.value)


def test_npz_files_not_written_by_minidl_are_refused(tmp_path):
    np.savez(tmp_path / "foreign.npz", weight=np.zeros(3))
    with pytest.raises(ValueError, match="no minidl manifest"):
        minidl.load(tmp_path / "foreign.npz")


def test_a_crash_while_writing_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    original = {"weight": np.arange(3.0)}
    minidl.save(original, path)

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        minidl.save({"weight": np.zeros(3)}, path)
    monkeypatch.undo()
    assert_same(minidl.load(path), original)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]  # no temporary file left behind


def test_a_mis_shaped_checkpoint_leaves_the_model_unchanged(tmp_path):
    minidl.save(nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2)).state_dict(), tmp_path / "other.npz")
    network = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    before = network.state_dict()
    with pytest.raises(RuntimeError, match=r"0.weight.*\(5, 3\).*\(4, 3\)"):
        network.load_state_dict(minidl.load(tmp_path / "other.npz"))
    for key, value in network.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_a_loaded_model_computes_the_same_outputs(tmp_path):
    original, restored = model(), model()
    minidl.save(original.state_dict(), tmp_path / "m.npz")
    restored.load_state_dict(minidl.load(tmp_path / "m.npz"))
    x = minidl.randn(5, 3)
    np.testing.assert_array_equal(restored(x).data, original(x).data)
    assert zipfile.is_zipfile(tmp_path / "m.npz")


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    from minidl.serialization import atomic_write

    target = tmp_path / "results.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as handle:
        handle.write("half of the new cont")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]
    with atomic_write(target, "w") as handle:
        handle.write("new")
    assert target.read_text() == "new"


def test_atomic_write_gives_the_permissions_open_would(tmp_path):
    import os
    import stat

    from minidl.serialization import atomic_write

    (tmp_path / "plain.txt").write_text("x")
    with atomic_write(tmp_path / "atomic.txt", "w") as handle:
        handle.write("x")
    mode = stat.S_IMODE(os.stat(tmp_path / "atomic.txt").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode)
