"""Activations: float64 gradient checks, PyTorch as an oracle for values and
gradients, numerical stability for large inputs, errors."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
import minicnn.functional as F

ELEMENTWISE = {
    "relu": (F.relu, lambda t, x: t.relu(x)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda t, x: t.nn.functional.leaky_relu(x, 0.2)),
    "sigmoid": (F.sigmoid, lambda t, x: t.sigmoid(x)),
    "tanh": (F.tanh, lambda t, x: t.tanh(x)),
}
shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


def _away_from_kinks(x):
    """Move values off relu's kink at 0, where the central difference straddles it."""
    return np.where(np.abs(x) < 1e-3, 0.5, x)


@settings(max_examples=10, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16))
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_gradcheck(name, shape, seed):
    x = _away_from_kinks(np.random.default_rng(seed).standard_normal(shape))
    mc.gradcheck(ELEMENTWISE[name][0], [mc.Tensor(x, requires_grad=True)])


@settings(max_examples=10, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**16), data=st.data())
@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_gradcheck(fn, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    mc.gradcheck(lambda t: fn(t, dim=dim), [mc.Tensor(x, requires_grad=True)])


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_matches_torch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = ELEMENTWISE[name]
    x = _away_from_kinks(np.random.default_rng(1).standard_normal((3, 4, 5)) * 4)
    g = np.random.default_rng(2).standard_normal(x.shape)
    xt = mc.Tensor(x, requires_grad=True)
    y = ours(xt)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(torch, tx)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_matches_torch(name, dim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 3)) * 5
    g = rng.standard_normal(x.shape)
    xt = mc.Tensor(x, requires_grad=True)
    y = getattr(F, name)(xt, dim=dim)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch, name)(tx, dim=dim)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([-1e4, -800.0, -30.0, 0.0, 30.0, 800.0, 1e4], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from exp
        xt = mc.Tensor(x, requires_grad=True)
        y = F.sigmoid(xt)
        y.sum().backward()
    assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(xt.grad))
    assert y.data[0] == 0.0 and y.data[-1] == 1.0 and y.data[3] == 0.5
    np.testing.assert_allclose(y.data[2], 1 / (1 + np.exp(30.0)), rtol=1e-6)


@pytest.mark.parametrize("scale", [1e4, 1e30])
def test_softmax_and_log_softmax_large_logits(scale):
    x = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]], dtype=np.float32) * np.float32(scale)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = F.softmax(mc.Tensor(x), dim=1).data
        lp = F.log_softmax(mc.Tensor(x), dim=1).data
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(lp[0], np.float32([0.0, -scale, -2 * scale]), rtol=1e-6)
    np.testing.assert_allclose(lp[1], np.full(3, -np.log(3.0)), rtol=1e-6)


@pytest.mark.parametrize("fn", [F.relu, F.sigmoid, F.tanh, F.softmax, F.log_softmax,
                                lambda x: F.leaky_relu(x, 0.1)])
def test_float32_stays_float32(fn):
    x = mc.Tensor(np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    y = fn(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_relu_gives_zero_gradient_at_zero_and_no_negative_zero():
    x = mc.Tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
    y = F.relu(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])
    assert not np.signbit(y.data).any()


def test_relu_propagates_nan_and_keeps_the_dtype():
    x = np.array([np.nan, -np.inf, np.inf, -0.0, -1.5], np.float32)
    y = F.relu(mc.Tensor(x)).data
    assert y.dtype == np.float32 and np.isnan(y[0])  # NaN is never turned into a silent 0 (PyTorch agrees)
    np.testing.assert_array_equal(y[1:], [0.0, np.inf, 0.0, 0.0])
    assert not np.signbit(y[1:]).any()


@pytest.mark.parametrize("fn", [F.relu, F.sigmoid, F.tanh, F.softmax, F.log_softmax, F.leaky_relu])
def test_integer_input_is_a_type_error(fn):
    with pytest.raises(TypeError, match=r"floating-point.*int64.*\(2, 3\)"):
        fn(mc.Tensor(np.ones((2, 3), dtype=np.int64)))


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_dim_out_of_range(fn):
    with pytest.raises(ValueError, match="dim=2 is out of range.*2 dimensions"):
        fn(mc.Tensor(np.ones((2, 3))), dim=2)
