"""linear, normalize and dropout: gradient checks, PyTorch oracle, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F


@settings(max_examples=10, deadline=None)
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2), n_in=st.integers(1, 4),
       n_out=st.integers(1, 4), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_gradcheck(lead, n_in, n_out, bias, seed):
    rng = np.random.default_rng(seed)
    x = mc.Tensor(rng.standard_normal(tuple(lead) + (n_in,)), requires_grad=True)
    w = mc.Tensor(rng.standard_normal((n_out, n_in)), requires_grad=True)
    if bias:
        b = mc.Tensor(rng.standard_normal(n_out), requires_grad=True)
        mc.gradcheck(F.linear, [x, w, b])
    else:
        mc.gradcheck(F.linear, [x, w])


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear_matches_torch(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((3, 4)), rng.standard_normal(3)
    g = rng.standard_normal(shape[:-1] + (3,))
    ours = [mc.Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.linear(*ours)
    y.backward(g)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.nn.functional.linear(*theirs)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_linear_errors():
    x = mc.Tensor(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"input shape \(2, 4\).*weight shape \(3, 5\)"):
        F.linear(x, np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"weight must be 2-D.*\(3,\)"):
        F.linear(x, np.ones(3))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\).*got \(4,\)"):
        F.linear(x, np.ones((3, 4)), np.ones(4))
    with pytest.raises(TypeError, match="input must be a floating-point"):
        F.linear(np.ones((2, 4), dtype=np.int32), np.ones((3, 4)))


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 3), d=st.integers(1, 5), dim=st.sampled_from([0, 1, -1]), seed=st.integers(0, 2**16))
def test_normalize_gradcheck(n, d, dim, seed):
    x = np.random.default_rng(seed).standard_normal((n, d)) + 0.1
    mc.gradcheck(lambda t: F.normalize(t, dim=dim), [mc.Tensor(x, requires_grad=True)])


def test_normalize_matches_torch_including_zero_rows():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 8))
    x[2] = 0.0  # a zero vector: clamped by eps, stays zero
    g = rng.standard_normal(x.shape)
    xt = mc.Tensor(x, requires_grad=True)
    y = F.normalize(xt, dim=1)
    y.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.normalize(tx, dim=1)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-9)
    norms = np.linalg.norm(y.data, axis=1)
    np.testing.assert_allclose(np.delete(norms, 2), 1.0, rtol=1e-12)
    assert norms[2] == 0.0


def test_dropout_identity_when_not_training_or_p_zero():
    x = mc.Tensor(np.arange(6.0).reshape(2, 3))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, training=True) is x


def test_dropout_scales_survivors_and_keeps_the_mean():
    mc.seed(0)
    x = mc.Tensor(np.ones((200, 500)), requires_grad=True)
    y = F.dropout(x, p=0.3)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    assert abs(kept.mean() - 0.7) < 0.01
    assert abs(y.data.mean() - 1.0) < 0.02
    y.backward(np.full(x.shape, 2.0))
    np.testing.assert_allclose(x.grad, 2.0 * y.data)  # the same mask in forward and backward


def test_dropout_is_reproducible_with_seed_and_p_one_gives_zeros():
    x = mc.Tensor(np.ones((4, 5)))
    mc.seed(7)
    a = F.dropout(x, 0.5).data
    mc.seed(7)
    b = F.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, b)
    assert not F.dropout(x, 1.0).data.any()


def test_dropout_gradcheck_with_fixed_mask():
    x = mc.Tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)

    def fn(t):
        mc.seed(3)  # the same mask at every evaluation
        return F.dropout(t, 0.4)

    mc.gradcheck(fn, [x])


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        F.dropout(mc.Tensor(np.ones(3)), p)
