"""The CIFAR ResNet family and its plain twins: shapes, parameter counts, plain vs residual, zero-init,
gradient-flow instrumentation, and (where PyTorch is installed) equality with a PyTorch twin."""

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.models import BasicBlock, cifar_resnet, gradient_flow, gradient_norms


def expected_parameter_count(depth, widths, residual, batch_norm, in_channels, num_classes):
    """Counted from the architecture's definition, independently of the code under test."""
    blocks = (depth - 2) // 6
    count = 0

    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + (0 if batch_norm else c_out)

    def bn(c):
        return 2 * c if batch_norm else 0

    count += conv(in_channels, widths[0], 3) + bn(widths[0])
    channels = widths[0]
    for stage, width in enumerate(widths):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            count += conv(channels, width, 3) + bn(width) + conv(width, width, 3) + bn(width)
            if residual and (stride != 1 or channels != width):
                count += conv(channels, width, 1) + bn(width)
            channels = width
    return count + channels * num_classes + num_classes


@pytest.mark.parametrize("depth", [8, 20])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_output_shape_and_parameter_count(depth, residual, batch_norm):
    model = cifar_resnet(
        depth, widths=(4, 8, 16), residual=residual, batch_norm=batch_norm, in_channels=1, num_classes=7
    )
    output = model(minidl.randn(3, 1, 8, 8))
    assert output.shape == (3, 7)
    count = sum(p.numel() for p in model.parameters())
    assert count == expected_parameter_count(depth, (4, 8, 16), residual, batch_norm, 1, 7)


def test_resnet20_has_the_papers_size():
    # He et al. 2016, table 6: ResNet-20 has 0.27M parameters (projection shortcuts add 2,752 here)
    model = cifar_resnet(20)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(0.27e6, rel=0.02)


def test_state_dict_names_follow_pytorch():
    keys = list(cifar_resnet(8, widths=(4, 8, 16)).state_dict())
    assert keys[:6] == [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
    ]
    assert "layer2.0.shortcut.0.weight" in keys and "layer2.0.shortcut.1.running_var" in keys
    assert "layer1.0.shortcut.0.weight" not in keys  # identity shortcut where shapes match
    assert keys[-2:] == ["fc.weight", "fc.bias"]


def test_plain_network_differs_only_by_the_shortcuts():
    residual = cifar_resnet(8, widths=(4, 8, 16))
    plain = cifar_resnet(8, widths=(4, 8, 16), residual=False)
    residual_keys = set(residual.state_dict())
    plain_keys = set(plain.state_dict())
    assert plain_keys < residual_keys
    assert all(".shortcut." in key for key in residual_keys - plain_keys)
    plain.load_state_dict(residual.state_dict(), strict=False)
    x = minidl.randn(2, 3, 8, 8)
    residual.eval(), plain.eval()
    assert not np.allclose(residual(x).numpy(), plain(x).numpy())


def test_residual_block_adds_its_input():
    minidl.manual_seed(0)
    block = BasicBlock(4, 4, residual=True, batch_norm=False).double()
    x = minidl.rand(2, 4, 5, 5, dtype=np.float64)
    branch = block.conv2(block.conv1(x).relu())
    np.testing.assert_allclose(block(x).numpy(), np.maximum(branch.numpy() + x.numpy(), 0), rtol=1e-12)


@pytest.mark.parametrize("batch_norm", [True, False])
def test_zero_init_makes_every_block_start_as_identity(batch_norm):
    model = cifar_resnet(14, widths=(4, 4, 4), batch_norm=batch_norm, zero_init_residual=True)
    block = model.layer1[1]
    x = minidl.rand(2, 4, 6, 6)  # non-negative, like the output of the ReLU before it
    np.testing.assert_allclose(block(x).numpy(), x.numpy(), atol=1e-6)
    assert not np.any(block.bn2.weight.numpy() if batch_norm else block.conv2.weight.numpy())


def test_zero_init_leaves_plain_He_init_otherwise():
    model = cifar_resnet(8, widths=(4, 8, 16), batch_norm=False)
    weight = model.layer1[0].conv2.weight.numpy()
    assert np.std(weight) == pytest.approx(np.sqrt(2 / (4 * 9)), rel=0.35)


def test_bad_depth_and_options_are_refused():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        cifar_resnet(10)
    with pytest.raises(ValueError, match="three stage widths"):
        cifar_resnet(8, widths=(4, 8))
    with pytest.raises(ValueError, match="needs residual=True"):
        cifar_resnet(8, residual=False, zero_init_residual=True)


def test_gradient_norms_in_forward_order_and_model_left_unchanged():
    minidl.manual_seed(1)
    model = cifar_resnet(8, widths=(4, 8, 16), in_channels=1)
    images, labels = minidl.randn(16, 1, 8, 8), minidl.Tensor(np.arange(16) % 10)
    before = model.state_dict()
    norms = gradient_flow(model, images, labels)
    conv_names = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert list(norms) == conv_names
    assert all(p.grad is None for p in model.parameters())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    minidl.nn.functional.cross_entropy(model(images), labels).backward()
    expected = {name: np.linalg.norm(m.weight.grad) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert gradient_norms(model) == pytest.approx(expected, rel=1e-6)


def test_matches_a_pytorch_twin():
    torch = pytest.importorskip("torch")
    from torch_twins import TorchCifarResNet, load_minidl_state

    for residual, batch_norm in [(True, True), (False, True), (True, False)]:
        minidl.manual_seed(0)
        model = cifar_resnet(8, widths=(4, 8, 16), residual=residual, batch_norm=batch_norm).double()
        twin = TorchCifarResNet(8, (4, 8, 16), residual, batch_norm).double()
        assert [(k, tuple(v.shape)) for k, v in twin.state_dict().items()] == [
            (k, v.shape) for k, v in model.state_dict().items()
        ]
        load_minidl_state(twin, model)
        images = np.random.default_rng(0).standard_normal((6, 3, 8, 8))
        labels = np.arange(6) % 10
        loss = minidl.nn.functional.cross_entropy(model(minidl.Tensor(images)), labels)
        loss.backward()
        torch_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(images)), torch.from_numpy(labels))
        torch_loss.backward()
        assert loss.item() == pytest.approx(torch_loss.item(), rel=1e-10)
        for name, parameter in twin.named_parameters():
            minidl_parameter = dict(model.named_parameters())[name]
            np.testing.assert_allclose(minidl_parameter.grad, parameter.grad.numpy(), rtol=1e-7, atol=1e-10)
        for name, buffer in twin.named_buffers():
            np.testing.assert_allclose(model.state_dict()[name], buffer.numpy(), rtol=1e-10)


@pytest.mark.parametrize("residual, batch_norm", [(False, True), (True, True), (True, False)])
def test_sgd_training_follows_pytorch_step_for_step(residual, batch_norm):
    """10 steps of SGD with momentum from the same weights on the same batches, float64: same parameters."""
    torch = pytest.importorskip("torch")
    from torch_twins import TorchCifarResNet, load_minidl_state

    minidl.manual_seed(0)
    model = cifar_resnet(20, (4, 8, 16), residual, batch_norm, in_channels=1, zero_init_residual=not batch_norm)
    model.double()
    twin = load_minidl_state(TorchCifarResNet(20, (4, 8, 16), residual, batch_norm, in_channels=1).double(), model)
    ours = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    theirs = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(10):
        images, labels = rng.random((32, 1, 8, 8)), rng.integers(0, 10, 32)
        loss = minidl.nn.functional.cross_entropy(model(minidl.Tensor(images)), labels)
        ours.zero_grad()
        loss.backward()
        ours.step()
        torch_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(images)), torch.from_numpy(labels))
        theirs.zero_grad()
        torch_loss.backward()
        theirs.step()
        assert loss.item() == pytest.approx(torch_loss.item(), rel=1e-9)
    for name, parameter in twin.named_parameters():
        np.testing.assert_allclose(dict(model.named_parameters())[name].data, parameter.detach().numpy(), atol=1e-10)
