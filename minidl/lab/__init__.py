"""The gradient-check lab: exercises in which students write backward passes, and the checker.

``minidl lab init DIR`` copies the exercise files (``templates/``, shipped with the package) into a
folder; ``minidl lab check [DIR]`` grades them (``minidl.lab.checker``). ``solutions/`` holds the
reference answers, which are minidl's own ops run on the arrays the exercise's forward saved.
Importing this package is cheap: Hypothesis is only imported by the checker.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

from minidl.tensor import Tensor

TEMPLATES = Path(__file__).parent / "templates"
SOLUTIONS = Path(__file__).parent / "solutions"


def copy(destination, solutions=False):
    """Copy the exercises (or, for instructors, the solutions) into ``destination``.

    Never overwrites: a file that already exists there (a student's work) is kept. Returns the lists
    of (copied, kept) paths.
    """
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    source = SOLUTIONS if solutions else TEMPLATES
    copied, kept = [], []
    for path in sorted(source.glob("*.py")) + sorted(source.glob("*.md")):
        target = destination / path.name
        if target.exists():
            kept.append(target)
        else:
            shutil.copyfile(path, target)
            copied.append(target)
    return copied, kept


def load_module(path, module_name):
    """Import the Python file at ``path`` as a fresh module called ``module_name``.

    The file's folder is on ``sys.path`` while it loads, so a student may keep helpers next to it.
    """
    path = Path(path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as a normal import does; inspect and pickle look for it there
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def load_template(name):
    """The untouched exercise module ``name`` (e.g. "batch_norm"), as shipped: its forward is the reference."""
    return load_module(TEMPLATES / f"{name}.py", f"minidl_lab_template_{name}")


def library_gradients(function, arrays, grad):
    """Gradients of ``function(*tensors)`` with respect to each of ``arrays``, by minidl's own backward.

    ``function`` takes Tensors and calls minidl ops; ``grad`` is dL/d(output). The solutions use this
    to answer an exercise with the library's op on the very arrays the exercise's forward saved.
    """
    inputs = [Tensor(array, requires_grad=True) for array in arrays]
    function(*inputs).backward(grad)
    return tuple(t.grad for t in inputs)
