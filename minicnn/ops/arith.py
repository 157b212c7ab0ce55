"""Elementwise arithmetic with NumPy broadcasting, and matrix product.

Broadcasting copies an operand along new or length-1 axes in the forward
pass, so in the backward pass the copies' gradients must be *summed* back to
the operand's shape: that is :func:`unbroadcast`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import blas
from ..autograd import Function
from ..hints import ArrayLike

if TYPE_CHECKING:  # tensor.py imports ops
    from ..tensor import Tensor


def unbroadcast(xp, g, shape):
    """Sum gradient ``g`` down to ``shape`` (the inverse of broadcasting)."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


class _Binary(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        self.dtypes = (a.dtype, b.dtype)
        return self.compute(a, b)

    def reduce(self, ga, gb):
        xp, (sa, sb), (da, db) = self.xp, self.shapes, self.dtypes
        ga = None if ga is None else unbroadcast(xp, ga, sa).astype(da, copy=False)
        gb = None if gb is None else unbroadcast(xp, gb, sb).astype(db, copy=False)
        return ga, gb


class Add(_Binary):
    def compute(self, a, b):
        return a + b

    def backward(self, gy):
        return self.reduce(gy, gy)


class Sub(_Binary):
    def compute(self, a, b):
        return a - b

    def backward(self, gy):
        return self.reduce(gy, -gy)


class Mul(_Binary):
    def compute(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        return self.reduce(gy * self.b, gy * self.a)


class Div(_Binary):
    def compute(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        gb = -gy * self.a / (self.b * self.b) if self.needs_input_grad[1] else None  # d(a/b)/db = -a/b^2
        return self.reduce(gy / self.b, gb)


class Maximum(_Binary):
    """Where ``a == b`` the gradient is split evenly between the two (as PyTorch does)."""

    def compute(self, a, b):
        self.a, self.b = a, b
        return self.xp.maximum(a, b)

    def backward(self, gy):
        share = (self.a > self.b) + 0.5 * (self.a == self.b)
        return self.reduce(gy * share, gy * (1.0 - share))


class Minimum(_Binary):
    def compute(self, a, b):
        self.a, self.b = a, b
        return self.xp.minimum(a, b)

    def backward(self, gy):
        share = (self.a < self.b) + 0.5 * (self.a == self.b)
        return self.reduce(gy * share, gy * (1.0 - share))


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return (-gy,)


class Pow(Function):
    """``x ** p`` for a constant exponent ``p``: d/dx = p x^(p-1)."""

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.x = x
        return x ** self.p

    def backward(self, gy):
        return (gy * self.p * self.x ** (self.p - 1),)


class Exp(Function):
    def forward(self, x):
        self.y = self.xp.exp(x)
        return self.y

    def backward(self, gy):
        return (gy * self.y,)


class Log(Function):
    def forward(self, x):
        self.x = x
        return self.xp.log(x)

    def backward(self, gy):
        return (gy / self.x,)


class Sqrt(Function):
    def forward(self, x):
        self.y = self.xp.sqrt(x)
        return self.y

    def backward(self, gy):
        return (gy / (2 * self.y),)  # d sqrt(x)/dx = 1 / (2 sqrt(x))


class Abs(Function):
    """d|x|/dx = sign(x), taken as 0 at x = 0 (a subgradient)."""

    def forward(self, x):
        self.x = x
        return self.xp.abs(x)

    def backward(self, gy):
        return (gy * self.xp.sign(self.x),)


class Clip(Function):
    """Gradient passes where ``lo <= x <= hi`` and is zero where the value was clipped."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        self.x = x
        return self.xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        mask = self.xp.ones(self.x.shape, dtype=bool)
        if self.lo is not None:
            mask &= self.x >= self.lo
        if self.hi is not None:
            mask &= self.x <= self.hi
        return (gy * mask,)


class Where(Function):
    """``where(cond, a, b)``: the gradient flows to whichever input was chosen
    (``cond`` is an input too, so it may be a Tensor, but it gets no gradient)."""

    def forward(self, cond, a, b):
        self.cond = cond
        self.shapes, self.dtypes = (a.shape, b.shape), (a.dtype, b.dtype)
        return self.xp.where(cond, a, b)

    def backward(self, gy):
        xp, (sa, sb) = self.xp, self.shapes
        zero = xp.zeros((), dtype=gy.dtype)
        ga = unbroadcast(xp, xp.where(self.cond, gy, zero), sa).astype(self.dtypes[0], copy=False)
        gb = unbroadcast(xp, xp.where(self.cond, zero, gy), sb).astype(self.dtypes[1], copy=False)
        return None, ga, gb


class MatMul(Function):
    """``a @ b`` for ``a`` (..., n, k) and ``b`` (..., k, m), batch axes broadcast.

    dL/da = dL/dy @ b^T and dL/db = a^T @ dL/dy (transposing the last two axes).
    A 1-D operand is promoted to a matrix, (k,) -> (1, k) for ``a`` and (k, 1)
    for ``b``, and the added axis is removed from the result, as ``numpy.matmul``
    does; the backward pass works on the promoted shapes and reshapes back.
    """

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul: inner dimensions differ: a{a.shape} @ b{b.shape}")
        self.a_shape, self.b_shape = a.shape, b.shape
        self.a = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
        self.b = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
        y = blas.matmul(self.a, self.b)  # small products on one BLAS thread: see minicnn.blas
        self.y_shape = y.shape
        squeeze = [axis for axis, flat in ((-2, a.ndim == 1), (-1, b.ndim == 1)) if flat]
        return y.reshape([n for i, n in enumerate(y.shape) if i - y.ndim not in squeeze])

    def backward(self, gy):
        xp, a, b = self.xp, self.a, self.b
        gy = gy.reshape(self.y_shape)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(xp, blas.matmul(gy, xp.swapaxes(b, -1, -2)), a.shape).reshape(self.a_shape)
        if self.needs_input_grad[1]:
            gb = unbroadcast(xp, blas.matmul(xp.swapaxes(a, -1, -2), gy), b.shape).reshape(self.b_shape)
        return ga, gb


def add(a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> Tensor:
    return Add()(a, b)


def sub(a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> Tensor:
    return Sub()(a, b)


def mul(a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> Tensor:
    return Mul()(a, b)


def div(a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> Tensor:
    return Div()(a, b)


def neg(x: Tensor) -> Tensor:
    return Neg()(x)


def pow(x: Tensor, p: float | Tensor) -> Tensor:
    """``x ** p``; a Tensor exponent is handled as ``exp(p * log(x))`` (needs x > 0)."""
    if hasattr(p, "data"):
        return exp(mul(p, log(x)))
    return Pow(p)(x)


def exp(x: Tensor) -> Tensor:
    return Exp()(x)


def log(x: Tensor) -> Tensor:
    return Log()(x)


def sqrt(x: Tensor) -> Tensor:
    return Sqrt()(x)


def abs(x: Tensor) -> Tensor:
    return Abs()(x)


def clip(x: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor:
    return Clip(lo, hi)(x)


def maximum(a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> Tensor:
    return Maximum()(a, b)


def minimum(a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> Tensor:
    return Minimum()(a, b)


def where(cond: Tensor | ArrayLike, a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> Tensor:
    """Elementwise ``a if cond else b``; ``cond`` is a boolean array or Tensor (no gradient)."""
    return Where()(cond, a, b)


def matmul(a: Tensor | ArrayLike, b: Tensor | ArrayLike) -> Tensor:
    """Matrix product with NumPy's rules; 1-D operands are promoted and the
    added axis removed again, as ``numpy.matmul`` does."""
    return MatMul()(a, b)
