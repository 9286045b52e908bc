"""``gradcheck``: compare the gradients your backward() computes with central finite differences.

How it works, why float64 and why a random upstream gradient: docs/gradcheck.md. In short, for a
random fixed ``v`` of the output's shape it checks the gradient of ``L(x) = sum(fn(x) * v)``:
analytic by backward(gradient=v), numeric by ``(L(x + eps e_i) - L(x - eps e_i)) / (2 eps)`` for every
element i of every input that requires grad. A random ``v`` (not all ones, as ``.sum()`` would use)
makes every output element count with a different weight, so mistakes that cancel under a plain sum
(in a normalisation, say) still show.
"""

import inspect

import numpy as np

from minidl.autograd import backward, no_grad
from minidl.tensor import Tensor


class GradcheckError(RuntimeError):
    """A gradient check failed. The attributes say where: ``input_index``, ``input_name``, ``index``
    (of the worst element; None in fast mode), ``analytic``, ``numeric`` and ``relative_error``."""

    def __init__(
        self, message, input_index=None, input_name=None, index=None, analytic=None, numeric=None, relative_error=None
    ):
        super().__init__(message)
        self.input_index, self.input_name, self.index = input_index, input_name, index
        self.analytic, self.numeric, self.relative_error = analytic, numeric, relative_error


def _input_names(fn, count):
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return [f"input {i}" for i in range(count)]
    names = []
    for i in range(count):
        if i < len(parameters) and parameters[i].kind in (
            parameters[i].POSITIONAL_ONLY,
            parameters[i].POSITIONAL_OR_KEYWORD,
        ):
            names.append(parameters[i].name)
        else:
            names.append(f"input {i}")
    return names


def _float_outputs(result):
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    tensors = [out for out in outputs if isinstance(out, Tensor) and np.issubdtype(out.dtype, np.floating)]
    if not tensors:
        raise TypeError(f"gradcheck: fn must return a floating-point Tensor (or a tuple of them), got {result!r}")
    return tensors


def _check_inputs(inputs, names):
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is no gradient to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} ('{names[i]}') has dtype {inputs[i].dtype}, but gradient checks need "
                "float64. Finite differences divide a tiny change in the output by a tiny step eps: float32 "
                "keeps only about 7 significant digits, so the change is mostly rounding error and the "
                "numeric gradient is off by percents. Convert with .double() or "
                "Tensor(array.astype(np.float64), requires_grad=True)."
            )
        if not inputs[i].is_leaf:
            raise ValueError(f"gradcheck: input {i} ('{names[i]}') must be a leaf tensor (create it, don't compute it)")
        if not inputs[i].data.flags.writeable:
            inputs[i].data = inputs[i].data.copy()
    return checked


def _analytic_gradients(fn, inputs, checked, upstream):
    saved = [inputs[i].grad for i in checked]
    for i in checked:
        inputs[i].grad = None
    try:
        for output, gradient in zip(_float_outputs(fn(*inputs)), upstream, strict=True):
            if output.requires_grad:
                backward(output, gradient, retain_graph=True)
        return {i: np.zeros(inputs[i].shape) if inputs[i].grad is None else inputs[i].grad.copy() for i in checked}
    finally:
        for i, grad in zip(checked, saved, strict=True):
            inputs[i].grad = grad


def _describe_mismatch(analytic, numeric):
    """A hint for the shapes of mistake that are easy to spot from the two gradients."""
    if not np.any(analytic):
        return "The analytic gradient is zero everywhere: does backward() return None or zeros for this input?"
    if np.allclose(analytic, -numeric, rtol=1e-3, atol=1e-6):
        return "The analytic gradient is the numeric one with the opposite sign: check a minus sign."
    ratio = np.sum(analytic * numeric) / max(np.sum(numeric * numeric), 1e-300)
    if analytic.size > 1 and abs(ratio - 1) > 1e-3 and np.allclose(analytic, ratio * numeric, rtol=1e-3, atol=1e-6):
        return f"The analytic gradient is {ratio:.4g} times the numeric one: a constant factor is off."
    if (
        analytic.ndim == 2
        and analytic.shape[0] == analytic.shape[1]
        and np.allclose(analytic.T, numeric, rtol=1e-3, atol=1e-6)
    ):
        return "The analytic gradient is the numeric one transposed: check the order of a matrix product."
    return ""


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, fast_mode=False, seed=0):
    """Check the backward of ``fn`` at ``inputs`` against central differences; True if it agrees.

    ``inputs`` is a Tensor or a tuple of arguments for ``fn``; every Tensor in it with
    requires_grad=True (in float64) is checked, element by element. ``fast_mode=True`` checks one
    random direction per input instead (two evaluations of ``fn`` per input, for large inputs).
    An element passes when |analytic - numeric| <= atol + rtol * |numeric|. On failure raises
    ``GradcheckError`` with a report, or returns False if ``raise_exception=False``.
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    names = _input_names(fn, len(inputs))
    checked = _check_inputs(inputs, names)
    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(out.shape) for out in _float_outputs(fn(*inputs))]

    def loss():
        with no_grad():
            outputs = _float_outputs(fn(*inputs))
        return sum(float(np.sum(out.data * v)) for out, v in zip(outputs, upstream, strict=True))

    if loss() != loss():
        return _fail(
            raise_exception,
            GradcheckError(
                "gradcheck: fn gives different results for the same input, so finite differences mean nothing. "
                "Seed random ops (dropout) inside fn, e.g. minidl.manual_seed(0) as its first line."
            ),
        )
    analytic = _analytic_gradients(fn, inputs, checked, upstream)
    for i in checked:
        x = inputs[i].data
        if fast_mode:
            error = _check_direction(loss, x, analytic[i], rng, eps, atol, rtol, i, names[i])
        else:
            error = _check_elements(loss, x, analytic[i], eps, atol, rtol, i, names[i])
        if error is not None:
            return _fail(raise_exception, error)
    return True


def _fail(raise_exception, error):
    if raise_exception:
        raise error
    return False


def _perturbed_difference(loss, x, index, step, eps):
    """(L(x + eps step) - L(x - eps step)) / (2 eps), changing x in place and restoring it."""
    original = x[index].copy()
    x[index] = original + eps * step
    plus = loss()
    x[index] = original - eps * step
    minus = loss()
    x[index] = original
    return (plus - minus) / (2 * eps)


def _check_elements(loss, x, analytic, eps, atol, rtol, position, name):
    numeric = np.zeros(x.shape)
    for index in np.ndindex(*x.shape):
        numeric[index] = _perturbed_difference(loss, x, index, 1.0, eps)
    error = np.abs(analytic - numeric)
    allowed = atol + rtol * np.abs(numeric)
    if np.all(error <= allowed):
        return None
    worst = np.unravel_index(np.argmax(error / allowed), x.shape) if x.ndim else ()
    relative = error[worst] / max(abs(numeric[worst]), 1e-12)
    location = f"{name}[{', '.join(str(int(k)) for k in worst)}]" if x.ndim else name
    report = [
        f"gradcheck failed for input {position} ('{name}', shape {x.shape}):",
        f"  worst element {location}: analytic gradient {analytic[worst]:.6g}, numeric gradient {numeric[worst]:.6g}",
        f"  absolute error {error[worst]:.3g}, relative error {relative:.3g} "
        f"(allowed: atol={atol:g} + rtol={rtol:g} * |numeric|)",
        f"  {int(np.sum(error > allowed))} of {x.size} elements are outside the tolerance.",
    ]
    hint = _describe_mismatch(analytic, numeric)
    if hint:
        report.append("  " + hint)
    report.append(
        f"  (analytic: your backward(); numeric: central differences with eps={eps:g}, "
        "through a random upstream gradient)"
    )
    return GradcheckError(
        "\n".join(report),
        position,
        name,
        tuple(int(k) for k in worst),
        float(analytic[worst]),
        float(numeric[worst]),
        float(relative),
    )


def _check_direction(loss, x, analytic, rng, eps, atol, rtol, position, name):
    direction = rng.standard_normal(x.shape)
    direction /= max(np.linalg.norm(direction), 1e-12)
    numeric = _perturbed_difference(loss, x, Ellipsis, direction, eps)
    projected = float(np.sum(analytic * direction))
    error = abs(projected - numeric)
    if error <= atol + rtol * abs(numeric):
        return None
    relative = error / max(abs(numeric), 1e-12)
    report = (
        f"gradcheck (fast mode) failed for input {position} ('{name}', shape {x.shape}):\n"
        f"  along a random direction u, analytic grad . u = {projected:.6g} but the numeric derivative "
        f"is {numeric:.6g} (absolute error {error:.3g}, relative error {relative:.3g}).\n"
        "  Run again with fast_mode=False to find the worst element."
    )
    return GradcheckError(report, position, name, None, projected, float(numeric), float(relative))
