"""Dense (fully connected) layer and L2 normalisation.

``linear`` is the affine map ``y = x W^T + b`` with ``W`` stored as
``(out_features, in_features)``, PyTorch's layout. ``normalize`` scales
vectors to unit Euclidean length, which is how face encodings are compared.
"""

from __future__ import annotations

from ..autograd import Function
from ..blas import matmul
from ..hints import ArrayLike
from ..tensor import Tensor
from ._args import check_dim, float_input

__all__ = ["linear", "normalize"]


class Linear(Function):
    """``y = x W^T (+ b)`` for ``x`` (..., in), ``W`` (out, in), ``b`` (out,)."""

    def __init__(self, has_bias):
        self.has_bias = has_bias

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        y = matmul(x, w.T)  # small products on one BLAS thread: see minicnn.blas
        return y + b if b is not None else y

    def backward(self, gy):
        # y = x W^T + b:  dL/dx = g W,  dL/dW = g^T x (summed over all leading axes),
        # dL/db = sum of g over the leading axes
        x, w = self.x, self.w
        need_x, need_w = self.needs_input_grad[:2]
        gx = matmul(gy, w) if need_x else None
        gw = None
        if need_w:
            g2 = gy.reshape(-1, gy.shape[-1])
            gw = matmul(g2.T, x.reshape(-1, x.shape[-1]))
        if not self.has_bias:
            return gx, gw
        gb = gy.reshape(-1, gy.shape[-1]).sum(axis=0) if self.needs_input_grad[2] else None
        return gx, gw, gb


def linear(input: Tensor | ArrayLike, weight: Tensor | ArrayLike, bias: Tensor | ArrayLike | None = None) -> Tensor:
    """Affine map ``input @ weight.T + bias``.

    Shapes: ``input`` (*, in_features), ``weight`` (out_features, in_features),
    ``bias`` (out_features,) or None; result (*, out_features).
    """
    x = float_input("linear", input)
    w = float_input("linear", weight, "weight")
    if w.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: input shape {x.shape} does not match weight shape {w.shape}: "
                         f"the last input axis must have in_features={w.shape[1]} elements")
    if bias is None:
        return Linear(False)(x, w)
    b = float_input("linear", bias, "bias")
    if b.shape != (w.shape[0],):
        raise ValueError(f"linear: bias must have shape ({w.shape[0]},) to match weight {w.shape}, "
                         f"got {b.shape}")
    return Linear(True)(x, w, b)


class Normalize(Function):
    def __init__(self, dim, eps):
        self.dim, self.eps = dim, eps

    def forward(self, x):
        xp = self.xp
        n = xp.sqrt((x * x).sum(axis=self.dim, keepdims=True))
        self.d = xp.maximum(n, self.eps)
        self.clamped = n < self.eps
        self.y = x / self.d
        return self.y

    def backward(self, gy):
        # y = x / |x|:  dy_i/dx_j = (delta_ij - y_i y_j) / |x|, so
        # dL/dx = (g - y (g . y)) / |x|.  Where |x| < eps the divisor is the
        # constant eps and the gradient is just g / eps.
        y = self.y
        radial = (gy * y).sum(axis=self.dim, keepdims=True)
        gx = self.xp.where(self.clamped, gy, gy - y * radial) / self.d
        return (gx,)


def normalize(x: Tensor | ArrayLike, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_2, eps)`` along ``dim``: unit-length vectors (e.g. (N, 128) face encodings)."""
    x = float_input("normalize", x)
    return Normalize(check_dim("normalize", dim, x.ndim), float(eps))(x)
