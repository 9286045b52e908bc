"""clip_grad_norm_: joint norm, PyTorch's scaling formula, no change below the cap, and the same numbers as
PyTorch where it is installed."""

import numpy as np
import pytest

import minidl
from minidl.nn.utils import clip_grad_norm_


def parameters_with_grads(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    parameters = [minidl.Tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(3, 4), (4,), (2, 2)]]
    for parameter in parameters:
        parameter.grad = scale * rng.standard_normal(parameter.shape)
    return parameters


def test_clips_the_joint_norm_to_max_norm_keeping_the_direction():
    parameters = parameters_with_grads(scale=5.0)
    before = [p.grad.copy() for p in parameters]
    joint = np.sqrt(sum(np.sum(g**2) for g in before))
    returned = clip_grad_norm_(parameters, max_norm=1.0)
    assert returned == pytest.approx(joint)
    after = np.sqrt(sum(np.sum(p.grad**2) for p in parameters))
    assert after == pytest.approx(1.0, rel=1e-5)
    for old, parameter in zip(before, parameters, strict=True):
        np.testing.assert_allclose(parameter.grad, old * (1.0 / (joint + 1e-6)))


def test_leaves_small_gradients_alone_and_skips_missing_ones():
    parameters = parameters_with_grads(scale=0.01)
    parameters.append(minidl.Tensor(np.zeros(3), requires_grad=True))  # no gradient yet
    before = [p.grad.copy() for p in parameters[:-1]]
    clip_grad_norm_(parameters, max_norm=10.0)
    for old, parameter in zip(before, parameters, strict=False):
        np.testing.assert_array_equal(parameter.grad, old)
    assert parameters[-1].grad is None
    with pytest.raises(ValueError, match="max_norm must be positive"):
        clip_grad_norm_(parameters, 0)


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    for norm_type in (2.0, 1.0, float("inf")):
        ours = parameters_with_grads(seed=3, scale=4.0)
        theirs = [torch.tensor(p.data, requires_grad=True) for p in ours]
        for mine, their in zip(ours, theirs, strict=True):
            their.grad = torch.tensor(mine.grad)
        total = clip_grad_norm_(ours, 2.0, norm_type=norm_type)
        torch_total = torch.nn.utils.clip_grad_norm_(theirs, 2.0, norm_type=norm_type)
        assert total == pytest.approx(torch_total.item(), rel=1e-10)
        for mine, their in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(mine.grad, their.grad.numpy(), rtol=1e-10)
