"""``minidl.save`` / ``minidl.load``: checkpoints (state dicts of models and optimizers) as ``.npz`` files.

Never pickle: a checkpoint is a NumPy ``.npz`` archive holding the arrays, plus one entry,
``__minidl_manifest__``, a JSON description of the nesting (dicts, lists, tuples, numbers, strings)
that refers to the arrays by name. Loading runs ``np.load(allow_pickle=False)``, so opening a file
cannot run code. Writing goes to a temporary file in the same directory, which is then renamed over
the target: a crash mid-write leaves the old checkpoint (or none), never a half-written one.
"""

import contextlib
import json
import os
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from minidl.tensor import Tensor

MANIFEST = "__minidl_manifest__"
FORMAT = "minidl-checkpoint-1"


def _encode(obj, arrays, where):
    """A JSON-able description of ``obj``; its arrays go into ``arrays`` under fresh names."""
    if isinstance(obj, (np.ndarray, np.generic, Tensor)):
        array = np.asarray(obj.data if isinstance(obj, Tensor) else obj)
        if array.dtype.hasobject:
            raise TypeError(f"minidl.save: the array at {where} holds Python objects; only numeric arrays can be saved")
        name = f"array_{len(arrays)}"
        arrays[name] = array
        kind = "tensor" if isinstance(obj, Tensor) else "scalar" if isinstance(obj, np.generic) else "array"
        return {kind: name}
    if obj is None or isinstance(obj, bool):
        return obj
    for plain in (int, float, str):  # also their subclasses (an IntEnum, ...), stored as the plain type
        if isinstance(obj, plain):
            return plain(obj)
    if isinstance(obj, (list, tuple)):
        items = [_encode(item, arrays, f"{where}[{i}]") for i, item in enumerate(obj)]
        return {"tuple" if isinstance(obj, tuple) else "list": items}
    if isinstance(obj, dict):
        pairs = [
            [_encode(key, arrays, where), _encode(value, arrays, f"{where}[{key!r}]")] for key, value in obj.items()
        ]
        return {"odict" if isinstance(obj, OrderedDict) else "dict": pairs}
    raise TypeError(
        f"minidl.save cannot store a {type(obj).__name__} (at {where}); it stores dicts, lists, tuples, numbers, "
        "strings, None, NumPy arrays and Tensors, such as the state_dict() of a model or an optimizer"
    )


def _decode(node, arrays):
    if not isinstance(node, dict):
        return node
    ((kind, content),) = node.items()
    if kind == "array":
        return arrays[content]
    if kind == "scalar":
        return arrays[content][()]
    if kind == "tensor":
        return Tensor(arrays[content])
    if kind in ("list", "tuple"):
        items = [_decode(item, arrays) for item in content]
        return tuple(items) if kind == "tuple" else items
    if kind in ("dict", "odict"):
        pairs = ((_decode(key, arrays), _decode(value, arrays)) for key, value in content)
        return OrderedDict(pairs) if kind == "odict" else dict(pairs)
    raise ValueError(f"unknown entry kind {kind!r} in the manifest")


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path`` in one step.

    A crash or an error inside the ``with`` block leaves ``path`` as it was (or absent), never half
    written: the rename at the end is atomic on every filesystem a checkpoint sensibly lives on.
    """
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_current_umask())  # mkstemp makes it private (0600); open() would not
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save(obj, path):
    """Write ``obj`` (e.g. ``model.state_dict()``, or a dict of several state dicts) to ``path`` atomically."""
    arrays = {}
    manifest = json.dumps({"format": FORMAT, "content": _encode(obj, arrays, "the top level")})
    with atomic_write(path) as file:
        np.savez(file, **{MANIFEST: np.array(manifest)}, **arrays)


def load(path):
    """Read a checkpoint written by ``minidl.save``; a damaged or foreign file raises a ValueError saying so."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if MANIFEST not in archive.files:
                raise ValueError("it has no minidl manifest (was it written by minidl.save?)")
            header = json.loads(str(archive[MANIFEST]))
            if header.get("format") != FORMAT:
                raise ValueError(f"unknown format {header.get('format')!r}, expected {FORMAT!r}")
            arrays = {name: archive[name] for name in archive.files if name != MANIFEST}
        return _decode(header["content"], arrays)
    except FileNotFoundError:
        raise
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{path} is not a readable minidl checkpoint: the file is corrupted or truncated, or was not written "
            f"by minidl.save ({type(error).__name__}: {error})"
        ) from None
