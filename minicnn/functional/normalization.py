"""Batch normalisation (Ioffe and Szegedy, 2015) for inputs ``(N, C, *spatial)``.

Each channel ``c`` is normalised over the ``M = N * prod(spatial)`` values it
has in the batch::

    mu = mean(x),  var = mean((x - mu)^2)        (biased: divide by M)
    xhat = (x - mu) / sqrt(var + eps)
    y = gamma * xhat + beta

In training the batch statistics are used and the running estimates are
updated in place, as PyTorch does::

    running_mean = (1 - momentum) * running_mean + momentum * mu
    running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)   (unbiased)

In evaluation the running estimates replace ``mu`` and ``var``.
The backward pass is derived in docs/nn.md.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..hints import ArrayLike
from ..tensor import Tensor
from ._args import float_input

__all__ = ["batch_norm"]


def _raw(a):
    return a.data if isinstance(a, Tensor) else a


class BatchNorm(Function):
    def __init__(self, running_mean, running_var, has_weight, has_bias, training, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.has_weight, self.has_bias = has_weight, has_bias
        self.training, self.momentum, self.eps = training, momentum, eps

    def forward(self, x, *affine):
        xp = self.xp
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)  # broadcasts a (C,) vector over (N, C, *)
        self.axes = axes
        if self.training:
            mean = x.mean(axis=axes, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
            m = x.size // x.shape[1]
            if self.running_mean is not None:
                mom = self.momentum
                rm, rv = self.running_mean, self.running_var
                rm[...] = ((1 - mom) * rm + mom * mean.reshape(-1)).astype(rm.dtype, copy=False)
                rv[...] = ((1 - mom) * rv + mom * var.reshape(-1) * (m / (m - 1))).astype(rv.dtype, copy=False)
        else:
            mean = self.running_mean.reshape(bshape).astype(x.dtype, copy=False)
            var = self.running_var.reshape(bshape).astype(x.dtype, copy=False)
        self.inv_std = 1 / xp.sqrt(var + x.dtype.type(self.eps))
        self.xhat = (x - mean) * self.inv_std
        w = affine[0].reshape(bshape) if self.has_weight else None
        b = affine[-1].reshape(bshape) if self.has_bias else None
        self.w = w
        y = self.xhat * w if w is not None else self.xhat
        return y + b if b is not None else y

    def backward(self, gy):
        xhat, axes = self.xhat, self.axes
        gxhat = gy * self.w if self.w is not None else gy
        if self.training:
            # mu and var depend on every x in the channel; with s = inv_std,
            # dL/dx = s * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat))
            gx = self.inv_std * (gxhat - gxhat.mean(axis=axes, keepdims=True)
                                 - xhat * (gxhat * xhat).mean(axis=axes, keepdims=True))
        else:
            gx = gxhat * self.inv_std  # constant statistics: an affine map of x
        grads = [gx if self.needs_input_grad[0] else None]
        if self.has_weight:
            grads.append((gy * xhat).sum(axis=axes))  # dL/dgamma = sum g * xhat
        if self.has_bias:
            grads.append(gy.sum(axis=axes))  # dL/dbeta = sum g
        return tuple(grads)


def batch_norm(input: Tensor | ArrayLike, running_mean: Tensor | np.ndarray | None,
               running_var: Tensor | np.ndarray | None, weight: Tensor | ArrayLike | None = None,
               bias: Tensor | ArrayLike | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation of ``input`` (N, C, *spatial) per channel.

    ``running_mean``/``running_var``: (C,) arrays or Tensors, updated in place
    when ``training`` (they may be None when ``training=True``: batch
    statistics only). ``weight`` (gamma) and ``bias`` (beta): (C,) or None.
    Returns a tensor of the input's shape.
    """
    x = float_input("batch_norm", input)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must have shape (N, C, *spatial), got {x.shape}")
    c = x.shape[1]
    rm, rv = _raw(running_mean), _raw(running_var)
    if (rm is None) != (rv is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if rm is None and not training:
        raise ValueError("batch_norm: running_mean and running_var are required when training=False")
    for name, a in (("running_mean", rm), ("running_var", rv), ("weight", _raw(weight)), ("bias", _raw(bias))):
        if a is not None and tuple(a.shape) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for input of shape {x.shape} "
                             f"with {c} channels, got {tuple(a.shape)}")
    if training and x.size // max(c, 1) <= 1:
        raise ValueError(f"batch_norm: need more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    affine = [float_input("batch_norm", t, name) for name, t in (("weight", weight), ("bias", bias))
              if t is not None]
    fn = BatchNorm(rm, rv, weight is not None, bias is not None, bool(training), float(momentum), float(eps))
    return fn(x, *affine)
