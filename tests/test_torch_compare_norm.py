"""Batch norm and layer norm against PyTorch (skipped when torch is not installed): outputs, gradients of
input, weight and bias, and running statistics after several training steps, then eval outputs."""

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn import functional as F

torch = pytest.importorskip("torch")


def copy_parameters(layer, torch_layer):
    generator = np.random.default_rng(0)
    for name, parameter in layer.named_parameters():
        values = generator.standard_normal(parameter.shape) * 0.5 + 1
        parameter.data = values.astype(parameter.dtype)
        getattr(torch_layer, name).data = torch.tensor(values, dtype=torch.float64)


def compare_training_steps(layer, torch_layer, shapes):
    generator = np.random.default_rng(1)
    layer.double()
    torch_layer.double()
    copy_parameters(layer, torch_layer)
    for step, shape in enumerate(shapes):
        x = generator.standard_normal(shape) * (step + 1) + step
        upstream = generator.standard_normal(shape)
        ours = minidl.Tensor(x, requires_grad=True)
        theirs = torch.tensor(x, requires_grad=True)
        layer.zero_grad()
        torch_layer.zero_grad()
        output, torch_output = layer(ours), torch_layer(theirs)
        output.backward(upstream)
        torch_output.backward(torch.tensor(upstream))
        np.testing.assert_allclose(output.data, torch_output.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-11)
        for name, parameter in layer.named_parameters():
            np.testing.assert_allclose(parameter.grad, getattr(torch_layer, name).grad.numpy(), rtol=1e-9, atol=1e-11)
    ours_state, torch_state = layer.state_dict(), torch_layer.state_dict()
    assert list(ours_state) == list(torch_state)
    for key, value in ours_state.items():
        np.testing.assert_allclose(value, torch_state[key].numpy(), rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batch_norm2d_training_steps_then_eval_match_pytorch(momentum):
    layer, torch_layer = nn.BatchNorm2d(4, momentum=momentum), torch.nn.BatchNorm2d(4, momentum=momentum)
    compare_training_steps(layer, torch_layer, [(6, 4, 5, 5), (3, 4, 2, 7), (8, 4, 3, 3)])
    layer.eval()
    torch_layer.eval()
    x = np.random.default_rng(2).standard_normal((2, 4, 3, 3))
    np.testing.assert_allclose(layer(minidl.Tensor(x)).data, torch_layer(torch.tensor(x)).detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("shapes", [[(7, 3), (2, 3), (9, 3)], [(4, 3, 5), (2, 3, 1), (3, 3, 8)]])
def test_batch_norm1d_matches_pytorch(shapes):
    compare_training_steps(nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3), shapes)


def test_batch_norm_without_affine_or_running_stats_matches_pytorch():
    compare_training_steps(
        nn.BatchNorm1d(3, affine=False, track_running_stats=False),
        torch.nn.BatchNorm1d(3, affine=False, track_running_stats=False),
        [(5, 3), (4, 3)],
    )


def test_batch_norm_eval_gradients_match_pytorch():
    generator = np.random.default_rng(3)
    x, upstream = generator.standard_normal((4, 3, 2, 2)), generator.standard_normal((4, 3, 2, 2))
    mean, var = generator.standard_normal(3), generator.uniform(0.5, 2, 3)
    weight, bias = generator.standard_normal(3), generator.standard_normal(3)
    ours = [minidl.Tensor(a, requires_grad=True) for a in (x, weight, bias)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    F.batch_norm(ours[0], minidl.Tensor(mean), minidl.Tensor(var), ours[1], ours[2]).backward(upstream)
    torch.nn.functional.batch_norm(theirs[0], torch.tensor(mean), torch.tensor(var), theirs[1], theirs[2]).backward(
        torch.tensor(upstream)
    )
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_batch_norm_matches_pytorch():
    generator = np.random.default_rng(4)
    x = (generator.standard_normal((16, 8, 6, 6)) * 3 + 5).astype(np.float32)
    layer, torch_layer = nn.BatchNorm2d(8), torch.nn.BatchNorm2d(8)
    output = layer(minidl.Tensor(x)).data
    torch_output = torch_layer(torch.tensor(x)).detach().numpy()
    assert output.dtype == np.float32
    np.testing.assert_allclose(output, torch_output, atol=1e-5)
    np.testing.assert_allclose(layer.running_var.data, torch_layer.running_var.numpy(), rtol=1e-5)


@pytest.mark.parametrize(("shape", "normalized_shape"), [((5, 8), (8,)), ((2, 3, 4, 5), (4, 5)), ((3, 6), (3, 6))])
def test_layer_norm_matches_pytorch(shape, normalized_shape):
    compare_training_steps(nn.LayerNorm(normalized_shape), torch.nn.LayerNorm(normalized_shape), [shape, shape])


def test_layer_norm_without_bias_matches_pytorch():
    compare_training_steps(nn.LayerNorm(6, bias=False), torch.nn.LayerNorm(6, bias=False), [(4, 6)])
