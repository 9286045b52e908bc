"""Element-wise ops: arithmetic with broadcasting, and the functions applied to every element.

Derivations: docs/backward/elementwise.md. A binary op's inputs may have different shapes; NumPy
broadcasts them in forward, and ``sum_to_shape`` sums each gradient back to its input's shape.
Either argument of a binary op may also be a plain number (``2 * x``); it gets no gradient.
"""

import numpy as np

from minidl.autograd import Function
from minidl.ops.util import broadcast_shapes, require_float, sum_to_shape
from minidl.random import default_generator


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        broadcast_shapes("add", np.shape(a), np.shape(b))
        ctx.shapes = np.shape(a), np.shape(b)
        return np.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        """dL/da = grad, dL/db = grad, each summed back to its input's shape."""
        shape_a, shape_b = ctx.shapes
        return sum_to_shape(grad, shape_a), sum_to_shape(grad, shape_b)


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        broadcast_shapes("sub", np.shape(a), np.shape(b))
        ctx.shapes = np.shape(a), np.shape(b)
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, grad):
        """dL/da = grad, dL/db = -grad, each summed back to its input's shape."""
        shape_a, shape_b = ctx.shapes
        return sum_to_shape(grad, shape_a), sum_to_shape(-grad, shape_b)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        broadcast_shapes("mul", np.shape(a), np.shape(b))
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, grad):
        """dL/da = grad * b, dL/db = grad * a, each summed back to its input's shape."""
        a, b = ctx.saved_tensors
        grad_a = sum_to_shape(grad * b, np.shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = sum_to_shape(grad * a, np.shape(b)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        broadcast_shapes("div", np.shape(a), np.shape(b))
        ctx.save_for_backward(a, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        """dL/da = grad / b, dL/db = -grad * a / b**2, each summed back to its input's shape."""
        a, b = ctx.saved_tensors
        grad_a = sum_to_shape(grad / b, np.shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = sum_to_shape(-grad * a / (b * b), np.shape(b)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return np.negative(x)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = -grad."""
        return -grad


class Pow(Function):
    """``base ** exponent``; either may be a tensor or a number."""

    @staticmethod
    def forward(ctx, base, exponent):
        broadcast_shapes("pow", np.shape(base), np.shape(exponent))
        output = np.power(base, exponent)
        ctx.save_for_backward(base, exponent, output)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dbase = grad * exponent * base**(exponent - 1); dL/dexponent = grad * base**exponent * log(base)."""
        base, exponent, output = ctx.saved_tensors
        grad_base = grad_exponent = None
        if ctx.needs_input_grad[0]:
            grad_base = sum_to_shape(grad * exponent * np.power(base, exponent - 1), np.shape(base))
        if ctx.needs_input_grad[1]:
            grad_exponent = sum_to_shape(grad * output * np.log(base), np.shape(exponent))
        return grad_base, grad_exponent


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        require_float("exp", x)
        output = np.exp(x)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad * exp(x) (the saved output)."""
        (output,) = ctx.saved_tensors
        return grad * output


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        require_float("log", x)
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad / x."""
        (x,) = ctx.saved_tensors
        return grad / x


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        require_float("sqrt", x)
        output = np.sqrt(x)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad / (2 sqrt(x))."""
        (output,) = ctx.saved_tensors
        return grad / (2 * output)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad * sign(x) (0 at x = 0, as PyTorch)."""
        (x,) = ctx.saved_tensors
        return grad * np.sign(x)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        require_float("tanh", x)
        output = np.tanh(x)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad * (1 - tanh(x)**2)."""
        (output,) = ctx.saved_tensors
        return grad * (1 - output * output)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        require_float("sigmoid", x)
        # exp of a negative number only, so no overflow warning for large |x|
        exp_neg_abs = np.exp(-np.abs(x))
        output = np.where(x >= 0, 1 / (1 + exp_neg_abs), exp_neg_abs / (1 + exp_neg_abs)).astype(x.dtype)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad * s * (1 - s), where s = sigmoid(x)."""
        (output,) = ctx.saved_tensors
        return grad * output * (1 - output)


class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        output = np.maximum(x, 0)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad where x > 0, else 0."""
        (output,) = ctx.saved_tensors
        return grad * (output > 0)


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, min_value, max_value):
        if min_value is None and max_value is None:
            raise ValueError("clamp: give at least one of min and max")
        ctx.save_for_backward(x)
        ctx.bounds = min_value, max_value
        return np.clip(x, min_value, max_value)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad where min <= x <= max, else 0 (the clamped elements do not move)."""
        (x,) = ctx.saved_tensors
        min_value, max_value = ctx.bounds
        inside = np.ones(x.shape, dtype=bool)
        if min_value is not None:
            inside &= x >= min_value
        if max_value is not None:
            inside &= x <= max_value
        return grad * inside, None, None


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.input_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad, cast back to the input's dtype."""
        return grad.astype(ctx.input_dtype), None


class Dropout(Function):
    """Zero each element with probability p and scale the rest by 1/(1-p) (inverted dropout)."""

    @staticmethod
    def forward(ctx, x, p, training):
        if not 0 <= p <= 1:
            raise ValueError(f"dropout: probability p must be between 0 and 1, got {p}")
        if not training or p == 0:
            ctx.scale = np.ones((), dtype=x.dtype)
            return x.copy()
        keep = default_generator().random(x.shape) >= p
        scale = np.zeros((), x.dtype) if p == 1 else np.asarray(1 / (1 - p), dtype=x.dtype)
        ctx.scale = keep * scale
        return x * ctx.scale

    @staticmethod
    def backward(ctx, grad):
        """dL/dx = grad * mask / (1 - p): the same elements are dropped and scaled."""
        return grad * ctx.scale, None, None
