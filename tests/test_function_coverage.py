"""Meta-test: every Function in the minidl package has a gradient check.

How it works:
- It imports every module of the ``minidl`` package (``pkgutil.walk_packages``) and collects every
  subclass of ``minidl.autograd.Function`` defined there, except names starting with ``_`` (private
  bases such as ``_Extremum``, which are not ops themselves).
- It imports every ``tests/test_*.py`` module and takes the union of their module-level ``GRADCHECKED``
  sets.
- It fails, listing them, if some Function is in no ``GRADCHECKED`` set.

To add a Function: write its Hypothesis gradcheck test in your own test module and register the class
there, at module level::

    GRADCHECKED = {Conv2dFunction}          # the Function classes this module gradchecks

(tests/test_ops_gradcheck.py derives its set from its ``CASES`` registry.) A test module must only list
Functions that it really runs through ``minidl.gradcheck``.
"""

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest

import minidl
from minidl import ops
from minidl.autograd import Function

TESTS_DIR = Path(__file__).resolve().parent


def functions_in_package(package):
    """Public Function subclasses defined in ``package`` or any of its submodules."""
    found = set()
    for module_info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for name, member in vars(module).items():
            if (
                inspect.isclass(member)
                and issubclass(member, Function)
                and member is not Function
                and member.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.add(member)
    return found


def gradchecked_functions(tests_dir=TESTS_DIR):
    """The union of the ``GRADCHECKED`` sets of every tests/test_*.py module."""
    if str(tests_dir) not in sys.path:
        sys.path.insert(0, str(tests_dir))
    registered = set()
    for path in sorted(tests_dir.glob("test_*.py")):
        try:
            # under pytest this returns the module it already imported (same name), not a second copy
            module = importlib.import_module(path.stem)
        except pytest.skip.Exception:
            continue  # a module skipped as a whole (optional dependency missing) registers nothing
        registered |= set(getattr(module, "GRADCHECKED", ()))
    return registered


def test_the_collector_finds_the_ops_and_skips_private_bases():
    found = functions_in_package(minidl)
    assert {ops.Add, ops.MatMul, ops.GetItem, ops.CrossEntropy, ops.Max} <= found
    assert all(not cls.__name__.startswith("_") for cls in found)
    assert Function not in found


def test_every_function_has_a_gradcheck_test():
    unchecked = functions_in_package(minidl) - gradchecked_functions()
    listing = "\n".join(sorted(f"  {cls.__module__}.{cls.__qualname__}" for cls in unchecked))
    assert not unchecked, (
        f"{len(unchecked)} Function(s) have no gradcheck test:\n{listing}\n"
        "Add a Hypothesis test running minidl.gradcheck on each, and list the class in the module-level "
        "GRADCHECKED set of that test module (see this file's docstring)."
    )


def test_an_unregistered_function_is_reported(tmp_path, monkeypatch):
    package = tmp_path / "fake_ops_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "layers.py").write_text(
        "from minidl.autograd import Function\n"
        "class Checked(Function):\n    pass\n"
        "class Unchecked(Function):\n    pass\n"
        "class _PrivateBase(Function):\n    pass\n"
    )
    tests_dir = tmp_path / "fake_tests"
    tests_dir.mkdir()
    (tests_dir / "test_fake_layers.py").write_text(
        "from fake_ops_package.layers import Checked\nGRADCHECKED = {Checked}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(tests_dir))
    fake_package = importlib.import_module("fake_ops_package")

    found = functions_in_package(fake_package)
    assert sorted(cls.__name__ for cls in found) == ["Checked", "Unchecked"]
    unchecked = found - gradchecked_functions(tests_dir)
    assert [cls.__name__ for cls in unchecked] == ["Unchecked"]
