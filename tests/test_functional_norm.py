"""batch_norm: gradient checks in training and evaluation mode, PyTorch as an
oracle for values, all gradients and the running statistics, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), spatial=st.lists(st.integers(1, 3), max_size=3),
       training=st.booleans(), affine=st.booleans(), seed=st.integers(0, 2**16))
def test_batch_norm_gradcheck(n, c, spatial, training, affine, seed):
    shape = (n, c) + tuple(spatial)
    if training and np.prod(shape) // c < 2:
        shape = (n + 1,) + shape[1:]
    rng = np.random.default_rng(seed)
    x = mc.Tensor(rng.standard_normal(shape), requires_grad=True)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    inputs = [x]
    if affine:
        inputs += [mc.Tensor(rng.standard_normal(c), requires_grad=True),
                   mc.Tensor(rng.standard_normal(c), requires_grad=True)]

    def fn(x, w=None, b=None):
        # fresh running stats each call: the update must not change the output
        return F.batch_norm(x, rm.copy(), rv.copy(), w, b, training=training)

    mc.gradcheck(fn, inputs, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 4)])
def test_batch_norm_matches_torch(shape, training):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    g = rng.standard_normal(shape)

    ours = [mc.Tensor(a, requires_grad=True) for a in (x, w, b)]
    our_rm, our_rv = rm.copy(), rv.copy()
    y = F.batch_norm(ours[0], our_rm, our_rv, ours[1], ours[2], training=training, momentum=0.2, eps=1e-4)
    y.backward(g)

    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    t_rm, t_rv = torch.tensor(rm), torch.tensor(rv)
    ty = torch.nn.functional.batch_norm(theirs[0], t_rm, t_rv, theirs[1], theirs[2], training=training,
                                        momentum=0.2, eps=1e-4)
    ty.backward(torch.tensor(g))

    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(our_rm, t_rm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(our_rv, t_rv.numpy(), rtol=1e-12)  # unbiased variance, as PyTorch


def test_batch_norm_training_normalises_each_channel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 2, 5, 5)) * np.array([3.0, 0.1]).reshape(1, 2, 1, 1) + 7
    y = F.batch_norm(mc.Tensor(x), None, None, training=True, eps=0.0).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1.0, rtol=1e-12)


def test_running_stats_are_buffers_updated_in_place_as_tensors():
    rm = mc.Tensor(np.zeros(2, dtype=np.float32))
    rv = mc.Tensor(np.ones(2, dtype=np.float32))
    x = np.array([[1.0, 10.0], [3.0, 14.0]], dtype=np.float32)
    F.batch_norm(mc.Tensor(x), rm, rv, training=True, momentum=0.5)
    np.testing.assert_allclose(rm.data, [1.0, 6.0])  # 0.5 * 0 + 0.5 * mean
    np.testing.assert_allclose(rv.data, [0.5 + 0.5 * 2.0, 0.5 + 0.5 * 8.0])  # unbiased var 2 and 8
    assert rm.dtype == np.float32


def test_float32_input_stays_float32():
    x = mc.Tensor(np.random.default_rng(0).standard_normal((4, 3, 2)).astype(np.float32), requires_grad=True)
    y = F.batch_norm(x, np.zeros(3, np.float32), np.ones(3, np.float32), training=True)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_batch_norm_errors():
    x = mc.Tensor(np.ones((4, 3, 5)))
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\).*\(4, 3, 5\).*got \(2,\)"):
        F.batch_norm(x, np.zeros(2), np.ones(2), training=True)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.batch_norm(x, np.zeros(3), np.ones(3), weight=np.ones(4))
    with pytest.raises(ValueError, match="more than 1 value per channel.*\\(1, 3\\)"):
        F.batch_norm(mc.Tensor(np.ones((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match="required when training=False"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match=r"\(N, C, \*spatial\).*\(5,\)"):
        F.batch_norm(mc.Tensor(np.ones(5)), None, None, training=True)
    with pytest.raises(TypeError, match="floating-point.*int64"):
        F.batch_norm(mc.Tensor(np.ones((4, 3), dtype=np.int64)), None, None, training=True)
