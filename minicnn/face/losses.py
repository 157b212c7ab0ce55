"""Losses that shape a face encoding ``f(x)`` (seed notes sections 3-5).

* :func:`triplet_loss` -- FaceNet's ``max(||f(A)-f(P)||^2 - ||f(A)-f(N)||^2 + alpha, 0)``;
* :func:`contrastive_loss` -- Hadsell et al.'s pair loss, for comparison;
* :class:`PairHead` -- verification as binary classification, ``sigmoid(sum_k w_k |f_i - f_j|_k + b)``
  or its chi-square variant, trained with binary cross-entropy;
* :func:`fit_distance_calibration` -- a calibrated probability "same person" for a distance.

Encodings are Tensors of shape (N, D) (or (D,) for a single one); distances are squared L2
unless stated otherwise.
"""
from __future__ import annotations

import numpy as np

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn.hints import ArrayLike

REDUCTIONS = ("sum", "mean", "mean_nonzero", "none")


def _check(fn, **tensors):
    out, shape = [], None
    for name, t in tensors.items():
        t = mc.as_tensor(t)
        if t.ndim not in (1, 2):
            raise ValueError(f"{fn}: {name} must be (N, D) or (D,), got shape {t.shape}")
        if shape is not None and t.shape != shape:
            raise ValueError(f"{fn}: {name} has shape {t.shape}, expected {shape} like the first input")
        shape = t.shape
        out.append(t)
    return out


def _reduce(fn, losses, reduction):
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    if reduction == "mean_nonzero":
        # Averaging only the active terms keeps the step size from shrinking as more
        # triplets become easy (FaceNet-style online mining, "batch-all" in Hermans et al.).
        n = int((losses.data > 0).sum())
        return losses.sum() / max(n, 1)
    if reduction == "none":
        return losses
    raise ValueError(f"{fn}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def sq_distance(a, b):
    """Row-wise squared L2 distance ``||a - b||^2``: (N, D), (N, D) -> (N,) (or scalar for (D,))."""
    diff = a - b
    return (diff * diff).sum(axis=-1)


def triplet_loss(anchor: mc.Tensor, positive: mc.Tensor, negative: mc.Tensor, alpha: float = 0.2,
                 reduction: str = "sum") -> mc.Tensor:
    """FaceNet triplet loss ``sum_i max(||f(A_i)-f(P_i)||^2 - ||f(A_i)-f(N_i)||^2 + alpha, 0)``.

    anchor, positive, negative: Tensors (N, D) or (D,). reduction: "sum" (the notes' cost J),
    "mean", "mean_nonzero" (mean over the terms that are > 0) or "none" ((N,) terms).

    Gradient of one active term (see docs/face.md): dL/df(A) = 2 (f(N) - f(P)),
    dL/df(P) = -2 (f(A) - f(P)), dL/df(N) = 2 (f(A) - f(N)); zero when the term is inactive.
    """
    a, p, n = _check("triplet_loss", anchor=anchor, positive=positive, negative=negative)
    terms = mc.maximum(sq_distance(a, p) - sq_distance(a, n) + float(alpha), 0.0)
    return _reduce("triplet_loss", terms, reduction)


def contrastive_loss(x1: mc.Tensor, x2: mc.Tensor, same: ArrayLike, margin: float = 1.0, reduction: str = "mean",
                     eps: float = 1e-9) -> mc.Tensor:
    """Contrastive loss (Hadsell, Chopra, LeCun 2006) on pairs.

    ``L = y d^2 + (1 - y) max(margin - d, 0)^2`` with ``d = ||x1 - x2||_2`` (not squared) and
    y = 1 for the same person. Hadsell et al. write ``(1 - Y) d^2 / 2 + Y max(0, m - d)^2 / 2``
    with Y = 0 for a similar pair: we drop the 1/2 and flip the label. x1, x2: (N, D); same: (N,) bool/0-1.
    ``eps`` keeps the square root differentiable when two encodings coincide.
    """
    a, b = _check("contrastive_loss", x1=x1, x2=x2)
    y = np.asarray(same, dtype=a.dtype).reshape(-1) if a.ndim == 2 else np.asarray(same, dtype=a.dtype)
    if a.ndim == 2 and y.shape != (a.shape[0],):
        raise ValueError(f"contrastive_loss: same must have shape ({a.shape[0]},), got {np.shape(same)}")
    d2 = sq_distance(a, b)
    d = (d2 + eps).sqrt()
    hinge = mc.maximum(float(margin) - d, 0.0)
    terms = d2 * mc.Tensor(y) + hinge * hinge * mc.Tensor(1.0 - y)
    return _reduce("contrastive_loss", terms, reduction)


def pair_features(f1, f2, kind: str = "abs", eps: float = 1e-6):
    """Per-dimension pair features for the binary head -> (N, D).

    kind "abs": ``|f_i - f_j|``; kind "chi2": ``(f_i - f_j)^2 / (f_i + f_j)``. Chi-square is
    meant for non-negative features (histograms); L2-normalised encodings have negative parts,
    so the denominator here is ``|f_i| + |f_j| + eps``: equal to the notes' formula up to eps
    wherever both features are >= 0 and not both 0; where both are 0 the notes' formula is
    0/0 and this returns 0; never a zero or negative denominator.
    """
    a, b = _check("pair_features", f1=f1, f2=f2)
    diff = a - b
    if kind == "abs":
        return diff.abs()
    if kind == "chi2":
        return diff * diff / (a.abs() + b.abs() + eps)
    raise ValueError(f"pair_features: kind must be 'abs' or 'chi2', got {kind!r}")


def pair_logits(f1, f2, weight, bias, kind: str = "abs"):
    """Logits of the binary head ``sum_k w_k phi_k(f1, f2) + b`` -> (N,); weight (D,), bias (1,)."""
    return (pair_features(f1, f2, kind) * weight).sum(axis=-1) + bias


def pair_bce(logits, same, reduction: str = "mean"):
    """Binary cross-entropy of pair logits (N,) against ``same`` (N,) (1 = same person)."""
    target = mc.Tensor(np.asarray(same, dtype=logits.dtype).reshape(logits.shape))
    return F.binary_cross_entropy_with_logits(logits, target, reduction=reduction)


class PairHead(nn.Module):
    """Verification as logistic regression on a pair: ``y_hat = sigmoid(sum_k w_k phi_k + b)``.

    ``phi = |f(x_i) - f(x_j)|`` (kind "abs") or the chi-square term (kind "chi2"). Weights start
    negative-equal (``w_k = -1``, b = 1): larger differences mean "different" from the first step.
    Forward returns logits (N,); :meth:`probability` the sigmoid.
    """

    def __init__(self, dim: int = 128, kind: str = "abs") -> None:
        super().__init__()
        if kind not in ("abs", "chi2"):
            raise ValueError(f"PairHead: kind must be 'abs' or 'chi2', got {kind!r}")
        self.kind = kind
        self.weight = nn.Parameter(np.full((dim,), -1.0, dtype=np.float32))
        self.bias = nn.Parameter(np.ones((1,), dtype=np.float32))

    def forward(self, f1: mc.Tensor, f2: mc.Tensor) -> mc.Tensor:
        return pair_logits(f1, f2, self.weight, self.bias, self.kind)

    def probability(self, f1, f2) -> np.ndarray:
        with mc.no_grad():
            return 1.0 / (1.0 + np.exp(-self.forward(f1, f2).numpy()))

    def loss(self, f1, f2, same, reduction: str = "mean"):
        """Binary cross-entropy of the head's logits against ``same`` (1 = same person)."""
        return pair_bce(self.forward(f1, f2), same, reduction)


def fit_distance_calibration(dist: ArrayLike, same: ArrayLike, iters: int = 50) -> tuple[float, float]:
    """Platt scaling: fit ``p(same | d) = sigmoid(a d + b)`` by Newton's method on the BCE.

    dist, same: (N,) arrays. Returns (a, b) as floats (a < 0 when smaller d means "same").
    A tiny L2 penalty keeps the fit finite when the two classes are perfectly separated.
    """
    d = np.asarray(dist, dtype=np.float64).reshape(-1)
    y = np.asarray(same, dtype=np.float64).reshape(-1)
    if d.shape != y.shape or d.size == 0:
        raise ValueError(f"fit_distance_calibration: dist {np.shape(dist)} and same {np.shape(same)} "
                         "must be equal, non-empty")
    scale = d.std() + 1e-12  # fit on a standardised distance for a well-conditioned Hessian
    X = np.stack([(d - d.mean()) / scale, np.ones_like(d)], 1)
    theta, lam = np.zeros(2), 1e-3
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ theta, -40, 40)))
        grad = X.T @ (p - y) / len(d) + lam * theta
        hess = (X * (p * (1 - p))[:, None]).T @ X / len(d) + lam * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    a = theta[0] / scale
    return float(a), float(theta[1] - a * d.mean())


def same_probability(dist, a: float, b: float) -> np.ndarray:
    """Calibrated probability "same person" for squared distances ``dist``: sigmoid(a d + b)."""
    z = a * np.asarray(dist, dtype=np.float64) + b
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
