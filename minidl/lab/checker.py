"""The lab's checker: Hypothesis-driven gradient checks of every exercise, and a report a student can act on.

For each exercise file in the folder it imports the student's Function, then lets Hypothesis draw
argument tuples (``minidl.lab.exercises``). Every example is run twice: once by calling forward and
backward directly, which catches exceptions and gradients of the wrong number or shape with a clear
message, and once through ``minidl.gradcheck`` (float64, central differences, random upstream
gradient). On a failure Hypothesis shrinks the example; the checker then recomputes the student's
and the numeric gradient on the shrunk example and asks the exercise's hint functions what the
mistake looks like. A backward that still raises NotImplementedError is "not attempted".
"""

import inspect
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings

from minidl.autograd import Context
from minidl.gradcheck import GradcheckError, _describe_mismatch, _perturbed_difference, gradcheck
from minidl.lab import load_module
from minidl.lab.exercises import EXERCISES, Evidence
from minidl.tensor import Tensor

PASS, FAIL, NOT_ATTEMPTED = "pass", "FAIL", "not attempted"
EPS = 1e-6


@dataclass
class Result:
    """One exercise's outcome: ``status`` is PASS, FAIL or NOT_ATTEMPTED; ``details`` are the report's
    lines for a failure, ``hints`` the sentences about the likely mistake."""

    exercise: object
    status: str
    details: list = field(default_factory=list)
    hints: list = field(default_factory=list)
    examples: int = 0


class StudentCodeError(Exception):
    """The student's forward or backward raised, or backward returned something that is not a gradient."""

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.hint = hint


def upstream_gradient(output):
    """The random dL/d(output) that ``gradcheck`` uses too (its default seed), so both see the same loss."""
    return np.random.default_rng(0).standard_normal(np.shape(output))


def _where_in_student_file(error, path):
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if Path(frame.filename) == path]
    if not frames:
        return ""
    return f"\n  at {path.name}, line {frames[-1].lineno}: {frames[-1].line}"


def _exception_hint(error):
    message = str(error)
    if isinstance(error, ValueError) and ("matmul" in message or "core dimension" in message):
        return (
            "A matrix product's shapes do not fit: is a factor transposed that should not be, or the other way "
            "round? Write the shape next to every array: for C = A @ B with "
            "A (n, k), B (k, m), dL/dC (n, m), the only products that fit are dL/dC @ B^T (n, k) and "
            "A^T @ dL/dC (k, m)."
        )
    if isinstance(error, ValueError) and "broadcast" in message:
        return "Two arrays' shapes do not broadcast: print the shapes of the arrays in the failing line."
    return None


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def _shape_hint(name, returned, expected):
    if _broadcasts_to(expected, returned) or np.prod(returned) > np.prod(expected):
        return (
            f"Your gradient for '{name}' is not summed over the axes along which '{name}' was broadcast or reused: "
            f"forward used each element of '{name}' many times (along a batch axis, a size-1 axis, or at every "
            "position), and every use sends a gradient back, so add them up -- sum over each axis the gradient "
            f"has and '{name}' has not (or has with size 1), e.g. minidl.ops.util.sum_to_shape(g, {name}.shape)."
        )
    return f"A gradient has its input's shape: {tuple(expected)} here."


def run_backward(exercise, function, args):
    """Call the student's forward and backward directly; return (output, {name: gradient}) for the checked
    inputs, or raise StudentCodeError (NotImplementedError passes through: "not attempted")."""
    inputs = [
        Tensor(a, requires_grad=True) if name in exercise.checked else a
        for name, a in zip(exercise.arguments, args, strict=True)
    ]
    ctx = Context(function, tuple(inputs))
    path = Path(inspect.getsourcefile(function))
    step = "forward"
    try:
        output = function.forward(
            ctx,
            *[np.array(a) if name in exercise.checked else a for name, a in zip(exercise.arguments, args, strict=True)],
        )
        upstream = upstream_gradient(output)
        step = "backward"
        grads = function.backward(ctx, upstream)
    except NotImplementedError:
        raise
    except Exception as error:
        raise StudentCodeError(
            f"{step} raised {type(error).__name__}: {error}{_where_in_student_file(error, path)}",
            _exception_hint(error),
        ) from error
    grads = grads if isinstance(grads, tuple) else (grads,)
    if len(grads) != len(args):
        raise StudentCodeError(
            f"backward returned {len(grads)} value(s), but forward takes {len(args)} argument(s) "
            f"({', '.join(exercise.arguments)}): return one gradient per argument, None for the ones "
            "that are not differentiable."
        )
    gradients = {}
    for name, value, grad in zip(exercise.arguments, args, grads, strict=True):
        if name not in exercise.checked:
            continue
        if grad is None:
            raise StudentCodeError(f"backward returned None as the gradient of '{name}'; it needs one.")
        grad = np.asarray(grad)
        if grad.shape != np.shape(value):
            raise StudentCodeError(
                f"backward returned a gradient of shape {grad.shape} for '{name}', which has shape {np.shape(value)}.",
                _shape_hint(name, grad.shape, np.shape(value)),
            )
        gradients[name] = grad.astype(np.float64)
    return output, gradients


def _gradcheck_function(exercise, function, args):
    """``fn(*checked_tensors)`` for gradcheck, with the checked arguments' names in its signature so the
    report says 'gamma' rather than 'input 1'."""
    positions = [exercise.arguments.index(name) for name in exercise.checked]

    def call(*tensors):
        full = list(args)
        for position, t in zip(positions, tensors, strict=True):
            full[position] = t
        return function.apply(*full)

    call.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY) for name in exercise.checked]
    )
    return call


def numeric_gradients(exercise, function, args, upstream):
    """Central differences of sum(forward(args) * upstream) for every checked argument."""
    args = [
        np.array(a, dtype=np.float64) if name in exercise.checked else a
        for name, a in zip(exercise.arguments, args, strict=True)
    ]

    def loss():
        return float(np.sum(function.forward(Context(function, tuple(args)), *args) * upstream))

    numeric = {}
    for name in exercise.checked:
        array = args[exercise.arguments.index(name)]
        numeric[name] = np.zeros(array.shape)
        for index in np.ndindex(*array.shape):
            numeric[name][index] = _perturbed_difference(loss, array, index, 1.0, EPS)
    return numeric


def _format_value(value, indent):
    if not isinstance(value, np.ndarray):
        return repr(value)
    text = np.array2string(value, precision=4, separator=", ", threshold=60, suppress_small=True)
    text = ("\n" + " " * indent).join(line for line in text.split("\n") if line.strip())
    return f"{text}   (shape {value.shape})" if value.ndim else text


def _example_lines(exercise, args):
    lines = ["smallest failing example (found by Hypothesis, then shrunk):"]
    for name, value in zip(exercise.arguments, args, strict=True):
        prefix = f"  {name} = "
        lines.append(prefix + _format_value(value, len(prefix)))
    return lines


def _diagnose(exercise, function, args, error):
    """Report lines and hints for the failing, shrunk example ``args`` that raised ``error``."""
    if isinstance(error, StudentCodeError):
        return [str(error), *_example_lines(exercise, args)], [error.hint] if error.hint else []
    if not isinstance(error, GradcheckError):
        detail = f"checking raised {type(error).__name__}: {error}"
        return [detail, *_example_lines(exercise, args)], []
    location = error.input_name
    if error.index:
        location += "[" + ", ".join(str(k) for k in error.index) + "]"
    shape = np.shape(args[exercise.arguments.index(error.input_name)])
    lines = [
        f"wrong gradient for input '{error.input_name}' (shape {shape})",
        *_example_lines(exercise, args),
        f"worst element {location}: your backward gives {error.analytic:.6g}, finite differences give "
        f"{error.numeric:.6g} (relative error {error.relative_error:.3g})",
    ]
    output, analytic = run_backward(exercise, function, args)
    upstream = upstream_gradient(output)
    evidence = Evidence(
        dict(zip(exercise.arguments, args, strict=True)),
        upstream,
        analytic,
        numeric_gradients(exercise, function, args, upstream),
    )
    hints = [hint for hint in (find(evidence) for find in exercise.hints) if hint]
    if not hints:
        generic = _describe_mismatch(analytic[error.input_name], evidence.numeric[error.input_name])
        hints = [generic] if generic else []
    return lines, hints


def check_exercise(exercise, folder, max_examples=None):
    """Load ``exercise`` from ``folder`` and check it; returns a Result."""
    path = (Path(folder) / exercise.filename).resolve()
    if not path.exists():
        return Result(exercise, FAIL, [f"{path} not found (`minidl lab init FOLDER` copies the exercises)"])
    try:
        module = load_module(path, f"minidl_lab_student_{exercise.name}")
    except Exception as error:
        where = f" (line {error.lineno})" if isinstance(error, SyntaxError) else _where_in_student_file(error, path)
        return Result(exercise, FAIL, [f"could not import {path.name}: {type(error).__name__}: {error}{where}"])
    function = getattr(module, exercise.class_name, None)
    if function is None:
        return Result(exercise, FAIL, [f"{path.name} has no class {exercise.class_name}; keep the name it came with"])

    state = {"not_attempted": False, "last": None, "examples": 0}

    def probe(args):
        try:
            run_backward(exercise, function, args)
        except NotImplementedError:
            state["not_attempted"] = True
        except Exception:  # a real failure: the full run below finds it again and shrinks it
            pass

    def one_example(args):
        if state["not_attempted"]:
            return
        state["last"], state["examples"] = args, state["examples"] + 1
        try:
            run_backward(exercise, function, args)
        except NotImplementedError:
            state["not_attempted"] = True
            return
        tensors = [
            Tensor(np.array(a, dtype=np.float64), requires_grad=True)
            for name, a in zip(exercise.arguments, args, strict=True)
            if name in exercise.checked
        ]
        gradcheck(_gradcheck_function(exercise, function, args), tuple(tensors))

    _with_examples(exercise, probe, max_examples=1)()  # one example tells an untouched exercise
    if state["not_attempted"]:
        return Result(exercise, NOT_ATTEMPTED)
    try:
        _with_examples(exercise, one_example, max_examples or exercise.max_examples)()
    except Exception as error:
        lines, hints = _diagnose(exercise, function, state["last"], error)
        return Result(exercise, FAIL, lines, hints, state["examples"])
    if state["not_attempted"]:
        return Result(exercise, NOT_ATTEMPTED, examples=state["examples"])
    return Result(exercise, PASS, examples=state["examples"])


def _with_examples(exercise, test, max_examples):
    """``test`` run by Hypothesis on ``max_examples`` argument tuples: reproducible (derandomized, no
    example database), quiet, shrinking the first failure it finds and raising its exception."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        phases=(Phase.generate, Phase.shrink),  # no explain phase: it costs seconds and says little here
    )(given(exercise.examples)(test))


def check_lab(folder=".", exercises=EXERCISES, max_examples=None):
    """Check every exercise in ``folder``; a list of Results in the exercises' order."""
    return [check_exercise(exercise, folder, max_examples) for exercise in exercises]


def format_report(results):
    lines = []
    width = max(len(result.exercise.title) for result in results)
    for number, result in enumerate(results, start=1):
        exercise = result.exercise
        label = f"{number}. {exercise.title:<{width}}  ({exercise.filename})"
        if result.status == PASS:
            lines.append(f"  pass           {label}: {result.examples} random examples")
        elif result.status == NOT_ATTEMPTED:
            lines.append(f"  not attempted  {label}")
        else:
            lines.append(f"  FAIL           {label}")
            for detail in result.details:
                lines += ["      " + line for line in detail.split("\n")]
            for hint in result.hints:
                lines.append(textwrap.fill(hint, 110, initial_indent="      hint: ", subsequent_indent=" " * 12))
    passed = sum(result.status == PASS for result in results)
    lines.append(f"{passed}/{len(results)} exercises pass")
    return "\n".join(lines)


def main(folder="."):
    """Check the lab in ``folder``, print the report; exit status 0 only if every exercise passes."""
    folder = Path(folder)
    if not folder.is_dir():
        print(f"minidl lab check: {folder} is not a folder")
        return 2
    print(f"Checking the gradient lab in {folder.resolve()}")
    results = check_lab(folder)
    print(format_report(results))
    return 0 if all(result.status == PASS for result in results) else 1
