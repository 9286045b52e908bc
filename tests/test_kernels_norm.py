"""The Numba kernels of minidl/kernels/norm.py against their NumPy references, in float32 and float64,
on the serial and on the threaded path; float64 accumulation; lazy compilation; NUMBA_DISABLE_JIT=1."""

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.kernels import norm as kernels
from minidl.kernels import norm_reference as reference
from minidl.testing import arrays

ROOT = Path(__file__).resolve().parent.parent
# float32 kernels may do element-wise arithmetic in float32: errors of a few ulp of the array's largest value
# (layer norm's dL/dx: see assert_layer_norm_grad_within_float32_rounding)
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-10}


def assert_all_close(actual, expected, dtype):
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == e.dtype
        scale = max(1.0, float(np.max(np.abs(e), initial=0.0)))
        np.testing.assert_allclose(a, e, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * scale)


@contextlib.contextmanager
def threshold(threaded):
    """Force the threaded (prange) or the serial loop whatever the input size."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(kernels, "PARALLEL_MIN_SIZE", 0 if threaded else 10**12)
        yield


@settings(deadline=None, max_examples=40)
@given(
    st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6)),
    st.sampled_from([np.float32, np.float64]),
    st.booleans(),
    st.booleans(),
    st.data(),
)
def test_batch_norm_kernels_match_reference(shape, dtype, use_batch_stats, threaded, data):
    channels = shape[1]
    x = (data.draw(arrays(shape, low=-3, high=3)) + data.draw(st.floats(-50, 50))).astype(dtype)
    grad_output = data.draw(arrays(shape)).astype(dtype)
    weight, bias = data.draw(arrays((channels,))), data.draw(arrays((channels,)))
    running_mean, running_var = data.draw(arrays((channels,))), data.draw(arrays((channels,), low=0.1, high=3))

    with threshold(threaded):
        outputs = {}
        for name, module in (("kernel", kernels), ("reference", reference)):
            mean, var = running_mean.copy(), running_var.copy()
            y, inv_std = module.batch_norm_forward(x, weight, bias, mean, var, 1e-5, use_batch_stats)
            grads = module.batch_norm_backward(grad_output, x, weight, mean, inv_std, use_batch_stats)
            outputs[name] = (y, mean, var, inv_std, *grads)
    kernel_out, reference_out = outputs["kernel"], outputs["reference"]
    assert_all_close(kernel_out[:1], reference_out[:1], dtype)  # y
    np.testing.assert_allclose(kernel_out[1], reference_out[1], rtol=1e-12, atol=1e-12)  # mean
    np.testing.assert_allclose(kernel_out[2], reference_out[2], rtol=1e-9, atol=1e-12)  # var
    np.testing.assert_allclose(kernel_out[3], reference_out[3], rtol=1e-6)  # inv_std
    assert_all_close(kernel_out[4:5], reference_out[4:5], dtype)  # grad_input
    scale = np.abs(grad_output).sum() + 1
    np.testing.assert_allclose(kernel_out[5], reference_out[5], rtol=1e-6, atol=1e-9 * scale)  # grad_weight
    np.testing.assert_allclose(kernel_out[6], reference_out[6], rtol=1e-9, atol=1e-12 * scale)  # grad_bias


@settings(deadline=None, max_examples=40)
@given(
    st.tuples(st.integers(1, 7), st.integers(1, 20)),
    st.sampled_from([np.float32, np.float64]),
    st.booleans(),
    st.data(),
)
def test_layer_norm_kernels_match_reference(shape, dtype, threaded, data):
    size = shape[1]
    x = (data.draw(arrays(shape, low=-3, high=3)) + data.draw(st.floats(-50, 50))).astype(dtype)
    grad_output = data.draw(arrays(shape)).astype(dtype)
    weight, bias = data.draw(arrays((size,))), data.draw(arrays((size,)))

    with threshold(threaded):
        kernel_forward = kernels.layer_norm_forward(x, weight, bias, 1e-5)
        reference_forward = reference.layer_norm_forward(x, weight, bias, 1e-5)
        kernel_backward = kernels.layer_norm_backward(grad_output, x, weight, *kernel_forward[1:])
        reference_backward = reference.layer_norm_backward(grad_output, x, weight, *reference_forward[1:])
    assert_all_close(kernel_forward[:1], reference_forward[:1], dtype)
    np.testing.assert_allclose(kernel_forward[1], reference_forward[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kernel_forward[2], reference_forward[2], rtol=1e-6)
    if dtype == np.float64:
        assert_all_close(kernel_backward[:1], reference_backward[:1], dtype)
    else:
        assert_layer_norm_grad_within_float32_rounding(
            kernel_backward[0], reference_backward[0], grad_output, x, weight
        )
    scale = np.abs(grad_output).sum() + 1
    np.testing.assert_allclose(kernel_backward[1], reference_backward[1], rtol=1e-6, atol=1e-9 * scale)
    np.testing.assert_allclose(kernel_backward[2], reference_backward[2], rtol=1e-9, atol=1e-12 * scale)


def assert_layer_norm_grad_within_float32_rounding(actual, expected, grad_output, x, weight):
    """The float32 kernel computes dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)) element by element in
    float32. Where those three terms nearly cancel (always, for rows of one or two values), rounding them
    leaves an error of a few float32 ulps *of the terms*, which can be large next to dx itself. So the
    bound here is per element: 16 ulps (2^-20) of inv_std * (|g| + |mean(g)| + |x_hat * mean(g * x_hat)|).
    (PyTorch's float32 layer norm is off by up to 5% of max |dx| on the same inputs.)"""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(x64.var(axis=1, keepdims=True) + 1e-5)
    x_hat = (x64 - mean) * inv_std
    g = grad_output.astype(np.float64) * weight
    mean_g, mean_g_xhat = g.mean(axis=1, keepdims=True), (g * x_hat).mean(axis=1, keepdims=True)
    terms = inv_std * (np.abs(g) + np.abs(mean_g) + np.abs(x_hat * mean_g_xhat))
    assert actual.dtype == expected.dtype == np.float32
    error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    # the reference rounds its float64 result to float32 too: half an ulp of the result on top
    bound = 2.0**-20 * terms + 2.0**-24 * np.abs(expected) + 1e-30
    worst = np.unravel_index(np.argmax(error / bound), error.shape)
    assert np.all(error <= bound), f"dx{worst}: error {error[worst]:.3g} exceeds the float32 bound {bound[worst]:.3g}"


def test_float32_layer_norm_keeps_its_accuracy_when_the_mean_is_far_from_zero():
    # rows of mean 1000 and spread 0.01: rounding the mean to float32 alone would put 6e-3 of error into
    # x_hat; the kernels subtract it as (x - mean_hi) - mean_lo and stay within float32 rounding of x_hat
    generator = np.random.default_rng(3)
    x = (1000 + 0.01 * generator.standard_normal((64, 256))).astype(np.float32)
    grad_output = generator.standard_normal(x.shape).astype(np.float32)
    weight, bias = generator.standard_normal(256), generator.standard_normal(256)
    for threaded in (False, True):
        with threshold(threaded):
            y, mean, inv_std = kernels.layer_norm_forward(x, weight, bias, 1e-5)
            grad_input = kernels.layer_norm_backward(grad_output, x, weight, mean, inv_std)[0]
        expected_y, *_ = reference.layer_norm_forward(x, weight, bias, 1e-5)
        expected_grad = reference.layer_norm_backward(grad_output, x, weight, mean, inv_std)[0]
        np.testing.assert_allclose(y, expected_y, rtol=0, atol=1e-5 * np.abs(expected_y).max())
        assert_layer_norm_grad_within_float32_rounding(grad_input, expected_grad, grad_output, x, weight)


@pytest.mark.parametrize("use_batch_stats", [True, False])
def test_batch_norm_large_input_takes_the_threaded_path_and_matches(use_batch_stats):
    generator = np.random.default_rng(0)
    x = (generator.standard_normal((128, 3, 32, 24)) * 2 + 1).astype(np.float32).reshape(128, 3, -1)
    assert x.size >= kernels.PARALLEL_MIN_SIZE
    grad_output = generator.standard_normal(x.shape).astype(np.float32)
    weight, bias = generator.standard_normal(3), generator.standard_normal(3)
    results = []
    for module in (kernels, reference):
        mean, var = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.5, 4.0])
        y, inv_std = module.batch_norm_forward(x, weight, bias, mean, var, 1e-5, use_batch_stats)
        results.append(
            (y, mean, var, *module.batch_norm_backward(grad_output, x, weight, mean, inv_std, use_batch_stats))
        )
    for kernel_value, reference_value in zip(*results, strict=True):
        np.testing.assert_allclose(kernel_value, reference_value, rtol=2e-5, atol=2e-5)


def test_float32_statistics_are_accumulated_in_float64():
    # 2^18 values with mean 1000 and spread 0.01: float32 sums of x and x^2 would lose every digit of the variance
    generator = np.random.default_rng(1)
    x = (1000 + 0.01 * generator.standard_normal((256, 1, 1024))).astype(np.float32)
    mean, var = np.empty(1), np.empty(1)
    kernels.batch_norm_forward(x, np.ones(1), np.zeros(1), mean, var, 1e-5, True)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(), rtol=1e-12)
    np.testing.assert_allclose(var, exact.var(), rtol=1e-6)
    _, row_mean, row_inv_std = kernels.layer_norm_forward(x.reshape(256, 1024), np.ones(1024), np.zeros(1024), 0.0)
    np.testing.assert_allclose(row_mean, exact.reshape(256, 1024).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(row_inv_std, 1 / exact.reshape(256, 1024).std(axis=1), rtol=1e-6)


def run_python(code, **env):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_minidl_compiles_no_norm_kernel():
    output = run_python(
        """
        import minidl, minidl.nn
        from minidl.kernels import norm
        compiled = [name for name, value in vars(norm).items() if getattr(value, "signatures", None)]
        print("compiled:", compiled)
        """
    )
    assert output.strip() == "compiled: []"


def test_layers_work_with_numba_jit_disabled():
    output = run_python(
        """
        import numpy as np
        import minidl
        from minidl import nn
        from minidl.kernels import norm_reference as reference

        generator = np.random.default_rng(0)
        x = minidl.Tensor(generator.standard_normal((4, 3, 2, 2)), requires_grad=True)
        layer = nn.BatchNorm2d(3).double()
        y = layer(x)
        y.backward(np.ones(y.shape))
        expected, _ = reference.batch_norm_forward(x.data.reshape(4, 3, 4), np.ones(3), np.zeros(3),
                                                   np.empty(3), np.empty(3), 1e-5, True)
        np.testing.assert_allclose(y.data.reshape(4, 3, 4), expected, rtol=1e-12)
        z = nn.LayerNorm(4).double()(minidl.Tensor(generator.standard_normal((5, 4)), requires_grad=True))
        z.backward(np.ones(z.shape))
        print("ok")
        """,
        NUMBA_DISABLE_JIT="1",
    )
    assert output.strip() == "ok"
