"""Activation functions: relu, leaky_relu, sigmoid, tanh, softmax, log_softmax.

Each is a :class:`~minicnn.autograd.Function` whose ``backward`` is the
derivative written out, so a learner can read the formula next to the code.
All of them keep the input's shape and dtype, and let NaN through like
PyTorch does (a NaN input gives a NaN output, never a plausible number).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import kernels_for
from ..hints import ArrayLike
from ..tensor import Tensor
from ._args import check_dim, float_input

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"]


class ReLU(Function):
    def forward(self, x):
        compiled = x.flags.c_contiguous and x.dtype in (np.float32, np.float64)
        self.fast = getattr(kernels_for(x), "relu", None) if compiled else None
        if self.fast is not None:  # the compiled backend: one pass, and y replaces the mask
            self.y = y = self.fast(x)
            self.fast_backward = kernels_for(x).relu_backward
            return y
        # "not x <= 0" rather than "x > 0": it is also True for NaN, so the gradient passes through
        # a NaN as in PyTorch. max(x, 0) keeps NaN (relu(nan) = nan, never hidden as a 0) but also
        # -0.0, so add +0.0: -0.0 + 0.0 = +0.0 (np.where(mask, x, 0) is the same but 10x slower).
        self.mask = ~(x <= 0)
        y = self.xp.maximum(x, 0)
        y += 0
        return y

    def backward(self, gy):
        # d relu(x)/dx = 1 if x > 0 else 0 (0 at x = 0, PyTorch's choice; NaN passes gy on, as there).
        # The compiled path reads y: y != 0 exactly where x > 0 or x is NaN.
        if self.fast is not None:
            return (self.fast_backward(gy, self.y),)
        return (gy * self.mask,)


class LeakyReLU(Function):
    def __init__(self, negative_slope):
        self.slope = negative_slope

    def forward(self, x):
        self.mask = x > 0
        return self.xp.where(self.mask, x, x * self.slope)

    def backward(self, gy):
        # d/dx = 1 for x > 0, negative_slope otherwise
        return (self.xp.where(self.mask, gy, gy * self.slope),)


class Sigmoid(Function):
    def forward(self, x):
        xp = self.xp
        # exp(-|x|) is in (0, 1], so neither branch can overflow:
        # x >= 0: 1 / (1 + e^-x);  x < 0: e^x / (1 + e^x)  (the same value, rewritten)
        e = xp.exp(-xp.abs(x))
        self.y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        return self.y

    def backward(self, gy):
        # d sigma/dx = sigma (1 - sigma)
        return (gy * self.y * (1 - self.y),)


class Tanh(Function):
    def forward(self, x):
        self.y = self.xp.tanh(x)
        return self.y

    def backward(self, gy):
        # d tanh(x)/dx = 1 - tanh(x)^2
        return (gy * (1 - self.y * self.y),)


class Softmax(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        # softmax is unchanged by subtracting a constant per slice; subtracting
        # the max makes every exponent <= 0, so exp cannot overflow.
        z = self.xp.exp(x - x.max(axis=self.dim, keepdims=True))
        self.y = z / z.sum(axis=self.dim, keepdims=True)
        return self.y

    def backward(self, gy):
        # Jacobian dy_i/dx_j = y_i (delta_ij - y_j), so
        # dL/dx_j = y_j (g_j - sum_i g_i y_i)
        y = self.y
        return (y * (gy - (gy * y).sum(axis=self.dim, keepdims=True)),)


class LogSoftmax(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        # log-sum-exp trick: log sum_j e^{x_j} = m + log sum_j e^{x_j - m}, m = max_j x_j
        xp = self.xp
        shifted = x - x.max(axis=self.dim, keepdims=True)
        self.y = shifted - xp.log(xp.exp(shifted).sum(axis=self.dim, keepdims=True))
        return self.y

    def backward(self, gy):
        # y_i = x_i - lse(x);  dy_i/dx_j = delta_ij - softmax_j, so
        # dL/dx_j = g_j - softmax_j * sum_i g_i
        return (gy - self.xp.exp(self.y) * gy.sum(axis=self.dim, keepdims=True),)


def relu(x: Tensor | ArrayLike) -> Tensor:
    """max(x, 0) elementwise; any shape."""
    return ReLU()(float_input("relu", x))


def leaky_relu(x: Tensor | ArrayLike, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else negative_slope * x, elementwise; any shape."""
    return LeakyReLU(float(negative_slope))(float_input("leaky_relu", x))


def sigmoid(x: Tensor | ArrayLike) -> Tensor:
    """1 / (1 + exp(-x)) elementwise, computed without overflow for large |x|."""
    return Sigmoid()(float_input("sigmoid", x))


def tanh(x: Tensor | ArrayLike) -> Tensor:
    """Hyperbolic tangent elementwise; any shape."""
    return Tanh()(float_input("tanh", x))


def softmax(x: Tensor | ArrayLike, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (each slice along ``dim`` sums to 1)."""
    x = float_input("softmax", x)
    return Softmax(check_dim("softmax", dim, x.ndim))(x)


def log_softmax(x: Tensor | ArrayLike, dim: int = -1) -> Tensor:
    """log(softmax(x, dim)) computed stably with the log-sum-exp trick."""
    x = float_input("log_softmax", x)
    return LogSoftmax(check_dim("log_softmax", dim, x.ndim))(x)
