"""The eight exercises as the checker sees them: the inputs to draw, and the hints for common mistakes.

Each ``Exercise`` names its file and Function class, the names of its forward arguments, which of
them get a gradient check, a Hypothesis strategy for whole argument tuples (small shapes, float64
values away from kinks and ties), and hint functions. A hint function gets the ``Evidence`` of a
failing example and returns a sentence for the student when the wrong gradient has the shape of a
known mistake, else None. The candidate wrong gradients are computed here in NumPy, from the inputs
alone, so a hint never depends on the student's code being partly right.
"""

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

from minidl.testing import arrays, broadcastable_shapes, shapes


@dataclass
class Evidence:
    """A failing example, taken apart: arguments by name, the upstream gradient, and for every checked
    input the student's (analytic) and the finite-difference (numeric) gradient."""

    args: dict
    upstream: np.ndarray
    analytic: dict = field(default_factory=dict)
    numeric: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    class_name: str
    arguments: tuple
    checked: tuple
    examples: st.SearchStrategy
    hints: tuple = ()
    max_examples: int = 20

    @property
    def filename(self):
        return f"{self.name}.py"


def close(a, b):
    """Equal up to the tolerance a gradient check allows (a and b may be None)."""
    return a is not None and b is not None and a.shape == b.shape and np.allclose(a, b, rtol=1e-3, atol=1e-5)


def differ_only_where(evidence, name, mask):
    """True if the student's gradient for ``name`` is wrong somewhere, and only where ``mask`` is True."""
    analytic, numeric = evidence.analytic.get(name), evidence.numeric[name]
    if analytic is None or analytic.shape != numeric.shape:
        return False
    wrong = ~np.isclose(analytic, numeric, rtol=1e-3, atol=1e-5)
    return bool(wrong.any()) and bool(np.all(np.broadcast_to(mask, wrong.shape)[wrong]))


# ---- 1. sigmoid -------------------------------------------------------------------------------------


def sigmoid_of_input_instead_of_output(evidence):
    x, upstream = evidence.args["x"], evidence.upstream
    if close(evidence.analytic.get("x"), upstream * x * (1 - x)):
        return (
            "You computed x * (1 - x): the derivative is s * (1 - s) with s = sigmoid(x), the forward's output "
            "(saved as s), not the input x."
        )
    return None


def sigmoid_without_upstream(evidence):
    x = evidence.args["x"]
    s = 1 / (1 + np.exp(-x))
    if close(evidence.analytic.get("x"), s * (1 - s)):
        return "Your gradient ignores grad: by the chain rule, dL/dx = grad * ds/dx, element by element."
    return None


# ---- 2. softmax + cross-entropy --------------------------------------------------------------------


def softmax_cross_entropy_batch_mean(evidence):
    batch = evidence.args["logits"].shape[0]
    analytic, numeric = evidence.analytic.get("logits"), evidence.numeric["logits"]
    if batch > 1 and close(analytic, batch * numeric):
        return (
            f"Your gradient is N = {batch} times too large: the loss is the mean over the N examples, so each "
            "example's gradient carries a factor 1/N."
        )
    if batch > 1 and close(analytic, numeric / batch):
        return f"Your gradient is N = {batch} times too small: did you divide by N twice?"
    return None


def softmax_cross_entropy_one_hot(evidence):
    logits, upstream = evidence.args["logits"], evidence.upstream
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    analytic = evidence.analytic.get("logits")
    for scale in (upstream / len(logits), upstream, 1 / len(logits)):
        if close(analytic, scale * probs):
            return (
                "Your gradient is softmax(z) without the target: dL/dz = (softmax(z) - onehot(target)) / N "
                "-- subtract 1 at each example's target class."
            )
    return None


def scalar_upstream_ignored(evidence):
    analytic, numeric, upstream = evidence.analytic.get("logits"), evidence.numeric["logits"], evidence.upstream
    if abs(float(upstream)) > 1e-3 and close(analytic, numeric / upstream):
        return "Your gradient ignores grad (dL/dloss, a scalar here): multiply by it, as the chain rule says."
    return None


# ---- 3. matmul ---------------------------------------------------------------------------------------


def matmul_transposed(evidence):
    for name in ("a", "b"):
        analytic, numeric = evidence.analytic.get(name), evidence.numeric[name]
        if analytic is not None and close(np.swapaxes(analytic, -1, -2), numeric) and not close(analytic, numeric):
            return (
                f"Your gradient for {name} is the right one transposed: for C = A @ B, dL/dA = dL/dC @ B^T and "
                "dL/dB = A^T @ dL/dC (transpose the last two axes, np.swapaxes(..., -1, -2))."
            )
    return None


# ---- 4 and 5. batch norm and layer norm -------------------------------------------------------------


def normalization_paths(axis):
    """Hint for an x-gradient that leaves out the path through the mean, the variance, or both.

    With x_hat = (x - mean) * inv_std and g = dL/dx_hat = grad * gamma, the right answer is
    inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), means along ``axis``.
    """

    def hint(evidence):
        x, gamma, upstream = evidence.args["x"], evidence.args["gamma"], evidence.upstream
        analytic = evidence.analytic.get("x")
        mean = x.mean(axis=axis, keepdims=True)
        inv_std = 1 / np.sqrt(x.var(axis=axis, keepdims=True) + 1e-5)
        x_hat = (x - mean) * inv_std
        g = upstream * gamma
        through_mean = g.mean(axis=axis, keepdims=True)
        through_var = x_hat * (g * x_hat).mean(axis=axis, keepdims=True)
        along = "the batch (axis 0)" if axis == 0 else "the row (the last axis)"
        if close(analytic, inv_std * g):
            return (
                "Your dL/dx is gamma * inv_std * grad, as if the mean and the variance were constants: the terms "
                f"through the mean and the variance are missing. Both are computed from x along {along}, so "
                "dL/dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)) with g = grad * gamma."
            )
        if close(analytic, inv_std * (g - through_mean)):
            return (
                "The term through the variance is missing: the variance depends on x too; add "
                "-inv_std * x_hat * mean(g * x_hat) with g = grad * gamma."
            )
        if close(analytic, inv_std * (g - through_var)):
            return "The term through the mean is missing: the mean depends on x too; add -inv_std * mean(g)."
        return None

    return hint


# ---- 6 and 7. convolution and pooling ---------------------------------------------------------------


def window_coverage(height, width, kernel_size, stride, padding=0):
    """How many windows cover each input pixel (an array of shape (height, width))."""
    padded = np.zeros((height + 2 * padding, width + 2 * padding))
    out_h = (padded.shape[0] - kernel_size) // stride + 1
    out_w = (padded.shape[1] - kernel_size) // stride + 1
    for p in range(kernel_size):
        for q in range(kernel_size):
            padded[p : p + stride * out_h : stride, q : q + stride * out_w : stride] += 1
    return padded[padding : padding + height, padding : padding + width]


OVERWRITE = (
    "Your dL/dx is wrong only at pixels that several {what} reach: such a pixel gets the sum of their "
    "gradients. Use += (or np.add.at) where you wrote =."
)


def conv_overwrite(evidence):
    x, weight = evidence.args["x"], evidence.args["weight"]
    kernel = weight.shape[2]
    coverage = window_coverage(*x.shape[2:], kernel, evidence.args["stride"], evidence.args["padding"])
    if differ_only_where(evidence, "x", coverage * weight.shape[0] > 1):
        return OVERWRITE.format(what="(window, output channel) pairs")
    return None


def conv_bias(evidence):
    analytic = evidence.analytic.get("bias")
    if evidence.upstream.shape[0] > 1 and close(analytic, evidence.upstream[0].sum(axis=(1, 2))):
        return "dL/dbias must sum grad over the whole batch too, not only the first example: grad.sum(axis=(0, 2, 3))."
    return None


def pool_overwrite(evidence):
    x = evidence.args["x"]
    coverage = window_coverage(*x.shape[2:], evidence.args["kernel_size"], evidence.args["stride"])
    if differ_only_where(evidence, "x", coverage > 1):
        return OVERWRITE.format(what="overlapping windows")
    return None


def pool_whole_window(evidence):
    x, upstream = evidence.args["x"], evidence.upstream
    kernel_size, stride = evidence.args["kernel_size"], evidence.args["stride"]
    out_h, out_w = upstream.shape[2:]
    spread = np.zeros_like(x)
    for p in range(kernel_size):
        for q in range(kernel_size):
            spread[:, :, p : p + stride * out_h : stride, q : q + stride * out_w : stride] += upstream
    if close(evidence.analytic.get("x"), spread):
        return (
            "You sent each window's gradient to every element of the window: only the largest element reached "
            "the output, so only it gets the gradient; the others get 0."
        )
    return None


# ---- 8. residual block -------------------------------------------------------------------------------


def residual_paths(evidence):
    analytic, numeric, upstream = evidence.analytic.get("x"), evidence.numeric["x"], evidence.upstream
    if close(analytic, numeric - upstream):
        return (
            "The skip path is missing from dL/dx: out = x + F(x), so x gets grad directly through '+ x' and, "
            "added to it, the gradient through the branch F."
        )
    if close(analytic, upstream):
        return "dL/dx has only the skip path (grad): add the gradient through the branch, tanh(x @ W1) @ W2."
    return None


# ---- strategies --------------------------------------------------------------------------------------

side = st.integers(1, 4)


@st.composite
def sigmoid_examples(draw):
    return (draw(arrays(shapes(max_dims=3, max_side=4), low=-4, high=4)),)


@st.composite
def softmax_cross_entropy_examples(draw):
    batch, classes = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    target = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    return draw(arrays((batch, classes), low=-3, high=3)), target


@st.composite
def matmul_examples(draw):
    batch_a, batch_b = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    n, k, m = draw(side), draw(side), draw(side)
    return draw(arrays(batch_a + (n, k))), draw(arrays(batch_b + (k, m)))


# A ramp along the normalised axis: Hypothesis shrinks values towards 0, and a constant batch (or row) has
# zero variance, where the term through the variance vanishes and the hints could not tell mistakes apart.


@st.composite
def batch_norm_examples(draw):
    batch, features = draw(st.integers(2, 5)), draw(st.integers(1, 3))
    x = draw(arrays((batch, features))) + np.arange(batch)[:, None]
    return x, draw(arrays((features,))), draw(arrays((features,)))


@st.composite
def layer_norm_examples(draw):
    leading, features = draw(shapes(min_dims=1, max_dims=2, max_side=3)), draw(st.integers(2, 5))
    x = draw(arrays(leading + (features,))) + np.arange(features)
    return x, draw(arrays((features,))), draw(arrays((features,)))


@st.composite
def conv2d_examples(draw):
    batch, in_channels, out_channels = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel, stride, padding = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    smallest = max(1, kernel - 2 * padding)
    height, width = draw(st.integers(smallest, 5)), draw(st.integers(smallest, 5))
    return (
        draw(arrays((batch, in_channels, height, width))),
        draw(arrays((out_channels, in_channels, kernel, kernel))),
        draw(arrays((out_channels,))),
        stride,
        padding,
    )


@st.composite
def max_pool2d_examples(draw):
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    height, width = draw(st.integers(kernel, 5)), draw(st.integers(kernel, 5))
    size = batch * channels * height * width
    # distinct values 0.25 apart: no ties for the maximum, and far more apart than the finite-difference step
    order = draw(st.permutations(range(size)))
    x = (np.array(order, dtype=np.float64) * 0.25 - size * 0.125).reshape(batch, channels, height, width)
    return x, kernel, stride


@st.composite
def residual_examples(draw):
    batch, features, hidden = draw(side), draw(side), draw(side)
    return (
        draw(arrays((batch, features))),
        draw(arrays((features, hidden), low=-1, high=1)),
        draw(arrays((hidden, features), low=-1, high=1)),
    )


EXERCISES = (
    Exercise(
        "sigmoid",
        "sigmoid",
        "Sigmoid",
        ("x",),
        ("x",),
        sigmoid_examples(),
        (sigmoid_of_input_instead_of_output, sigmoid_without_upstream),
    ),
    Exercise(
        "softmax_cross_entropy",
        "softmax + cross-entropy",
        "SoftmaxCrossEntropy",
        ("logits", "target"),
        ("logits",),
        softmax_cross_entropy_examples(),
        (softmax_cross_entropy_batch_mean, softmax_cross_entropy_one_hot, scalar_upstream_ignored),
    ),
    Exercise(
        "matmul", "matmul with broadcasting", "MatMul", ("a", "b"), ("a", "b"), matmul_examples(), (matmul_transposed,)
    ),
    Exercise(
        "batch_norm",
        "batch norm (training mode)",
        "BatchNorm",
        ("x", "gamma", "beta"),
        ("x", "gamma", "beta"),
        batch_norm_examples(),
        (normalization_paths(axis=0),),
    ),
    Exercise(
        "layer_norm",
        "layer norm",
        "LayerNorm",
        ("x", "gamma", "beta"),
        ("x", "gamma", "beta"),
        layer_norm_examples(),
        (normalization_paths(axis=-1),),
    ),
    Exercise(
        "conv2d",
        "2-D convolution",
        "Conv2d",
        ("x", "weight", "bias", "stride", "padding"),
        ("x", "weight", "bias"),
        conv2d_examples(),
        (conv_overwrite, conv_bias),
        max_examples=15,
    ),
    Exercise(
        "max_pool2d",
        "max pooling",
        "MaxPool2d",
        ("x", "kernel_size", "stride"),
        ("x",),
        max_pool2d_examples(),
        (pool_whole_window, pool_overwrite),
    ),
    Exercise(
        "residual",
        "residual block",
        "ResidualBlock",
        ("x", "W1", "W2"),
        ("x", "W1", "W2"),
        residual_examples(),
        (residual_paths,),
    ),
)
