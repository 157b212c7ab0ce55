"""Loss functions: mse_loss, l1_loss, binary_cross_entropy(_with_logits),
cross_entropy and nll_loss, with PyTorch's names, arguments and
``reduction="mean" | "sum" | "none"``.

The classification losses are written to stay finite for any logits:
``cross_entropy`` goes through ``log_softmax`` (log-sum-exp) and
``binary_cross_entropy_with_logits`` uses
``max(x, 0) - x y + log(1 + exp(-|x|))``, never ``log(sigmoid(x))``.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd import Function
from ..backend import get_array_module
from ..hints import ArrayLike
from ..tensor import Tensor, as_tensor
from ._args import float_input
from .activation import log_softmax

__all__ = ["mse_loss", "l1_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
           "cross_entropy", "nll_loss"]

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(fn_name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fn_name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_shape(fn_name, x, y):
    x = float_input(fn_name, x)
    y = float_input(fn_name, as_tensor(y, like=(x,)), "target")
    if x.shape != y.shape:
        raise ValueError(f"{fn_name}: input shape {x.shape} and target shape {y.shape} differ; "
                         "they must be equal")
    return x, y


def mse_loss(input: Tensor | ArrayLike, target: Tensor | ArrayLike, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target)^2``; input and target of equal shape."""
    _check_reduction("mse_loss", reduction)
    x, y = _same_shape("mse_loss", input, target)
    d = x - y
    return _reduce(d * d, reduction)


def l1_loss(input: Tensor | ArrayLike, target: Tensor | ArrayLike, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|input - target|``; input and target of equal shape."""
    _check_reduction("l1_loss", reduction)
    x, y = _same_shape("l1_loss", input, target)
    return _reduce(ops.abs(x - y), reduction)


class BCEWithLogits(Function):
    def forward(self, x, y):
        xp = self.xp
        self.x, self.y = x, y
        # -[y log s(x) + (1-y) log(1-s(x))] = max(x,0) - x y + log(1 + e^-|x|); e^-|x| <= 1
        return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        xp, x = self.xp, self.x
        gx = gy = None
        if self.needs_input_grad[0]:
            e = xp.exp(-xp.abs(x))
            sig = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
            gx = g * (sig - self.y)  # dl/dx = sigmoid(x) - y
        if self.needs_input_grad[1]:
            gy = -g * x  # dl/dy = -x
        return gx, gy


def binary_cross_entropy_with_logits(input: Tensor | ArrayLike, target: Tensor | ArrayLike,
                                     weight: Tensor | ArrayLike | None = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)`` against ``target`` in [0, 1],
    computed from the logits without overflow. ``weight`` (broadcastable to
    the input) rescales each element's loss. Input and target of equal shape."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    x, y = _same_shape("binary_cross_entropy_with_logits", input, target)
    loss = BCEWithLogits()(x, y)
    if weight is not None:
        loss = loss * as_tensor(weight, like=(x,))
    return _reduce(loss, reduction)


class BCE(Function):
    def forward(self, p, y):
        xp = self.xp
        self.p, self.y = p, y
        # log clamped at -100 as PyTorch does, so p = 0 or 1 gives a finite loss
        self.logp = xp.maximum(xp.log(p), -100)
        self.log1mp = xp.maximum(xp.log1p(-p), -100)
        return -(y * self.logp + (1 - y) * self.log1mp)

    def backward(self, g):
        p, y, xp = self.p, self.y, self.xp
        gp = gy = None
        if self.needs_input_grad[0]:
            gp = g * (p - y) / xp.maximum(p * (1 - p), 1e-12)  # dl/dp = (p - y) / (p (1 - p))
        if self.needs_input_grad[1]:
            gy = g * (self.log1mp - self.logp)  # dl/dy = log(1 - p) - log p
        return gp, gy


def binary_cross_entropy(input: Tensor | ArrayLike, target: Tensor | ArrayLike,
                         weight: Tensor | ArrayLike | None = None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target``.
    Prefer :func:`binary_cross_entropy_with_logits`, which is stabler."""
    _check_reduction("binary_cross_entropy", reduction)
    p, y = _same_shape("binary_cross_entropy", input, target)
    xp = get_array_module(p.data)
    if p.size and (bool((p.data < 0).any()) or bool((p.data > 1).any()) or bool(xp.isnan(p.data).any())):
        raise ValueError(f"binary_cross_entropy: input (shape {p.shape}) must hold probabilities in [0, 1]; "
                         "for logits use binary_cross_entropy_with_logits")
    loss = BCE()(p, y)
    if weight is not None:
        loss = loss * as_tensor(weight, like=(p,))
    return _reduce(loss, reduction)


def _class_targets(fn_name, x, target):
    """Validate integer class indices of shape (N, *spatial) for input (N, C, *spatial)."""
    xp = get_array_module(x.data)
    t = target.data if isinstance(target, Tensor) else target
    t = xp.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn_name}: target must hold integer class indices, got dtype {t.dtype} "
                        f"(shape {t.shape})")
    expected = (x.shape[0],) + x.shape[2:]
    if t.shape != expected:
        raise ValueError(f"{fn_name}: target shape {t.shape} does not match input shape {x.shape}; "
                         f"expected target shape {expected}")
    c = x.shape[1]
    if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
        bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
        raise ValueError(f"{fn_name}: target value {bad} is out of range for {c} classes "
                         f"(input shape {x.shape})")
    return t.astype(np.int64, copy=False)


class NLLLoss(Function):
    def __init__(self, target, weight, reduction):
        self.target, self.weight, self.reduction = target, weight, reduction

    def forward(self, logp):
        xp, t = self.xp, self.target
        picked = xp.take_along_axis(logp, xp.expand_dims(t, 1), axis=1)[:, 0]  # logp[n, t_n, ...]
        self.wt = None if self.weight is None else self.weight.astype(logp.dtype)[t]
        losses = -picked if self.wt is None else -picked * self.wt
        self.shape, self.dtype = logp.shape, logp.dtype
        if self.reduction == "none":
            return losses
        if self.reduction == "sum":
            return losses.sum()
        self.denom = t.size if self.wt is None else self.wt.sum()
        return losses.sum() / self.denom

    def backward(self, g):
        # loss_n = -w[t_n] * logp[n, t_n]: the gradient is -w[t_n] (times the
        # reduction's factor) at the target class and 0 at every other class
        xp, t = self.xp, self.target
        if self.reduction == "mean":
            g = g / self.denom
        coef = xp.broadcast_to(-g, t.shape)
        if self.wt is not None:
            coef = coef * self.wt
        classes = xp.arange(self.shape[1]).reshape((1, -1) + (1,) * (t.ndim - 1))
        hit = classes == xp.expand_dims(t, 1)
        gx = xp.where(hit, xp.expand_dims(coef, 1), 0).astype(self.dtype, copy=False)
        return (gx,)


def _class_weight(fn_name, x, weight):
    if weight is None:
        return None
    xp = get_array_module(x.data)
    w = xp.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if w.shape != (x.shape[1],):
        raise ValueError(f"{fn_name}: weight must have one entry per class, shape ({x.shape[1]},) for "
                         f"input of shape {x.shape}, got {w.shape}")
    return w


def nll_loss(input: Tensor | ArrayLike, target: Tensor | ArrayLike, weight: Tensor | ArrayLike | None = None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C, *spatial)
    at the integer classes ``target`` (N, *spatial). ``weight`` (C,) weights
    the classes; the mean is then divided by the summed weights, as PyTorch."""
    _check_reduction("nll_loss", reduction)
    x = float_input("nll_loss", input)
    if x.ndim < 2:
        raise ValueError(f"nll_loss: input must have shape (N, C, *spatial), got {x.shape}")
    t = _class_targets("nll_loss", x, target)
    return NLLLoss(t, _class_weight("nll_loss", x, weight), reduction)(x)


def cross_entropy(input: Tensor | ArrayLike, target: Tensor | ArrayLike, weight: Tensor | ArrayLike | None = None,
                  reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of logits ``input`` (N, C, *spatial).

    ``target`` is either integer class indices (N, *spatial), or class
    probabilities of the input's shape (soft labels). Computed as
    ``nll_loss(log_softmax(input, 1), target)``, so logits of any size
    (even 1e4) give a finite loss.
    """
    _check_reduction("cross_entropy", reduction)
    x = float_input("cross_entropy", input)
    if x.ndim < 2:
        raise ValueError(f"cross_entropy: input must have shape (N, C, *spatial), got {x.shape}")
    logp = log_softmax(x, dim=1)
    t_raw = target.data if isinstance(target, Tensor) else np.asarray(target) if isinstance(target, list) else target
    if getattr(t_raw, "dtype", None) is not None and t_raw.dtype.kind == "f":
        if t_raw.shape != x.shape:
            expected = (x.shape[0],) + x.shape[2:]
            raise TypeError(f"cross_entropy: target must hold integer class indices of shape {expected}, got "
                            f"dtype {t_raw.dtype} of shape {t_raw.shape} (a floating-point target is read as "
                            f"class probabilities and must have the input's shape {x.shape})")
        p = as_tensor(target, like=(x,))
        w = _class_weight("cross_entropy", x, weight)
        if w is not None:
            p = p * Tensor(w.astype(x.dtype).reshape((1, -1) + (1,) * (x.ndim - 2)))
        losses = -(logp * p).sum(axis=1)
        return _reduce(losses, reduction)
    return nll_loss(logp, target, weight, reduction)
