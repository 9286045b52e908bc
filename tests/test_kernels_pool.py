"""The Numba pooling kernels against their plain NumPy references, over a Hypothesis space of shapes."""

import contextlib
from unittest import mock

import numba
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
VALUES = st.sampled_from(["normal", "ties", "nan_and_inf"])


def _tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@contextlib.contextmanager
def threads(threaded):
    """The planes split between (up to) two threads, or all of them on the calling thread."""
    previous = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS) if threaded else 1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


@contextlib.contextmanager
def nan_filled_empty():
    """np.empty returning float arrays full of NaN: the kernels write their outputs and gradients into
    np.empty arrays, so an element they forget to write (or add to instead of writing) shows as NaN, not
    as whatever the memory happened to hold (often zeros, which would hide the mistake)."""
    empty = np.empty

    def nan_filled(*args, **kwargs):
        array = empty(*args, **kwargs)
        if array.dtype.kind == "f":
            array.fill(np.nan)
        return array

    with mock.patch.object(np, "empty", nan_filled):
        yield


def _max_pool_input(rng, shape, values, dtype):
    """Normal values; or few distinct values, so windows have tied maxima; or those with NaN and -inf
    sprinkled in (windows of only -inf, several NaNs in a window)."""
    if values == "normal":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(0, 3, shape).astype(dtype)
    if values == "nan_and_inf":
        x[rng.random(shape) < 0.5] = -np.inf
        x[rng.random(shape) < 0.15] = np.nan
    return x


def _check_max_pool(x, kernel, stride, padding, rng):
    output, positions = kernels.max_pool2d_forward(x, kernel, stride, padding)
    expected_output, expected_positions = max_pool2d_forward_reference(x, kernel, stride, padding)
    assert output.dtype == x.dtype and positions.dtype == np.uint8
    np.testing.assert_array_equal(output, expected_output)
    np.testing.assert_array_equal(positions, expected_positions)
    grad_output = rng.standard_normal(output.shape).astype(x.dtype)
    np.testing.assert_allclose(
        kernels.max_pool2d_backward(grad_output, positions, x.shape, kernel, stride, padding),
        max_pool2d_backward_reference(grad_output, expected_positions, x.shape, kernel, stride, padding),
        **_tolerance(x.dtype),
    )


@settings(deadline=None, max_examples=60)
@given(pool_geometries(), DTYPES, VALUES, st.booleans(), st.integers(0, 2**32 - 1))
def test_max_pool_matches_reference(geometry, dtype, values, threaded, seed):
    """With ties the kernel must pick the same first maximum as the reference; with NaN the last NaN."""
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = _max_pool_input(rng, (batch, channels, height, width), values, dtype)
    with threads(threaded):
        _check_max_pool(x, kernel, stride, padding, rng)


@settings(deadline=None, max_examples=40)
@given(pool_geometries(max_side=9), DTYPES, VALUES, st.booleans(), st.integers(0, 2**32 - 1))
def test_max_pool_2x2_kernel_matches_reference(geometry, dtype, values, threaded, seed):
    """2x2 windows, stride 2, no padding have their own kernel; odd sizes leave the last row or column out."""
    batch, channels, height, width = geometry[:4]
    rng = np.random.default_rng(seed)
    x = _max_pool_input(rng, (batch, channels, max(height, 2), max(width, 2)), values, dtype)
    with threads(threaded):
        _check_max_pool(x, (2, 2), (2, 2), (0, 0), rng)


def test_large_windows_have_wider_positions():
    """A 17x17 window has 289 positions: they no longer fit in uint8."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 18, 17))
    output, positions = kernels.max_pool2d_forward(x, (17, 17), (1, 1), (0, 0))
    assert positions.dtype == np.uint16
    expected_output, expected_positions = max_pool2d_forward_reference(x, (17, 17), (1, 1), (0, 0))
    np.testing.assert_array_equal(output, expected_output)
    np.testing.assert_array_equal(positions, expected_positions)
    grad_output = rng.standard_normal(output.shape)
    np.testing.assert_allclose(
        kernels.max_pool2d_backward(grad_output, positions, x.shape, (17, 17), (1, 1), (0, 0)),
        max_pool2d_backward_reference(grad_output, positions, x.shape, (17, 17), (1, 1), (0, 0)),
    )


def _check_avg_pool(x, kernel, stride, padding, divisor, rng):
    with nan_filled_empty():
        output = kernels.avg_pool2d_forward(x, kernel, stride, padding, divisor)
    assert output.dtype == x.dtype
    expected = avg_pool2d_forward_reference(x, kernel, stride, padding, divisor)
    np.testing.assert_allclose(output, expected, **_tolerance(x.dtype))
    grad_output = rng.standard_normal(output.shape).astype(x.dtype)
    with nan_filled_empty():
        grad_input = kernels.avg_pool2d_backward(grad_output, x.shape, kernel, stride, padding, divisor)
    np.testing.assert_allclose(
        grad_input,
        avg_pool2d_backward_reference(grad_output, x.shape, kernel, stride, padding, divisor),
        **_tolerance(x.dtype),
    )


@settings(deadline=None, max_examples=60)
@given(pool_geometries(), DTYPES, st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_avg_pool_matches_reference(geometry, dtype, count_include_pad, threaded, seed):
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    rows = pooling_windows(height, kernel[0], stride[0], padding[0])
    cols = pooling_windows(width, kernel[1], stride[1], padding[1])
    if count_include_pad:
        divisor = np.full((rows.shape[1], cols.shape[1]), kernel[0] * kernel[1])
    else:
        divisor = np.outer(rows[1] - rows[0], cols[1] - cols[0])
    with threads(threaded):
        _check_avg_pool(x, kernel, stride, padding, divisor, rng)


@settings(deadline=None, max_examples=40)
@given(pool_geometries(max_side=9), DTYPES, st.booleans(), st.integers(0, 2**32 - 1))
def test_avg_pool_2x2_kernel_matches_reference(geometry, dtype, threaded, seed):
    """2x2 windows, stride 2, no padding have their own kernels; odd sizes leave the last row or column out
    (its gradient must be zero). Layers pass one divisor for all windows here, but the kernels take one
    per window: a different one for each checks that each output is scaled by its own."""
    batch, channels, height, width = geometry[:4]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, max(height, 2), max(width, 2))).astype(dtype)
    divisor = rng.uniform(1.0, 5.0, (x.shape[2] // 2, x.shape[3] // 2))
    with threads(threaded):
        _check_avg_pool(x, (2, 2), (2, 2), (0, 0), divisor, rng)


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
