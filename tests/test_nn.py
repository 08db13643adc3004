"""rlkit.nn's shared helpers by hand: gradient-norm clipping, the non-finite loss check, the numpy
MLP forward pass and its layers, and flat parameter buffers (conv kernels channels-last)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from rlkit.errors import NonFiniteLossError
from rlkit.nn.flat import FlatParameters
from rlkit.nn.numpy_mlp import mlp_forward, numpy_layers
from rlkit.nn.optim import check_finite_loss, clip_grad_norm

# clip_grad_norm -----------------------------------------------------------------------------------


def test_clip_grad_norm_scales_every_gradient_by_the_global_norm() -> None:
    grads = [torch.tensor([3.0, 0.0]), torch.tensor([[0.0], [4.0]])]
    norm = clip_grad_norm(grads, 1.0)
    assert norm.item() == pytest.approx(5.0)  # sqrt(3^2 + 4^2), over both tensors
    scale = 1.0 / (5.0 + 1e-6)
    torch.testing.assert_close(grads[0], torch.tensor([3.0 * scale, 0.0]))
    torch.testing.assert_close(grads[1], torch.tensor([[0.0], [4.0 * scale]]))


def test_clip_grad_norm_of_one_tensor_is_its_norm() -> None:
    grad = torch.tensor([6.0, 8.0])
    assert clip_grad_norm([grad], 5.0).item() == pytest.approx(10.0)
    torch.testing.assert_close(grad, torch.tensor([3.0, 4.0]) * (10.0 / (10.0 + 1e-6)))


def test_clip_grad_norm_divides_by_the_norm_plus_1e_6() -> None:
    grad = torch.tensor([1e-3], dtype=torch.float64)  # at this scale 1e-6 shows
    clip_grad_norm([grad], 1e-4)
    assert grad.item() == pytest.approx(1e-4 * 1e-3 / (1e-3 + 1e-6), rel=1e-9)


@pytest.mark.parametrize("max_norm", [0.0, math.inf, 20.0])
def test_clip_grad_norm_leaves_gradients_alone_when_off_or_below_the_limit(max_norm: float) -> None:
    grads = [torch.tensor([3.0, 4.0]), torch.tensor([0.0, 0.0, 12.0])]
    norm = clip_grad_norm(grads, max_norm)
    assert norm.item() == pytest.approx(13.0)
    torch.testing.assert_close(grads[0], torch.tensor([3.0, 4.0]), rtol=0, atol=0)
    torch.testing.assert_close(grads[1], torch.tensor([0.0, 0.0, 12.0]), rtol=0, atol=0)


@pytest.mark.parametrize("max_norm", [0.0, math.inf])
def test_clip_grad_norm_off_leaves_even_infinite_gradients_alone(max_norm: float) -> None:
    grad = torch.tensor([math.inf, 1.0])
    assert clip_grad_norm([grad], max_norm).item() == math.inf
    torch.testing.assert_close(grad, torch.tensor([math.inf, 1.0]), rtol=0, atol=0)


# check_finite_loss --------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", [math.nan, math.inf, -math.inf])
def test_check_finite_loss_names_the_algorithm_the_place_and_what_to_try(loss: float) -> None:
    with pytest.raises(NonFiniteLossError) as raised:
        check_finite_loss(loss, "XYZ", "step 7 (update 3)")
    message = str(raised.value)
    assert message.startswith(f"the XYZ loss became {loss} at step 7 (update 3); ")
    assert "the last good checkpoint is kept" in message
    assert message.endswith("try a lower agent.learning_rate or agent.max_grad_norm")
    with pytest.raises(NonFiniteLossError, match="try fewer rollout steps$"):
        check_finite_loss(loss, "XYZ", "step 7", advice="fewer rollout steps")


@pytest.mark.parametrize("loss", [0.0, -1e30, 3.5])
def test_check_finite_loss_accepts_finite_losses(loss: float) -> None:
    check_finite_loss(loss, "XYZ", "step 7")


# mlp_forward, numpy_layers ------------------------------------------------------------------------


def small_mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))


def test_numpy_layers_view_the_parameters_and_carry_each_activation() -> None:
    net = small_mlp()
    layers = numpy_layers(list(net))
    assert [activation for _, _, activation in layers] == ["relu", "tanh", None]
    for (weight, bias, _), linear in zip(layers, net[::2], strict=True):
        assert isinstance(linear, nn.Linear)
        assert weight.shape == (linear.in_features, linear.out_features)  # (in, out)
        np.testing.assert_array_equal(weight, linear.weight.detach().numpy().T)
        np.testing.assert_array_equal(bias, linear.bias.detach().numpy())
    with torch.no_grad():
        net[0].weight.add_(1.0)  # views: updates show through
        net[4].bias.fill_(2.0)
    np.testing.assert_array_equal(layers[0][0], net[0].weight.detach().numpy().T)
    np.testing.assert_array_equal(layers[2][1], [2.0, 2.0, 2.0])


@pytest.mark.parametrize(
    "modules",
    [
        [nn.ReLU(), nn.Linear(2, 2)],  # an activation before any layer
        [nn.Linear(2, 2), nn.ReLU(), nn.Tanh()],  # two activations in a row
        [nn.Linear(2, 2), nn.Sigmoid()],
        [nn.Conv1d(1, 1, 1)],
    ],
)
def test_numpy_layers_refuse_what_a_numpy_mlp_cannot_run(modules: list[nn.Module]) -> None:
    with pytest.raises(TypeError, match="a numpy MLP cannot run"):
        numpy_layers(modules)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_forward_is_the_modules_forward_in_float32_on_flattened_observations(
    dtype: type,
) -> None:
    net = small_mlp()
    obs = np.random.default_rng(0).normal(size=(7, 2, 3)).astype(dtype)  # flattened to 6
    with torch.no_grad():
        expected = net(torch.as_tensor(obs, dtype=torch.float32).reshape(7, 6)).numpy()
    out = mlp_forward(numpy_layers(list(net)), obs)
    assert out.dtype == np.float32  # float64 observations are computed in float32 too
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    hidden = mlp_forward(numpy_layers(list(net)[:2]), obs)  # relu output: zeros below 0
    assert (hidden == 0).any()
    assert (hidden >= 0).all()


def test_mlp_forward_of_no_layers_is_the_flattened_float32_observation() -> None:
    obs = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    out = mlp_forward([], obs)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, obs.reshape(2, 6))


# FlatParameters -----------------------------------------------------------------------------------


def test_flat_parameters_hold_the_values_in_order_and_the_parameters_view_them() -> None:
    net = small_mlp()
    before = [p.detach().clone() for p in net.parameters()]
    flat = FlatParameters.of(net)
    torch.testing.assert_close(flat.data, torch.cat([b.reshape(-1) for b in before]))
    assert flat.size == sum(b.numel() for b in before)
    offset = 0
    for p, old in zip(net.parameters(), before, strict=True):
        assert p.shape == old.shape
        assert p.data_ptr() == flat.data.data_ptr() + 4 * offset  # its own slice of data
        torch.testing.assert_close(p, old, rtol=0, atol=0)
        offset += p.numel()
    flat.data.copy_(torch.arange(flat.size, dtype=torch.float32))
    torch.testing.assert_close(net[4].bias, torch.arange(flat.size - 3, flat.size).float())


def test_flat_gradients_are_views_of_one_buffer_that_backward_fills() -> None:
    net = small_mlp()
    flat = FlatParameters.of(net)
    assert flat.grad is not None
    assert flat.data.grad is flat.grad
    torch.testing.assert_close(flat.grad, torch.zeros(flat.size), rtol=0, atol=0)
    offset = 0
    for p in net.parameters():
        assert p.requires_grad
        assert p.grad is not None
        assert p.grad.shape == p.shape
        assert p.grad.data_ptr() == flat.grad.data_ptr() + 4 * offset
        offset += p.numel()
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    net(x).pow(2).sum().backward()
    expected = copy_and_backward(net, x)
    torch.testing.assert_close(flat.grad, expected)
    net(x).pow(2).sum().backward()  # backward accumulates into the buffer
    torch.testing.assert_close(flat.grad, 2 * expected)


def copy_and_backward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The gradient of sum(net(x) ** 2) of a plain copy of `net`, flattened."""
    clone = small_mlp()
    clone.load_state_dict(net.state_dict())
    clone(x).pow(2).sum().backward()
    return torch.cat([p.grad.reshape(-1) for p in clone.parameters() if p.grad is not None])


def test_zero_grad_zeroes_the_buffer_and_relinks_unlinked_gradients() -> None:
    net = small_mlp()
    flat = FlatParameters.of(net)
    assert flat.grad is not None
    flat.grad.fill_(3.0)
    first = next(net.parameters())
    first.grad = None  # what optimizer.zero_grad(set_to_none=True) does
    flat.zero_grad()
    torch.testing.assert_close(flat.grad, torch.zeros(flat.size), rtol=0, atol=0)
    assert first.grad is flat.grad_views[0]
    net(torch.ones(1, 6)).sum().backward()
    assert flat.grad[: first.numel()].abs().sum() > 0  # reaches the buffer again


def test_flat_parameters_without_gradients_are_frozen() -> None:
    net = small_mlp()
    flat = FlatParameters.of(net, grads=False)
    assert flat.grad is None
    assert flat.grad_views == []
    assert not any(p.requires_grad for p in net.parameters())
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(AssertionError, match="^FlatParameters built without gradients$"):
        flat.zero_grad()


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 2 * 2, 2))


def test_conv_kernels_sit_channels_last_in_the_buffer_with_values_and_gradients_kept() -> None:
    net = small_cnn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(5, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    clone = small_cnn()
    clone(x).pow(2).sum().backward()
    flat = FlatParameters.of(net)
    kernel = net[0].weight
    assert kernel.shape == (3, 2, 3, 3)
    assert kernel.is_contiguous(memory_format=torch.channels_last)
    assert not kernel.is_contiguous()
    assert kernel.data_ptr() == flat.data.data_ptr()
    # the buffer holds the kernel in (out, h, w, in) order: the input channel varies fastest
    assert flat.data[0].item() == before["0.weight"][0, 0, 0, 0].item()
    assert flat.data[1].item() == before["0.weight"][0, 1, 0, 0].item()
    assert flat.data[2].item() == before["0.weight"][0, 0, 0, 1].item()
    for name, value in net.state_dict().items():
        torch.testing.assert_close(value, before[name], rtol=0, atol=0)
    assert net[0].weight.grad is not None
    assert net[0].weight.grad.stride() == kernel.stride()
    net(x).pow(2).sum().backward()
    for mine, theirs in zip(net.parameters(), clone.parameters(), strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad)  # backward fills the strided views
    fresh = small_cnn()
    fresh.load_state_dict(net.state_dict())  # a checkpoint's tensors load into either layout
    torch.testing.assert_close(fresh(x), net(x))


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_load_copies_a_vector_into_the_parameters(kind: str) -> None:
    net = small_mlp()
    flat = FlatParameters(net.parameters(), grads=False)
    values = np.linspace(-1.0, 1.0, flat.size, dtype=np.float32)
    flat.load(values if kind == "numpy" else torch.from_numpy(values.copy()))
    torch.testing.assert_close(flat.data, torch.from_numpy(values), rtol=0, atol=0)
    joined = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    torch.testing.assert_close(joined, torch.from_numpy(values), rtol=0, atol=0)
    values[0] = 9.0  # a copy, not a view of the vector
    assert flat.data[0].item() == -1.0
