"""Forward and backward of every op against PyTorch, in float64 (skipped when PyTorch is not installed).

Because minidl follows PyTorch's names, each case is written once as ``fn(lib, F, *tensors)`` and run
with ``lib, F = minidl, minidl.nn.functional`` and with ``torch, torch.nn.functional``. The backward is
compared through a random upstream gradient, for every input.
"""

import numpy as np
import pytest

import minidl
import minidl.nn.functional as minidl_F

torch = pytest.importorskip("torch")
torch_F = torch.nn.functional


def case(name, shapes, fn, positive=False):
    return pytest.param(shapes, fn, positive, id=name)


def targets(*shape, classes):
    return np.random.default_rng(5).integers(0, classes, shape)


CASES = [
    case("add broadcast", [(4, 1, 3), (2, 3)], lambda lib, F, a, b: a + b),
    case("sub broadcast", [(3,), (2, 3)], lambda lib, F, a, b: a - b),
    case("mul broadcast", [(2, 1), (1, 5)], lambda lib, F, a, b: a * b),
    case("div broadcast", [(2, 3), (3,)], lambda lib, F, a, b: a / b, positive=True),
    case("neg", [(3, 2)], lambda lib, F, x: -x),
    case("number ops", [(3, 2)], lambda lib, F, x: (2.0 - x) * 3.0 / (1.5 + x * x) + 1.0 / (x * x + 1.0)),
    case("pow number", [(2, 3)], lambda lib, F, x: x**2.5, positive=True),
    case("pow integer", [(2, 3)], lambda lib, F, x: x**3),
    case("pow tensors", [(2, 3), (3,)], lambda lib, F, a, b: a**b, positive=True),
    case("number pow tensor", [(4,)], lambda lib, F, x: 2.0**x),
    case("matmul 1-D 1-D", [(4,), (4,)], lambda lib, F, a, b: a @ b),
    case("matmul 2-D", [(3, 4), (4, 2)], lambda lib, F, a, b: a @ b),
    case("matmul 1-D 2-D", [(4,), (4, 2)], lambda lib, F, a, b: a @ b),
    case("matmul 2-D 1-D", [(3, 4), (4,)], lambda lib, F, a, b: a @ b),
    case("matmul batched broadcast", [(2, 1, 3, 4), (5, 4, 2)], lambda lib, F, a, b: a @ b),
    case("matmul 1-D batched", [(4,), (3, 4, 2)], lambda lib, F, a, b: a @ b),
    case("exp", [(2, 3)], lambda lib, F, x: x.exp()),
    case("log", [(2, 3)], lambda lib, F, x: x.log(), positive=True),
    case("sqrt", [(2, 3)], lambda lib, F, x: x.sqrt(), positive=True),
    case("abs", [(2, 3)], lambda lib, F, x: x.abs()),
    case("tanh", [(2, 3)], lambda lib, F, x: x.tanh()),
    case("sigmoid", [(2, 3)], lambda lib, F, x: x.sigmoid()),
    case("relu", [(2, 3)], lambda lib, F, x: x.relu()),
    case("functional activations", [(2, 3)], lambda lib, F, x: F.relu(x) + F.tanh(x) * F.sigmoid(x)),
    case("clamp", [(3, 4)], lambda lib, F, x: x.clamp(-0.5, 0.5)),
    case("clamp min", [(3, 4)], lambda lib, F, x: x.clamp(min=0.1)),
    case("sum all", [(2, 3)], lambda lib, F, x: x.sum()),
    case("sum dims keepdim", [(2, 3, 4)], lambda lib, F, x: x.sum(dim=(0, 2), keepdim=True)),
    case("mean dim", [(2, 3, 4)], lambda lib, F, x: x.mean(dim=-1)),
    case("var unbiased", [(3, 4)], lambda lib, F, x: x.var(dim=1)),
    case("var biased keepdim", [(3, 4)], lambda lib, F, x: x.var(dim=0, unbiased=False, keepdim=True)),
    case("std", [(3, 4)], lambda lib, F, x: x.std()),
    case("max all", [(3, 4)], lambda lib, F, x: x.max()),
    case("max dim", [(3, 4)], lambda lib, F, x: x.max(dim=1)[0]),
    case("min dim keepdim", [(3, 4)], lambda lib, F, x: x.min(dim=0, keepdim=True)[0]),
    case("reshape view flatten", [(2, 3, 4)], lambda lib, F, x: x.reshape(4, 6).view(-1, 3).flatten()),
    case("permute transpose T", [(2, 3, 4)], lambda lib, F, x: x.permute(2, 0, 1).transpose(0, 1) * 2.0),
    case("squeeze unsqueeze", [(2, 1, 3)], lambda lib, F, x: x.squeeze(1).unsqueeze(0)),
    case("getitem basic", [(4, 5, 3)], lambda lib, F, x: x[1:, ::2, -1]),
    case("getitem none ellipsis", [(4, 5, 3)], lambda lib, F, x: x[None, ..., 1]),
    case("getitem integer array with repeats", [(5, 3)], lambda lib, F, x: x[[0, 3, 0, 0], 1:]),
    case("pad", [(2, 3, 4)], lambda lib, F, x: F.pad(x, (1, 2, 0, 1), value=0.5)),
    case("cat", [(2, 3), (2, 1), (2, 2)], lambda lib, F, a, b, c: lib.cat([a, b, c], dim=1)),
    case("stack", [(2, 3), (2, 3)], lambda lib, F, a, b: lib.stack([a, b], dim=-1)),
    case("softmax", [(3, 5)], lambda lib, F, x: F.softmax(x, dim=1)),
    case("log_softmax", [(3, 5, 2)], lambda lib, F, x: F.log_softmax(x, dim=-2)),
    case("linear", [(6, 4), (3, 4), (3,)], lambda lib, F, x, w, b: F.linear(x, w, b)),
    case("linear 3-D no bias", [(2, 6, 4), (3, 4)], lambda lib, F, x, w: F.linear(x, w)),
    case("dropout eval", [(3, 4)], lambda lib, F, x: F.dropout(x, 0.5, training=False)),
    case("mse_loss", [(3, 4), (3, 4)], lambda lib, F, x, t: F.mse_loss(x, t)),
    case("mse_loss sum", [(3, 4), (3, 4)], lambda lib, F, x, t: F.mse_loss(x, t, reduction="sum")),
    case("mse_loss none", [(3, 4), (3, 4)], lambda lib, F, x, t: F.mse_loss(x, t, reduction="none")),
] + [
    case(
        f"cross_entropy {shape} {reduction}",
        [shape],
        lambda lib, F, x, shape=shape, reduction=reduction: F.cross_entropy(
            x, _as(lib, targets(shape[0], *shape[2:], classes=shape[1])), reduction=reduction
        ),
    )
    for shape in [(4, 3), (2, 3, 5), (2, 4, 2, 3)]
    for reduction in ["mean", "sum", "none"]
]


def _as(lib, array):
    return torch.from_numpy(array) if lib is torch else array


def run(lib, F, fn, arrays, upstream):
    if lib is torch:
        inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
        output = fn(torch, F, *inputs)
        output.backward(torch.from_numpy(upstream(output.shape)))
        return output.detach().numpy(), [x.grad.numpy() for x in inputs]
    inputs = [minidl.tensor(a, requires_grad=True) for a in arrays]
    output = fn(minidl, F, *inputs)
    output.backward(upstream(output.shape))
    return output.data, [x.grad for x in inputs]


@pytest.mark.parametrize("shapes, fn, positive", CASES)
def test_forward_and_backward_match_pytorch(shapes, fn, positive):
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(0.5, 2.0, s) if positive else rng.standard_normal(s) for s in shapes]

    def upstream(shape):
        return np.random.default_rng(1).standard_normal(tuple(shape))

    torch_output, torch_grads = run(torch, torch_F, fn, arrays, upstream)
    minidl_output, minidl_grads = run(minidl, minidl_F, fn, arrays, upstream)
    assert minidl_output.dtype == np.float64
    np.testing.assert_allclose(minidl_output, torch_output, rtol=1e-10, atol=1e-12)
    for minidl_grad, torch_grad in zip(minidl_grads, torch_grads, strict=True):
        np.testing.assert_allclose(minidl_grad, torch_grad, rtol=1e-10, atol=1e-12)


def test_max_over_ties_shares_the_gradient_like_pytorch():
    data = np.array([[1.0, 3.0, 3.0], [3.0, 0.0, 2.0]])
    x, reference = minidl.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    x.max().backward()
    reference.max().backward()
    np.testing.assert_allclose(x.grad, reference.grad.numpy())
    x.grad, reference.grad = None, None
    x.max(dim=1)[0].sum().backward()
    reference.max(dim=1)[0].sum().backward()
    np.testing.assert_allclose(x.grad, reference.grad.numpy())


def test_dtype_promotion_matches_pytorch_for_numbers_and_numpy_scalars():
    x, reference = minidl.ones(3), torch.ones(3)
    for make in (lambda t: t * 2.5, lambda t: t / np.float64(3.0), lambda t: 2**t, lambda t: t + np.float32(1)):
        assert str(make(x).dtype) == str(make(reference).dtype).removeprefix("torch.")
