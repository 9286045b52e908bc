"""The Numba convolution kernels against their plain NumPy references, over a Hypothesis space of shapes."""

import contextlib

import numpy as np
import pytest
from _conv_strategies import conv_geometries
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.kernels import conv as kernels
from minidl.kernels.conv_reference import (
    col2im_reference,
    conv2d_backward_reference,
    conv2d_forward_reference,
    im2col_reference,
)

DTYPES = st.sampled_from([np.float32, np.float64])


def _tolerance(dtype):
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


@settings(deadline=None, max_examples=60)
@given(conv_geometries(), DTYPES, st.integers(0, 2**32 - 1))
def test_im2col_and_col2im_match_reference(geometry, dtype, seed):
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    columns = kernels.im2col(x, kernel, stride, padding)
    assert columns.dtype == dtype
    np.testing.assert_array_equal(columns, im2col_reference(x, kernel, stride, padding))
    grad_columns = rng.standard_normal(columns.shape).astype(dtype)
    np.testing.assert_allclose(
        kernels.col2im(grad_columns, x.shape, kernel, stride, padding),
        col2im_reference(grad_columns, x.shape, kernel, stride, padding),
        **_tolerance(dtype),
    )


@contextlib.contextmanager
def threads(threaded):
    """Every convolution on the thread pool, or every one on the calling thread, whatever its size."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(kernels, "PARALLEL_MIN_MULTIPLY_ADDS", 0 if threaded else 10**18)
        yield


@settings(deadline=None, max_examples=60)
@given(conv_geometries(max_batch=9), st.integers(1, 4), DTYPES, st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_fused_convolution_matches_reference(geometry, out_channels, dtype, with_bias, threaded, seed):
    """Batches up to 9 cover several chunks per thread and a short last chunk, on one thread or several."""
    with threads(threaded):
        _check_fused_convolution(geometry, out_channels, dtype, with_bias, seed)


def _check_fused_convolution(geometry, out_channels, dtype, with_bias, seed):
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    weight = rng.standard_normal((out_channels, channels, *kernel)).astype(dtype)
    bias = rng.standard_normal(out_channels).astype(dtype) if with_bias else None
    output = kernels.conv2d_forward(x, weight, bias, stride, padding)
    assert output.dtype == dtype
    np.testing.assert_allclose(output, conv2d_forward_reference(x, weight, bias, stride, padding), **_tolerance(dtype))
    grad_output = rng.standard_normal(output.shape).astype(dtype)
    got = kernels.conv2d_backward(x, weight, grad_output, stride, padding)
    expected = conv2d_backward_reference(x, weight, grad_output, stride, padding)
    for name, value, reference in zip(("input", "weight", "bias"), got, expected, strict=True):
        assert value.dtype == dtype, name
        np.testing.assert_allclose(value, reference, **_tolerance(dtype), err_msg=f"grad_{name}")


@pytest.mark.parametrize("budget", [1, kernels.COLUMN_BUFFER_BYTES])
@pytest.mark.parametrize("need_input_grad, need_weight_grad", [(True, True), (False, True), (True, False)])
def test_chunk_sizes_and_skipped_gradients(monkeypatch, budget, need_input_grad, need_weight_grad):
    """A budget of 1 byte forces one sample per chunk; skipped gradients come back as None (with threads)."""
    monkeypatch.setattr(kernels, "COLUMN_BUFFER_BYTES", budget)
    monkeypatch.setattr(kernels, "PARALLEL_MIN_MULTIPLY_ADDS", 0)
    rng = np.random.default_rng(0)
    x, weight = rng.standard_normal((7, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    output = kernels.conv2d_forward(x, weight, None, (2, 1), (1, 1))
    np.testing.assert_allclose(output, conv2d_forward_reference(x, weight, None, (2, 1), (1, 1)), rtol=1e-10)
    grad_output = rng.standard_normal(output.shape)
    got = kernels.conv2d_backward(x, weight, grad_output, (2, 1), (1, 1), need_input_grad, need_weight_grad)
    expected = conv2d_backward_reference(x, weight, grad_output, (2, 1), (1, 1))
    for needed, value, reference in zip((need_input_grad, need_weight_grad, True), got, expected, strict=True):
        if needed:
            np.testing.assert_allclose(value, reference, rtol=1e-10, atol=1e-12)
        else:
            assert value is None


@settings(deadline=None, max_examples=30)
@given(conv_geometries(max_batch=9), st.integers(0, 2**32 - 1))
def test_chunk_loops_match_the_per_sample_loops(geometry, seed):
    """``_im2col_chunk`` / ``_col2im_chunk`` loop over the samples innermost when a chunk has more samples
    than an output row has pixels: the same columns, and the same sums bit for bit (same order per pixel)."""
    batch, channels, height, width, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, height, width))
    columns = kernels.im2col(x, kernel, stride, padding)  # one sample at a time
    shape = kernels._geometry(x.shape, kernel, stride, padding)
    positions = shape[9] * shape[10]
    row_length = batch * positions
    chunk_columns = np.zeros(columns.shape[1] * row_length)
    kernels._im2col_chunk(x.reshape(-1), 0, batch, shape, chunk_columns, row_length)
    side_by_side = chunk_columns.reshape(-1, batch, positions).transpose(1, 0, 2)
    np.testing.assert_array_equal(side_by_side, columns)
    grad_x = np.zeros(x.size)
    kernels._col2im_chunk(chunk_columns, row_length, batch, shape, grad_x, 0)
    np.testing.assert_array_equal(grad_x.reshape(x.shape), kernels.col2im(columns, x.shape, kernel, stride, padding))


@pytest.mark.parametrize("min_chunk_columns", [0, kernels.MIN_CHUNK_COLUMNS])
def test_small_outputs_take_many_samples_per_chunk(monkeypatch, min_chunk_columns):
    """2x2 outputs: with MIN_CHUNK_COLUMNS a chunk holds 64 samples, so a batch of 70 ends in a short chunk."""
    monkeypatch.setattr(kernels, "MIN_CHUNK_COLUMNS", min_chunk_columns)
    rng = np.random.default_rng(3)
    x, weight, bias = rng.standard_normal((70, 3, 2, 2)), rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)
    patch, positions = 3 * 3 * 3, 2 * 2
    assert kernels.chunk_size(patch, positions, x.itemsize) == (64 if min_chunk_columns else kernels.MAX_CHUNK)
    output = kernels.conv2d_forward(x, weight, bias, (1, 1), (1, 1))
    np.testing.assert_allclose(output, conv2d_forward_reference(x, weight, bias, (1, 1), (1, 1)), rtol=1e-10)
    grad_output = rng.standard_normal(output.shape)
    got = kernels.conv2d_backward(x, weight, grad_output, (1, 1), (1, 1))
    expected = conv2d_backward_reference(x, weight, grad_output, (1, 1), (1, 1))
    for value, reference in zip(got, expected, strict=True):
        np.testing.assert_allclose(value, reference, rtol=1e-10, atol=1e-12)


@settings(deadline=None, max_examples=200)
@given(st.integers(1, 9), st.integers(0, 4), st.integers(1, 3), st.integers(0, 3), st.integers(1, 6))
def test_valid_output_range_is_where_the_input_is_read(size, kernel_offset, stride, padding, out_size):
    """[first, stop) against checking every output position (the stride-1 shortcut included)."""
    inside = [o for o in range(out_size) if 0 <= o * stride - padding + kernel_offset < size]
    first, stop = kernels.valid_output_range(size, kernel_offset, stride, padding, out_size)
    assert list(range(first, stop)) == inside


def test_noncontiguous_input_is_read_correctly():
    rng = np.random.default_rng(1)
    x = np.asfortranarray(rng.standard_normal((2, 3, 5, 6)))
    weight = rng.standard_normal((2, 3, 2, 2))[:, :, ::-1, :]
    np.testing.assert_allclose(
        kernels.conv2d_forward(x, weight, None, (1, 1), (0, 0)),
        conv2d_forward_reference(np.ascontiguousarray(x), np.ascontiguousarray(weight), None, (1, 1), (0, 0)),
        rtol=1e-10,
    )


def test_references_are_the_definition_of_convolution():
    """The reference itself, against the definition written as loops: out[n,o,p,q] = sum x_pad * w."""
    rng = np.random.default_rng(2)
    x, weight, bias = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    stride, padding = (2, 1), (1, 0)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    expected = np.empty((2, 3, 3, 3))
    for p in range(3):
        for q in range(3):
            window = padded[:, :, 2 * p : 2 * p + 3, q : q + 2]
            expected[:, :, p, q] = np.einsum("nchw,ochw->no", window, weight) + bias
    np.testing.assert_allclose(conv2d_forward_reference(x, weight, bias, stride, padding), expected, rtol=1e-12)
