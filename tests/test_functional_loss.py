"""Losses: float64 gradient checks, PyTorch as an oracle (values and gradients,
every reduction), finite results for huge logits, errors naming the shapes."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F

REDUCTIONS = ["mean", "sum", "none"]


def _compare(ours_fn, theirs_fn, arrays, grad_of=None, rtol=1e-10, atol=1e-12):
    """Run both libraries on the same float64 arrays; compare value and the
    gradients of the inputs whose index is in ``grad_of``."""
    torch = pytest.importorskip("torch")
    grad_of = range(len(arrays)) if grad_of is None else grad_of
    ours = [mc.Tensor(a, requires_grad=(i in grad_of)) for i, a in enumerate(arrays)]
    theirs = [torch.tensor(a, requires_grad=(i in grad_of)) for i, a in enumerate(arrays)]
    y, ty = ours_fn(*ours), theirs_fn(*theirs)
    g = np.random.default_rng(9).standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=rtol, atol=atol)
    for i in grad_of:
        np.testing.assert_allclose(ours[i].grad, theirs[i].grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_losses_match_torch(name, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    _compare(lambda a, b: getattr(F, name)(a, b, reduction=reduction),
             lambda a, b: getattr(torch.nn.functional, name)(a, b, reduction=reduction), [x, y])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits_matches_torch(reduction, weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((5, 3)) * 4, rng.uniform(0, 1, (5, 3))
    w = rng.uniform(0.5, 2, (1, 3)) if weighted else None
    _compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=reduction),
             lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
                 a, b, weight=None if w is None else torch.tensor(w), reduction=reduction), [x, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_on_probabilities_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    p, t = rng.uniform(0.05, 0.95, (6,)), rng.uniform(0, 1, (6,))
    _compare(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
             lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, reduction=reduction), [p, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_and_nll_match_torch(shape, reduction, weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 3
    target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    w = rng.uniform(0.5, 2, shape[1]) if weighted else None
    tw = None if w is None else torch.tensor(w)
    _compare(lambda a: F.cross_entropy(a, target, weight=w, reduction=reduction),
             lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(target), weight=tw, reduction=reduction),
             [x])
    logp = np.log(np.random.default_rng(4).dirichlet(np.ones(shape[1]), size=shape[0] * int(np.prod(shape[2:]))))
    logp = np.moveaxis(logp.reshape((shape[0],) + shape[2:] + (shape[1],)), -1, 1).copy()
    _compare(lambda a: F.nll_loss(a, target, weight=w, reduction=reduction),
             lambda a: torch.nn.functional.nll_loss(a, torch.tensor(target), weight=tw, reduction=reduction),
             [logp])


def test_cross_entropy_soft_labels_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, p = rng.standard_normal((4, 3)), rng.dirichlet(np.ones(3), size=4)
    _compare(lambda a, b: F.cross_entropy(a, b), lambda a, b: torch.nn.functional.cross_entropy(a, b), [x, p],
             grad_of=[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_huge_logits_stay_finite(dtype):
    torch = pytest.importorskip("torch")
    x = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    target = np.array([2, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xt = mc.Tensor(x, requires_grad=True)
        loss = F.cross_entropy(xt, target)
        loss.backward()
    tx = torch.tensor(x, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor(target))
    tloss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(xt.grad))
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_bce_with_logits_huge_logits_stay_finite():
    x = np.array([-1e4, -100.0, 100.0, 1e4], dtype=np.float32)
    t = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xt = mc.Tensor(x, requires_grad=True)
        loss = F.binary_cross_entropy_with_logits(xt, t, reduction="none")
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [1e4, 0.0, 0.0, 1e4], atol=1e-6)
    np.testing.assert_allclose(xt.grad, [-1.0, 0.0, 0.0, 1.0], atol=1e-6)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_classification_losses_gradcheck(n, c, seed):
    rng = np.random.default_rng(seed)
    x = mc.Tensor(rng.standard_normal((n, c)) * 2, requires_grad=True)
    target = rng.integers(0, c, n)
    mc.gradcheck(lambda a: F.cross_entropy(a, target), [x])
    mc.gradcheck(lambda a: F.nll_loss(a, target, reduction="sum"), [x])
    y = mc.Tensor(rng.uniform(0, 1, (n, c)), requires_grad=True)
    mc.gradcheck(F.binary_cross_entropy_with_logits, [x, y])
    p = mc.Tensor(rng.uniform(0.1, 0.9, (n, c)), requires_grad=True)
    mc.gradcheck(F.binary_cross_entropy, [p, y])
    mc.gradcheck(F.mse_loss, [x, y])


def test_cross_entropy_of_perfect_prediction_is_zero():
    x = mc.Tensor(np.array([[50.0, 0.0], [0.0, 50.0]]))
    assert F.cross_entropy(x, np.array([0, 1])).item() == pytest.approx(0.0, abs=1e-20)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("fn", [F.mse_loss, F.l1_loss, F.binary_cross_entropy_with_logits,
                                F.binary_cross_entropy])
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"input shape \(4, 3\) and target shape \(4, 1\)"):
        fn(mc.Tensor(np.full((4, 3), 0.5)), np.full((4, 1), 0.5))


def test_cross_entropy_target_validation():
    x = mc.Tensor(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="integer class indices.*float64"):
        F.cross_entropy(x, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"target shape \(3,\).*input shape \(4, 3\).*\(4,\)"):
        F.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="target value 3 is out of range for 3 classes"):
        F.cross_entropy(x, np.array([0, 1, 3, 1]))
    with pytest.raises(ValueError, match="target value -1"):
        F.nll_loss(x, np.array([0, -1, 2, 1]))
    with pytest.raises(ValueError, match=r"\(N, C, \*spatial\)"):
        F.cross_entropy(mc.Tensor(np.zeros(3)), np.array([1]))
    with pytest.raises(ValueError, match=r"weight must have one entry per class.*\(3,\)"):
        F.cross_entropy(x, np.array([0, 1, 2, 1]), weight=np.ones(2))


def test_bad_reduction_and_bad_probabilities():
    x = mc.Tensor(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*with_logits"):
        F.binary_cross_entropy(mc.Tensor(np.array([0.5, 1.5])), np.array([1.0, 0.0]))


def test_integer_input_is_a_type_error():
    with pytest.raises(TypeError, match="floating-point"):
        F.mse_loss(mc.Tensor(np.ones(3, dtype=np.int64)), np.ones(3))
