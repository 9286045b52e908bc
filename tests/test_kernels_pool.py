"""The Numba pooling kernels against their plain NumPy references, over a Hypothesis space of shapes."""

import numpy as np
from _conv_strategies import pool_geometries
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.kernels import pool as kernels
from minidl.kernels.pool import adaptive_windows, pooling_windows
from minidl.kernels.pool_reference import (
    avg_pool2d_backward_reference,
    avg_pool2d_forward_reference,
    max_pool2d_backward_reference,
    max_pool2d_forward_reference,
    window_mean_backward_reference,
    window_mean_forward_reference,
)

DTYPES = st.sampled_from([np.float32, np.float64])


def _tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@settings(deadline=None, max_examples=60)
@given(pool_geometries(), DTYPES, st.booleans(), st.integers(0, 2**32 - 1))
def test_max_pool_matches_reference(geometry, dtype, with_ties, seed):
    """With ties (few distinct values) the kernel must pick the same first maximum as argmax does."""
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    shape = (batch, channels, height, width)
    x = (rng.integers(0, 3, shape) if with_ties else rng.standard_normal(shape)).astype(dtype)
    output, argmax = kernels.max_pool2d_forward(x, kernel, stride, padding)
    expected_output, expected_argmax = max_pool2d_forward_reference(x, kernel, stride, padding)
    np.testing.assert_array_equal(output, expected_output)
    np.testing.assert_array_equal(argmax, expected_argmax)
    grad_output = rng.standard_normal(output.shape).astype(dtype)
    np.testing.assert_allclose(
        kernels.max_pool2d_backward(grad_output, argmax, x.shape),
        max_pool2d_backward_reference(grad_output, expected_argmax, x.shape),
        **_tolerance(dtype),
    )


@settings(deadline=None, max_examples=60)
@given(pool_geometries(), DTYPES, st.booleans(), st.integers(0, 2**32 - 1))
def test_avg_pool_matches_reference(geometry, dtype, count_include_pad, seed):
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    rows = pooling_windows(height, kernel[0], stride[0], padding[0])
    cols = pooling_windows(width, kernel[1], stride[1], padding[1])
    if count_include_pad:
        divisor = np.full((rows.shape[1], cols.shape[1]), kernel[0] * kernel[1])
    else:
        divisor = np.outer(rows[1] - rows[0], cols[1] - cols[0])
    output = kernels.avg_pool2d_forward(x, kernel, stride, padding, divisor)
    assert output.dtype == dtype
    expected = avg_pool2d_forward_reference(x, kernel, stride, padding, divisor)
    np.testing.assert_allclose(output, expected, **_tolerance(dtype))
    grad_output = rng.standard_normal(output.shape).astype(dtype)
    np.testing.assert_allclose(
        kernels.avg_pool2d_backward(grad_output, x.shape, kernel, stride, padding, divisor),
        avg_pool2d_backward_reference(grad_output, x.shape, kernel, stride, padding, divisor),
        **_tolerance(dtype),
    )


@st.composite
def _windows(draw):
    """Windows as adaptive pooling makes them (or any other divisor), with their divisors."""
    batch, channels, height, width = draw(pool_geometries())[:4]
    rows = adaptive_windows(height, draw(st.integers(1, 2 * height)))
    cols = adaptive_windows(width, draw(st.integers(1, 2 * width)))
    divisor = draw(st.sampled_from([1.0, 3.0])) + np.outer(rows[1] - rows[0], cols[1] - cols[0])
    return (batch, channels, height, width), rows, cols, divisor


@settings(deadline=None, max_examples=60)
@given(_windows(), DTYPES, st.integers(0, 2**32 - 1))
def test_window_mean_matches_reference(windows, dtype, seed):
    shape, rows, cols, divisor = windows
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    output = kernels.window_mean_forward(x, rows, cols, divisor)
    assert output.dtype == dtype
    np.testing.assert_allclose(output, window_mean_forward_reference(x, rows, cols, divisor), **_tolerance(dtype))
    grad_output = rng.standard_normal(output.shape).astype(dtype)
    np.testing.assert_allclose(
        kernels.window_mean_backward(grad_output, rows, cols, divisor, shape),
        window_mean_backward_reference(grad_output, rows, cols, divisor, shape),
        **_tolerance(dtype),
    )


def test_adaptive_windows_follow_pytorchs_formula():
    """Rows floor(i*H/out) .. ceil((i+1)*H/out), by hand for H=5, out=3: [0,2), [1,4), [3,5)."""
    np.testing.assert_array_equal(adaptive_windows(5, 3), [[0, 1, 3], [2, 4, 5]])
    np.testing.assert_array_equal(pooling_windows(5, 3, 2, 1), [[0, 1, 3], [2, 4, 5]])
