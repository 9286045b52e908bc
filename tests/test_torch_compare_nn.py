"""minidl's modules, optimizers and schedulers against PyTorch's (skipped where PyTorch is absent)."""

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl import optim
from minidl.optim import lr_scheduler

torch = pytest.importorskip("torch")


def make_pair(seed=0):
    """The same MLP in minidl and in PyTorch (float64), with the same weights copied by state_dict name."""
    minidl.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    theirs = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    ).double()
    theirs.load_state_dict({key: torch.from_numpy(value.copy()) for key, value in ours.state_dict().items()})
    return ours, theirs


OPTIMIZERS = {
    "sgd-momentum-wd": (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-2)),
    "sgd-nesterov": (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True)),
    "sgd-dampening": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.5, dampening=0.3)),
    "sgd-plain": (optim.SGD, torch.optim.SGD, dict(lr=0.2)),
    "adam": (optim.Adam, torch.optim.Adam, dict(lr=1e-2)),
    "adam-wd": (optim.Adam, torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1)),
    "adam-amsgrad": (optim.Adam, torch.optim.Adam, dict(lr=1e-2, amsgrad=True)),
    "adamw": (optim.AdamW, torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_ten_steps_match_pytorch(name):
    ours_class, theirs_class, kwargs = OPTIMIZERS[name]
    ours, theirs = make_pair()
    rng = np.random.default_rng(1)
    inputs = rng.standard_normal((16, 5))
    targets = rng.integers(0, 3, 16)
    ours_optimizer = ours_class(ours.parameters(), **kwargs)
    theirs_optimizer = theirs_class(theirs.parameters(), **kwargs)
    for _ in range(10):
        ours_optimizer.zero_grad()
        ours_loss = F.cross_entropy(ours(minidl.tensor(inputs)), targets)
        ours_loss.backward()
        ours_optimizer.step()
        theirs_optimizer.zero_grad()
        theirs_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(inputs)), torch.from_numpy(targets))
        theirs_loss.backward()
        theirs_optimizer.step()
        np.testing.assert_allclose(ours_loss.item(), theirs_loss.item(), rtol=0, atol=1e-6)
    theirs_weights = theirs.state_dict()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, theirs_weights[key].numpy(), rtol=0, atol=1e-6, err_msg=key)
    # the optimizer's state (momentum buffers, Adam moments) matches too, under PyTorch's names
    theirs_state = theirs_optimizer.state_dict()["state"]
    ours_state = ours_optimizer.state_dict()["state"]
    assert sorted(ours_state) == sorted(theirs_state)
    for index, values in ours_state.items():
        assert set(values) == set(theirs_state[index])
        for key, value in values.items():
            np.testing.assert_allclose(value, np.asarray(theirs_state[index][key]), rtol=0, atol=1e-6)


def test_scheduled_sgd_matches_pytorch():
    ours, theirs = make_pair(3)
    ours_optimizer = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    theirs_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    ours_scheduler = lr_scheduler.CosineAnnealingLR(ours_optimizer, T_max=10)
    theirs_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(theirs_optimizer, T_max=10)
    inputs = np.random.default_rng(2).standard_normal((8, 5))
    for _ in range(10):
        ours_optimizer.zero_grad()
        (ours(minidl.tensor(inputs)) ** 2).mean().backward()
        ours_optimizer.step()
        ours_scheduler.step()
        theirs_optimizer.zero_grad()
        (theirs(torch.from_numpy(inputs)) ** 2).mean().backward()
        theirs_optimizer.step()
        theirs_scheduler.step()
    for key, value in ours.state_dict().items():
        np.testing.assert_allclose(value, theirs.state_dict()[key].numpy(), rtol=0, atol=1e-6)


def lr_sequence(module, make, epochs=25, jump=None):
    """The learning rates ``make(optimizer)`` sets over ``epochs`` steps; ``jump`` = (epoch, n) steps to epoch n."""
    parameter = nn.Parameter(minidl.zeros(2)) if module is nn else torch.nn.Parameter(torch.zeros(2))
    optimizer_class = optim.SGD if module is nn else torch.optim.SGD
    optimizer = optimizer_class([{"params": [parameter], "lr": 0.1}], lr=0.1)
    scheduler = make(optimizer)
    rates = [optimizer.param_groups[0]["lr"]]
    for epoch in range(epochs):
        optimizer.step()
        if jump is not None and epoch == jump[0]:
            scheduler.step(jump[1])
        else:
            scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    return rates, scheduler.get_last_lr()


SCHEDULERS = {
    "step": lambda s, o: s.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda s, o: s.MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3),
    "cosine": lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "cosine-to-zero": lambda s, o: s.CosineAnnealingLR(o, T_max=10),
    "linear": lambda s, o: s.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=4),
    "warmup-cosine": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.01, total_iters=2), s.CosineAnnealingLR(o, T_max=20)], milestones=[2]
    ),
    "three-phase": lambda s, o: s.SequentialLR(
        o,
        [s.LinearLR(o, start_factor=0.5, total_iters=3), s.StepLR(o, 2, 0.5), s.CosineAnnealingLR(o, T_max=5)],
        milestones=[3, 9],
    ),
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_lr_sequence_matches_pytorch(name):
    make = SCHEDULERS[name]
    ours, ours_last = lr_sequence(nn, lambda o: make(lr_scheduler, o))
    theirs, theirs_last = lr_sequence(torch, lambda o: make(torch.optim.lr_scheduler, o))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours_last, theirs_last, rtol=1e-12, atol=1e-15)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", ["step", "multistep", "cosine", "linear"])
def test_scheduler_closed_form_jump_matches_pytorch(name):
    make = SCHEDULERS[name]
    ours, _ = lr_sequence(nn, lambda o: make(lr_scheduler, o), epochs=12, jump=(4, 9))
    theirs, _ = lr_sequence(torch, lambda o: make(torch.optim.lr_scheduler, o), epochs=12, jump=(4, 9))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_repr_and_state_dict_keys_match_pytorch():
    ours = nn.Sequential(
        nn.Flatten(),
        nn.Linear(4, 3),
        nn.ReLU(),
        nn.ModuleList([nn.Linear(3, 3, bias=False), nn.Sequential(nn.Tanh(), nn.Sigmoid(), nn.Identity())]),
        nn.Dropout(0.25),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
        torch.nn.ReLU(),
        torch.nn.ModuleList(
            [
                torch.nn.Linear(3, 3, bias=False),
                torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Sigmoid(), torch.nn.Identity()),
            ]
        ),
        torch.nn.Dropout(0.25),
    )
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]


def test_weights_load_into_pytorch_and_give_the_same_output():
    ours, theirs = make_pair(5)
    inputs = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_allclose(
        ours(minidl.tensor(inputs)).data, theirs(torch.from_numpy(inputs)).detach().numpy(), rtol=1e-12, atol=1e-12
    )


def test_optimizer_state_dict_layout_matches_pytorch():
    ours, theirs = make_pair()
    ours_optimizer = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    theirs_optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    ours_groups = ours_optimizer.state_dict()["param_groups"]
    theirs_groups = theirs_optimizer.state_dict()["param_groups"]
    assert [group["params"] for group in ours_groups] == [group["params"] for group in theirs_groups]
    for key in ("lr", "momentum", "dampening", "weight_decay", "nesterov"):
        assert ours_groups[0][key] == theirs_groups[0][key]
