"""Pooling: max and average pooling in 1D/2D/3D, adaptive and global average pooling.

Semantics follow ``torch.nn.functional``:

* input ``(N, C, *S)`` -> ``(N, C, *O)`` with, per axis, the course formula
  ``O = floor((n + 2p - k) / s) + 1``;
* ``stride`` defaults to ``kernel_size`` (non-overlapping windows);
* ``padding`` is added on both sides and may be at most ``kernel_size // 2``
  per axis (so that every window holds at least one real cell); max pooling
  pads with -inf, average pooling with zeros;
* average pooling divides by the full window ``prod(kernel_size)`` including
  padding cells (``count_include_pad=True``, PyTorch's default).

**Ties in max pooling.**  When several cells of a window share the maximum,
the *first* one in row-major order of the window (lowest depth, then row,
then column) receives the whole gradient; the others get zero.  This is
what PyTorch's CPU kernel does (the course's ``create_mask_from_window``
mask ``x == max(x)`` would instead pass the gradient to every tied cell).
A cell that is the maximum of several overlapping windows receives the sum of
their gradients.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Function
from ..backend import kernels_for
from ..hints import ArrayLike, Size
from ..tensor import Tensor
from ._args import check_float, ntuple, spatial_names, to_tensor

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "max_pool", "avg_pool", "adaptive_avg_pool", "global_avg_pool",
]


def _check_input(x, d, fn):
    if x.ndim != d + 2:
        raise ValueError(f"{fn}: input must have shape (N, C, {spatial_names(d)}) ({d + 2} dims), got shape {x.shape}")
    check_float(x, "input", fn)


def _pool_args(x, d, kernel_size, stride, padding, fn):
    """Validate and normalise; returns ``(kernel, stride, padding)`` tuples."""
    _check_input(x, d, fn)
    kernel = ntuple(kernel_size, d, "kernel_size", fn)
    stride = kernel if stride is None else ntuple(stride, d, "stride", fn)
    padding = ntuple(padding, d, "padding", fn, minimum=0)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{fn}: padding {padding} must be at most half of kernel_size {kernel}")
    spatial = x.shape[2:]
    if any(k > n + 2 * p for n, k, p in zip(spatial, kernel, padding)):
        padded = tuple(n + 2 * p for n, p in zip(spatial, padding))
        raise ValueError(
            f"{fn}: kernel_size {kernel} is larger than the padded input {padded} "
            f"(input shape {x.shape}, padding {padding})"
        )
    return kernel, stride, padding


class MaxPoolNd(Function):
    """Forward keeps, for each output, the flat index of its maximum; backward
    sends each upstream gradient to that one cell (see the tie rule above)."""

    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        self.kernels = kernels_for(x)
        self.x_shape = x.shape
        y, self.argmax = self.kernels.max_pool_forward(
            self.xp.ascontiguousarray(x), self.kernel, self.stride, self.padding
        )
        return y

    def backward(self, gy):
        gy = self.xp.ascontiguousarray(gy)
        return (self.kernels.max_pool_backward(gy, self.argmax, self.x_shape),)


class AvgPoolNd(Function):
    """Forward: the mean of each window; backward: ``dy / divisor`` to every cell of it."""

    def __init__(self, kernel, stride, padding, count_include_pad):
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.count_include_pad = count_include_pad

    def forward(self, x):
        self.kernels = kernels_for(x)
        self.x_shape = x.shape
        return self.kernels.avg_pool_forward(
            self.xp.ascontiguousarray(x), self.kernel, self.stride, self.padding, self.count_include_pad
        )

    def backward(self, gy):
        gy = self.xp.ascontiguousarray(gy)
        args = (self.kernel, self.stride, self.padding, self.count_include_pad)
        return (self.kernels.avg_pool_backward(gy, self.x_shape, *args),)


def _max_pool(d, input, kernel_size, stride, padding, fn):
    x = to_tensor(input, "input", fn)
    return MaxPoolNd(*_pool_args(x, d, kernel_size, stride, padding, fn))(x)


def _avg_pool(d, input, kernel_size, stride, padding, count_include_pad, fn):
    x = to_tensor(input, "input", fn)
    return AvgPoolNd(*_pool_args(x, d, kernel_size, stride, padding, fn), bool(count_include_pad))(x)


def _rank(input, fn):
    """Number of spatial axes of an N-d pooling input ``(N, C, *S)``."""
    ndim = input.ndim if hasattr(input, "ndim") else np.ndim(input)
    if ndim < 3:
        shape = np.shape(getattr(input, "data", input))
        raise ValueError(f"{fn}: input must have shape (N, C, *spatial), got shape {shape}")
    return ndim - 2


def max_pool(input: Tensor | ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0) -> Tensor:
    """N-d max pooling; the number of spatial axes is ``input.ndim - 2``."""
    return _max_pool(_rank(input, "max_pool"), input, kernel_size, stride, padding, "max_pool")


def max_pool1d(input: Tensor | ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0) -> Tensor:
    """input (N, C, L) -> (N, C, L_out): maximum over each window."""
    return _max_pool(1, input, kernel_size, stride, padding, "max_pool1d")


def max_pool2d(input: Tensor | ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0) -> Tensor:
    """input (N, C, H, W) -> (N, C, H_out, W_out): maximum over each window."""
    return _max_pool(2, input, kernel_size, stride, padding, "max_pool2d")


def max_pool3d(input: Tensor | ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0) -> Tensor:
    """input (N, C, D, H, W) -> (N, C, D_out, H_out, W_out): maximum over each window."""
    return _max_pool(3, input, kernel_size, stride, padding, "max_pool3d")


def avg_pool(input: Tensor | ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0, *,
             count_include_pad: bool = True) -> Tensor:
    """N-d average pooling; the number of spatial axes is ``input.ndim - 2``."""
    return _avg_pool(_rank(input, "avg_pool"), input, kernel_size, stride, padding, count_include_pad, "avg_pool")


def avg_pool1d(input: Tensor | ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0, *,
               count_include_pad: bool = True) -> Tensor:
    """input (N, C, L) -> (N, C, L_out): mean over each window."""
    return _avg_pool(1, input, kernel_size, stride, padding, count_include_pad, "avg_pool1d")


def avg_pool2d(input: Tensor | ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0, *,
               count_include_pad: bool = True) -> Tensor:
    """input (N, C, H, W) -> (N, C, H_out, W_out): mean over each window."""
    return _avg_pool(2, input, kernel_size, stride, padding, count_include_pad, "avg_pool2d")


def avg_pool3d(input: Tensor | ArrayLike, kernel_size: Size, stride: Size | None = None, padding: Size = 0, *,
               count_include_pad: bool = True) -> Tensor:
    """input (N, C, D, H, W) -> (N, C, D_out, H_out, W_out): mean over each window."""
    return _avg_pool(3, input, kernel_size, stride, padding, count_include_pad, "avg_pool3d")


# ----------------------------------------------------------------------------
# Global and adaptive average pooling
# ----------------------------------------------------------------------------
def global_avg_pool(input: Tensor | ArrayLike, keepdims: bool = False) -> Tensor:
    """Mean over every spatial axis: (N, C, *S) -> (N, C), or (N, C, 1, ..., 1)
    with ``keepdims=True``.  Turns a feature map of any size into one vector
    per example (the usual head of a modern ConvNet)."""
    x = to_tensor(input, "input", "global_avg_pool")
    if x.ndim < 3:
        raise ValueError(f"global_avg_pool: input must have shape (N, C, *spatial), got shape {x.shape}")
    check_float(x, "input", "global_avg_pool")
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=keepdims)


def _adaptive_bins(n, m):
    """PyTorch's bins: output cell ``i`` of ``m`` averages input cells
    ``floor(i*n/m)`` up to ``ceil((i+1)*n/m)`` (exclusive) of ``n``."""
    return [(i * n // m, -(-(i + 1) * n // m)) for i in range(m)]


class AdaptiveAvgPoolNd(Function):
    """Average over variable-size boxes that tile the input into ``output_size`` cells."""

    def __init__(self, output_size):
        self.output_size = output_size

    def forward(self, x):
        self.x_shape = x.shape
        self.boxes = []
        bins = [_adaptive_bins(n, m) for n, m in zip(x.shape[2:], self.output_size)]
        y = self.xp.empty(x.shape[:2] + tuple(self.output_size), dtype=x.dtype)
        for o in np.ndindex(*self.output_size):
            box = tuple(slice(*bins[i][oi]) for i, oi in enumerate(o))
            count = math.prod(sl.stop - sl.start for sl in box)
            self.boxes.append((o, box, count))
            y[(Ellipsis,) + o] = x[(slice(None), slice(None)) + box].sum(axis=tuple(range(2, x.ndim))) / count
        return y

    def backward(self, gy):
        gx = self.xp.zeros(self.x_shape, dtype=gy.dtype)
        d = len(self.output_size)
        for o, box, count in self.boxes:
            share = (gy[(Ellipsis,) + o] / count).reshape(gy.shape[:2] + (1,) * d)
            gx[(slice(None), slice(None)) + box] += share  # boxes overlap when n % m != 0
        return (gx,)


def adaptive_avg_pool(input: Tensor | ArrayLike, output_size: int | tuple[int | None, ...] = 1) -> Tensor:
    """Average pooling to a fixed output size, whatever the input size.

    input (N, C, *S) -> (N, C, *output_size).  ``output_size`` is an int or a
    tuple with one entry per spatial axis (``None`` keeps that axis's size).
    The default ``1`` is global average pooling with the spatial axes kept
    as length 1 (use :func:`global_avg_pool` to drop them).
    """
    fn = "adaptive_avg_pool"
    x = to_tensor(input, "input", fn)
    if x.ndim < 3:
        raise ValueError(f"{fn}: input must have shape (N, C, *spatial), got shape {x.shape}")
    check_float(x, "input", fn)
    d = x.ndim - 2
    if isinstance(output_size, (tuple, list)) and len(output_size) == d:  # None keeps that axis's size
        output_size = tuple(n if m is None else m for n, m in zip(x.shape[2:], output_size))
    size = ntuple(output_size, d, "output_size", fn)
    if all(m == 1 for m in size):
        return global_avg_pool(x, keepdims=True)
    return AdaptiveAvgPoolNd(size)(x)
