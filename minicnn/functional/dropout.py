"""Inverted dropout.

During training each element is zeroed with probability ``p`` and the
survivors are scaled by ``1 / (1 - p)``, so the expected value of every
element is unchanged and nothing needs rescaling at test time (where dropout
is the identity).
"""

from __future__ import annotations

from ..autograd import Function
from ..hints import ArrayLike
from ..random import get_rng
from ..tensor import Tensor
from ._args import float_input

__all__ = ["dropout"]


class Dropout(Function):
    def __init__(self, p):
        self.p = p

    def forward(self, x):
        xp = self.xp
        # Draw on the host from minicnn's seeded generator (reproducible on CPU
        # and GPU alike), then move the mask to the input's device.
        keep = xp.asarray(get_rng().random(x.shape) >= self.p)
        self.scale = keep.astype(x.dtype) / x.dtype.type(1 - self.p) if self.p < 1 else xp.zeros_like(x)
        return x * self.scale

    def backward(self, gy):
        # y = x * mask / (1 - p) is linear in x: dL/dx = g * mask / (1 - p)
        return (gy * self.scale,)


def dropout(x: Tensor | ArrayLike, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p)
    when ``training``; return ``x`` unchanged otherwise. Any shape."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    x = float_input("dropout", x)
    if not training or p == 0.0:
        return x
    return Dropout(float(p))(x)
