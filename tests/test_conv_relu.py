"""The fused convolution + ReLU (F.conv_relu) and nn.Sequential's use of it."""

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn.backend import use_backend


def _x(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    x[np.abs(x) < 0.05] += 0.2  # keep values off relu's kink (central differences straddle it)
    return x


@pytest.mark.parametrize("backend", ["numba", "numpy", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d, stride, padding", [(1, 1, 2), (2, 1, 1), (2, 2, 1), (3, 1, 0)])
def test_conv_relu_equals_relu_of_conv(backend, dtype, d, stride, padding):
    x = _x((2, 3) + (7,) * d).astype(dtype)
    w = _x((4, 3) + (3,) * d, 1).astype(dtype)
    b = _x((4,), 2).astype(dtype)
    gy = _x((2, 4) + (F.conv_output_shape((7,) * d, 3, stride, padding) if d > 1
                      else (F.conv_output_shape(7, 3, stride, padding),)), 3).astype(dtype)
    with use_backend(backend):
        got = [mc.Tensor(a, requires_grad=True) for a in (x, w, b)]
        y1 = F.conv_relu(*got, stride=stride, padding=padding)
        y1.backward(gy)
        want = [mc.Tensor(a, requires_grad=True) for a in (x, w, b)]
        y2 = F.relu(F.conv(*want, stride=stride, padding=padding))
        y2.backward(gy)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y1.data, y2.data, **tol)
    assert y1.data.dtype == dtype and (y1.data >= 0).all() and not np.signbit(y1.data).any()
    for a, b_ in zip(got, want):
        np.testing.assert_allclose(a.grad, b_.grad, **tol)


def test_conv_relu_gradcheck_float64():
    x, w, b = _x((2, 2, 6, 5)), _x((3, 2, 3, 3), 1), _x((3,), 2)
    mc.gradcheck(lambda x, w, b: F.conv_relu(x, w, b, padding=1), [x, w, b])


def test_conv_relu_matches_pytorch_with_nan():
    torch = pytest.importorskip("torch")
    x, w, b = _x((2, 2, 5, 5)), _x((3, 2, 3, 3), 1), _x((3,), 2)
    x[0, 0, 2, 2] = np.nan
    gy = _x((2, 3, 5, 5), 3)
    ts = [mc.Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv_relu(*ts, padding=1)
    y.backward(gy)
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.relu(torch.nn.functional.conv2d(*tt, padding=1))
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)
    for a, t in zip(ts, tt):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12, equal_nan=True)


def _net():
    mc.seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 5, 3), nn.ReLU(), nn.GlobalAvgPool(), nn.Linear(5, 2))


def test_sequential_fuses_conv_relu_with_the_same_values_and_gradients(monkeypatch):
    x = _x((2, 3, 8, 8))
    fused, plain = _net(), _net()
    calls = []
    real = F.conv_relu
    monkeypatch.setattr(F, "conv_relu", lambda *a, **k: calls.append(1) or real(*a, **k))
    y1 = fused(mc.Tensor(x))
    assert len(calls) == 2  # both Conv + ReLU pairs
    y2 = mc.Tensor(x)
    for layer in plain:  # layer by layer: never fused
        y2 = layer(y2)
    np.testing.assert_allclose(y1.data, y2.data, rtol=1e-12, atol=1e-12)
    y1.sum().backward()
    y2.sum().backward()
    for (name, p1), p2 in zip(fused.named_parameters(), plain.parameters()):
        np.testing.assert_allclose(p1.grad, p2.grad, rtol=1e-12, atol=1e-12, err_msg=name)


def test_a_forward_hook_keeps_the_layers_apart():
    net = _net()
    seen = []
    net[1].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    net(mc.Tensor(_x((2, 3, 8, 8))))
    assert seen == [(2, 4, 8, 8)]  # the ReLU ran as its own module and its hook saw its output


def test_a_forward_replaced_on_the_instance_keeps_the_layers_apart():
    # minicnn.visualize catches a layer's output by shadowing its forward on the instance
    net = _net()
    seen = []
    relu = net[1]
    object.__setattr__(relu, "forward", lambda x: seen.append(1) or nn.ReLU.forward(relu, x))
    net(mc.Tensor(_x((2, 3, 8, 8))))
    assert seen == [1]
