"""Reductions over axes: sum, mean, max, min (with ``keepdims``).

The backward of a reduction broadcasts the upstream gradient back over the
reduced axes; it is easiest with the reduced axes kept as length 1.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from ..autograd import Function

if TYPE_CHECKING:  # tensor.py imports ops
    from ..tensor import Tensor


def _normalize_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _expand(xp, gy, shape, axes, keepdims):
    """Reshape ``gy`` so that it broadcasts against the input of shape ``shape``."""
    if not keepdims:
        kept = [1 if i in axes else n for i, n in enumerate(shape)]
        gy = gy.reshape(kept)
    return xp.broadcast_to(gy, shape)


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.axes = _normalize_axis(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return (_expand(self.xp, gy, self.shape, self.axes, self.keepdims).copy(),)


class Mean(Sum):
    def forward(self, x):
        y = super().forward(x)
        self.count = 1
        for a in self.axes:
            self.count *= x.shape[a]
        return y / x.dtype.type(self.count)

    def backward(self, gy):
        return (_expand(self.xp, gy / gy.dtype.type(self.count), self.shape, self.axes, self.keepdims).copy(),)


class Max(Function):
    """Maximum over axes. When several elements share the maximum, the gradient
    is divided evenly among them (like ``torch.amax``)."""

    largest = True

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{type(self).__name__.lower()}: cannot reduce an empty tensor of shape {x.shape}")
        self.x = x
        self.axes = _normalize_axis(self.axis, x.ndim)
        reduce = x.max if self.largest else x.min
        self.y = reduce(axis=self.axes, keepdims=True)
        return self.y if self.keepdims else self.y.reshape([n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        xp = self.xp
        hit = self.x == self.y
        count = hit.sum(axis=self.axes, keepdims=True)
        gy = _expand(xp, gy, self.x.shape, self.axes, self.keepdims)
        return ((gy * hit / count).astype(self.x.dtype, copy=False),)


class Min(Max):
    largest = False


def sum(x: Tensor, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    return Sum(axis, keepdims)(x)


def mean(x: Tensor, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    return Mean(axis, keepdims)(x)


def max(x: Tensor, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    return Max(axis, keepdims)(x)


def min(x: Tensor, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    return Min(axis, keepdims)(x)
