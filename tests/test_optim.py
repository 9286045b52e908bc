"""Optimizers and schedulers against NumPy re-statements of PyTorch's documented algorithms."""

import math

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import optim
from minidl.optim import lr_scheduler

GRADIENTS = [np.array([0.5, -1.0, 2.0]), np.array([-0.3, 0.1, 1.0]), np.array([0.2, 0.2, -0.4]), np.zeros(3)]
START = np.array([1.0, -2.0, 0.5])


def run(optimizer_class, **kwargs):
    """Parameters after feeding GRADIENTS to the optimizer, step by step."""
    parameter = nn.Parameter(START.copy())
    optimizer = optimizer_class([parameter], **kwargs)
    for grad in GRADIENTS:
        parameter.grad = grad.copy()
        optimizer.step()
    return parameter.data


def sgd_reference(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buffer = START.copy(), None
    for g in GRADIENTS:
        g = g + weight_decay * p
        if momentum:
            buffer = g.copy() if buffer is None else momentum * buffer + (1 - dampening) * g
            g = g + momentum * buffer if nesterov else buffer
        p = p - lr * g
    return p


def adam_reference(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, amsgrad=False):
    p, m, v, v_max = START.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADIENTS, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - betas[0] ** t)
        v_hat = (v_max if amsgrad else v) / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01),
        dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
    ],
)
def test_sgd_matches_the_algorithm(kwargs):
    np.testing.assert_allclose(run(optim.SGD, **kwargs), sgd_reference(**kwargs), rtol=1e-12)


@pytest.mark.parametrize(
    "optimizer_class, kwargs, reference",
    [
        (optim.Adam, dict(lr=0.01), dict(lr=0.01)),
        (
            optim.Adam,
            dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1),
            dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.1),
        ),
        (optim.Adam, dict(lr=0.01, amsgrad=True), dict(lr=0.01, amsgrad=True)),
        (optim.AdamW, dict(lr=0.01), dict(lr=0.01, weight_decay=0.01, decoupled=True)),
        (optim.AdamW, dict(lr=0.1, weight_decay=0.5), dict(lr=0.1, weight_decay=0.5, decoupled=True)),
    ],
)
def test_adam_matches_the_algorithm(optimizer_class, kwargs, reference):
    np.testing.assert_allclose(run(optimizer_class, **kwargs), adam_reference(**reference), rtol=1e-12)


def test_float32_parameters_stay_float32():
    parameter = nn.Parameter(np.ones(3, dtype=np.float32))
    optimizer = optim.Adam([parameter], lr=0.1, weight_decay=0.1)
    parameter.grad = np.ones(3, dtype=np.float32)
    optimizer.step()
    assert parameter.dtype == np.float32 and optimizer.state[parameter]["exp_avg"].dtype == np.float32


def test_parameters_without_gradient_are_skipped_and_zero_grad():
    used, unused = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    optimizer = optim.SGD([used, unused], lr=1.0, momentum=0.9)
    used.grad = np.ones(2)
    optimizer.step()
    np.testing.assert_array_equal(unused.data, np.ones(2))
    assert unused not in optimizer.state and used in optimizer.state
    optimizer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(used.grad, np.zeros(2))
    optimizer.zero_grad()
    assert used.grad is None


def test_param_groups_have_their_own_hyperparameters():
    first, second = nn.Parameter(np.ones(1)), nn.Parameter(np.ones(1))
    optimizer = optim.SGD([{"params": [first]}, {"params": second, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [group["lr"] for group in optimizer.param_groups] == [0.1, 0.5]
    assert optimizer.param_groups[1]["momentum"] == 0.9
    first.grad, second.grad = np.ones(1), np.ones(1)
    optimizer.step()
    np.testing.assert_allclose([first.data[0], second.data[0]], [0.9, 0.5])


def test_closure_returns_the_loss():
    parameter = nn.Parameter(np.array([3.0]))
    optimizer = optim.SGD([parameter], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (parameter * parameter).sum()
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == 9.0
    np.testing.assert_allclose(parameter.data, [3.0 - 0.25 * 6.0])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: optim.SGD(p, lr=-1), "learning rate"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "betas"),
        (lambda p: optim.SGD([], lr=0.1), "empty"),
        (lambda p: optim.SGD(p + p, lr=0.1), "more than one"),
        (lambda p: optim.SGD(p[0], lr=0.1), "iterable"),
    ],
)
def test_bad_arguments_are_refused(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make([nn.Parameter(np.ones(1))])


def train_steps(model, optimizer, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        optimizer.zero_grad()
        (model(minidl.tensor(rng.standard_normal((4, 3)))) ** 2).mean().backward()
        optimizer.step()


@pytest.mark.parametrize(
    "make",
    [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), lambda p: optim.Adam(p, lr=0.01, amsgrad=True)],
)
def test_resuming_from_state_dicts_equals_uninterrupted_training(make, tmp_path):
    minidl.manual_seed(0)
    model = nn.Linear(3, 2, dtype=np.float64)
    optimizer = make(model.parameters())
    train_steps(model, optimizer, 3, seed=1)
    minidl.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "checkpoint.npz")
    train_steps(model, optimizer, 3, seed=2)

    minidl.manual_seed(5)
    resumed = nn.Linear(3, 2, dtype=np.float64)
    resumed_optimizer = make(resumed.parameters())
    checkpoint = minidl.load(tmp_path / "checkpoint.npz")
    resumed.load_state_dict(checkpoint["model"])
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    train_steps(resumed, resumed_optimizer, 3, seed=2)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)


def test_optimizer_load_state_dict_checks_before_changing():
    parameter = nn.Parameter(np.ones(3))
    optimizer = optim.SGD([parameter], lr=0.1, momentum=0.9)
    parameter.grad = np.ones(3)
    optimizer.step()
    state = optimizer.state_dict()
    state["state"][0]["momentum_buffer"] = np.zeros(4)
    state["param_groups"][0]["lr"] = 7.0
    with pytest.raises(ValueError, match=r"momentum_buffer.*\(4,\).*\(3,\)"):
        optimizer.load_state_dict(state)
    assert optimizer.param_groups[0]["lr"] == 0.1
    np.testing.assert_array_equal(optimizer.state[parameter]["momentum_buffer"], np.ones(3))
    with pytest.raises(ValueError, match="parameter group"):
        optim.SGD([{"params": [parameter]}, {"params": [nn.Parameter(np.ones(1))]}]).load_state_dict(state)


def lrs(make, epochs):
    optimizer = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    scheduler = make(optimizer)
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(epochs):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert scheduler.get_last_lr() == [rates[-1]]
    return np.array(rates)


def test_step_and_multistep_lr():
    epochs = np.arange(13)
    np.testing.assert_allclose(lrs(lambda o: lr_scheduler.StepLR(o, 4, gamma=0.5), 12), 0.5 ** (epochs // 4))
    expected = 0.1 ** np.array([np.sum(e >= np.array([3, 7, 7])) for e in epochs])
    np.testing.assert_allclose(lrs(lambda o: lr_scheduler.MultiStepLR(o, [7, 3, 7]), 12), expected)


def test_cosine_annealing_follows_the_closed_form_and_climbs_back():
    epochs = np.arange(21)
    rates = lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.1), 20)
    np.testing.assert_allclose(rates, 0.1 + 0.9 * (1 + np.cos(np.pi * epochs / 10)) / 2, rtol=1e-12, atol=1e-15)


def test_linear_warm_up_then_cosine_decay():
    total, warm_up = 12, 2
    rates = lrs(
        lambda o: lr_scheduler.SequentialLR(
            o,
            [
                lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=warm_up),
                lr_scheduler.CosineAnnealingLR(o, T_max=total - warm_up),
            ],
            milestones=[warm_up],
        ),
        total,
    )
    warm = [0.01 + 0.99 * epoch / warm_up for epoch in range(warm_up)]
    decay = [(1 + math.cos(math.pi * epoch / (total - warm_up))) / 2 for epoch in range(total - warm_up + 1)]
    np.testing.assert_allclose(rates, warm + decay, rtol=1e-12, atol=1e-15)
    assert rates[-1] < 1e-15


def test_scheduler_state_dict_round_trip(tmp_path):
    optimizer = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    scheduler = lr_scheduler.SequentialLR(
        optimizer, [lr_scheduler.LinearLR(optimizer, 0.5, total_iters=3), lr_scheduler.StepLR(optimizer, 2)], [3]
    )
    for _ in range(4):
        scheduler.step()
    minidl.save({"scheduler": scheduler.state_dict(), "optimizer": optimizer.state_dict()}, tmp_path / "s.npz")
    expected = [scheduler.step() or optimizer.param_groups[0]["lr"] for _ in range(4)]

    fresh_optimizer = optim.SGD([nn.Parameter(np.ones(1))], lr=1.0)
    fresh = lr_scheduler.SequentialLR(
        fresh_optimizer,
        [lr_scheduler.LinearLR(fresh_optimizer, 0.5, total_iters=3), lr_scheduler.StepLR(fresh_optimizer, 2)],
        [3],
    )
    saved = minidl.load(tmp_path / "s.npz")
    fresh_optimizer.load_state_dict(saved["optimizer"])
    fresh.load_state_dict(saved["scheduler"])
    assert [fresh.step() or fresh_optimizer.param_groups[0]["lr"] for _ in range(4)] == expected
