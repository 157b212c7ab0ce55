"""Face losses: the issue's triplet values, gradients (float64 central differences), torch oracle."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.face.losses import (
    PairHead,
    contrastive_loss,
    fit_distance_calibration,
    pair_bce,
    pair_features,
    pair_logits,
    same_probability,
    triplet_loss,
)


def T(x):
    return mc.Tensor(np.asarray(x, dtype=np.float64))


def G(x):
    """A float64 leaf that gradcheck differentiates."""
    return mc.Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)


@pytest.mark.parametrize("a, p, n, alpha, want", [
    ([1, 1], [1, 1], [1, 1], 5, 5),
    ([1, 1], [1, 1], [0, 0], 3, 1),
    ([1, 1], [0, 0], [1, 1], 0, 2),
    ([0, 0], [0, 0], [0, 0], -2, 0),
    ([[1, 0], [1, 0]], [[1, 0], [1, 0]], [[0, 1], [0, 1]], 3, 2),
])
def test_triplet_loss_issue_values(a, p, n, alpha, want):
    assert triplet_loss(T(a), T(p), T(n), alpha=alpha).item() == pytest.approx(want)
    # plain lists work as well (float32)
    assert triplet_loss(a, p, n, alpha=alpha).item() == pytest.approx(want)


def test_triplet_loss_reductions():
    a = T([[0, 0], [0, 0], [0, 0]])
    p = T([[1, 0], [0, 0], [0, 0]])  # d(A,P) = 1, 0, 0
    n = T([[0, 0], [3, 0], [0, 0]])  # d(A,N) = 0, 9, 0
    # terms with alpha 0.5: 1.5, 0, 0.5
    assert triplet_loss(a, p, n, 0.5, "sum").item() == pytest.approx(2.0)
    assert triplet_loss(a, p, n, 0.5, "mean").item() == pytest.approx(2.0 / 3)
    assert triplet_loss(a, p, n, 0.5, "mean_nonzero").item() == pytest.approx(1.0)
    np.testing.assert_allclose(triplet_loss(a, p, n, 0.5, "none").numpy(), [1.5, 0, 0.5])
    # all terms zero: mean_nonzero is 0, not a division by zero
    assert triplet_loss(a, a, T([[5, 5]] * 3), 0.1, "mean_nonzero").item() == 0.0


def test_triplet_loss_errors():
    with pytest.raises(ValueError, match="reduction"):
        triplet_loss([1.0], [1.0], [1.0], reduction="avg")
    with pytest.raises(ValueError, match=r"negative has shape \(3,\)"):
        triplet_loss([1.0, 2.0], [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="anchor must be"):
        triplet_loss(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), np.zeros((1, 2, 2)))


def test_triplet_gradient_formula_and_gradcheck():
    rng = np.random.default_rng(0)
    a, p, n = (rng.normal(size=(5, 4)) for _ in range(3))
    # avoid the hinge's kink: every term clearly active or clearly inactive
    terms = ((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1) + 0.3
    assert np.min(np.abs(terms)) > 1e-3
    mc.gradcheck(lambda x, y, z: triplet_loss(x, y, z, 0.3, "sum"), [G(a), G(p), G(n)])
    mc.gradcheck(lambda x, y, z: triplet_loss(x, y, z, 0.3, "mean_nonzero"), [G(a), G(p), G(n)])
    # the derivation in docs/face.md: dL/dA = 2(N - P), dL/dP = -2(A - P), dL/dN = 2(A - N)
    ta, tp, tn = (mc.Tensor(v, requires_grad=True) for v in (a, p, n))
    triplet_loss(ta, tp, tn, 0.3).backward()
    act = (terms > 0)[:, None]
    np.testing.assert_allclose(ta.grad, act * 2 * (n - p), atol=1e-12)
    np.testing.assert_allclose(tp.grad, act * -2 * (a - p), atol=1e-12)
    np.testing.assert_allclose(tn.grad, act * 2 * (a - n), atol=1e-12)


def test_triplet_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, p, n = (rng.normal(size=(6, 3)) for _ in range(3))
    ours = triplet_loss(T(a), T(p), T(n), 0.2, "mean").item()
    ta, tp, tn = (torch.tensor(v) for v in (a, p, n))
    ref = torch.clamp(((ta - tp) ** 2).sum(1) - ((ta - tn) ** 2).sum(1) + 0.2, min=0).mean().item()
    assert ours == pytest.approx(ref, rel=1e-12)


def test_contrastive_loss_values_and_gradcheck():
    x1 = T([[0, 0], [0, 0]])
    x2 = T([[3, 4], [0.3, 0.4]])  # distances 5 and 0.5
    same = [1, 0]
    # same pair: d^2 = 25; different pair: max(1 - 0.5, 0)^2 = 0.25
    np.testing.assert_allclose(contrastive_loss(x1, x2, same, 1.0, "none").numpy(), [25, 0.25], rtol=1e-6)
    assert contrastive_loss(x1, x2, same, 1.0, "sum").item() == pytest.approx(25.25, rel=1e-6)
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) * 0.3
    mc.gradcheck(lambda u, v: contrastive_loss(u, v, [1, 0, 1, 0, 0, 1], 1.5, "mean"), [G(a), G(a + b)])
    with pytest.raises(ValueError, match="same must have shape"):
        contrastive_loss(T(a), T(b), [1, 0])


def test_contrastive_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(8, 4)) * 0.4, rng.normal(size=(8, 4)) * 0.4
    y = rng.random(8) < 0.5
    ours = contrastive_loss(T(a), T(b), y, 1.0, "mean").item()
    d = torch.sqrt(((torch.tensor(a) - torch.tensor(b)) ** 2).sum(1) + 1e-9)
    yt = torch.tensor(y, dtype=torch.float64)
    ref = (yt * d ** 2 + (1 - yt) * torch.clamp(1.0 - d, min=0) ** 2).mean().item()
    assert ours == pytest.approx(ref, rel=1e-9)


def test_pair_features_and_head():
    f1, f2 = T([[1.0, 0.5]]), T([[0.0, 0.5]])
    np.testing.assert_allclose(pair_features(f1, f2, "abs").numpy(), [[1.0, 0.0]])
    # chi-square (f1 - f2)^2 / (f1 + f2) for non-negative features
    np.testing.assert_allclose(pair_features(f1, f2, "chi2", eps=0).numpy(), [[1.0, 0.0]])
    np.testing.assert_allclose(pair_features(T([[3.0]]), T([[1.0]]), "chi2", eps=0).numpy(), [[1.0]])
    with pytest.raises(ValueError, match="kind"):
        pair_features(f1, f2, "l2")
    head = PairHead(2, "abs")
    head.weight.data[:] = [2.0, -1.0]
    head.bias.data[:] = [0.5]
    # sigmoid(2 * 1 + -1 * 0 + 0.5)
    np.testing.assert_allclose(head.probability(f1, f2), [1 / (1 + np.exp(-2.5))], rtol=1e-6)


@pytest.mark.parametrize("kind", ["abs", "chi2"])
def test_pair_head_bce_gradcheck(kind):
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    same = [1, 0, 1, 1, 0]
    mc.gradcheck(lambda x1, x2, w, b0: pair_bce(pair_logits(x1, x2, w, b0, kind), same),
                 [G(a), G(b), G(rng.normal(size=3)), G([0.1])])


def test_pair_head_matches_torch_bce():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=(7, 4))
    y = np.array([1, 0, 0, 1, 1, 0, 1])
    head = PairHead(4, "abs")
    ours = head.loss(T(a), T(b), y).item()
    z = (torch.tensor(np.abs(a - b)) * -1.0).sum(1) + 1.0
    ref = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(y, dtype=torch.float64)).item()
    assert ours == pytest.approx(ref, rel=1e-5)


def test_distance_calibration_recovers_logistic_model():
    rng = np.random.default_rng(6)
    d = rng.uniform(0, 3, 20000)
    p_true = 1 / (1 + np.exp(-(-4.0 * d + 5.0)))
    y = rng.random(len(d)) < p_true
    a, b = fit_distance_calibration(d, y)
    assert a == pytest.approx(-4.0, rel=0.08) and b == pytest.approx(5.0, rel=0.08)
    p = same_probability([0.0, 1.25, 3.0], a, b)
    assert p[0] > 0.99 and abs(p[1] - 0.5) < 0.05 and p[2] < 0.01
    with pytest.raises(ValueError, match="must be equal"):
        fit_distance_calibration([1.0, 2.0], [1])
