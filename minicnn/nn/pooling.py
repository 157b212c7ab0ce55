"""Pooling layers: ``MaxPool1d/2d/3d``, ``AvgPool1d/2d/3d``,
``AdaptiveAvgPool1d/2d/3d`` and ``GlobalAvgPool``.

They hold no parameters; each ``forward`` calls the matching function of
:mod:`minicnn.functional` (one N-d implementation underneath).
"""

from __future__ import annotations

from .. import functional as F
from ..functional._args import ntuple
from ..hints import Size
from ..tensor import Tensor
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "GlobalAvgPool"]


class _PoolNd(Module):
    """Pooling over ``d`` spatial axes: (N, C, *S) -> (N, C, *O), with
    ``O = floor((S + 2 padding - kernel_size) / stride) + 1``; ``stride``
    defaults to ``kernel_size`` (non-overlapping windows)."""

    d = 0

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = ntuple(kernel_size, self.d, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else ntuple(stride, self.d, "stride", name)
        self.padding = ntuple(padding, self.d, "padding", name, minimum=0)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _MaxPoolNd(_PoolNd):
    def forward(self, x: Tensor) -> Tensor:
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self.d - 1]  # each checks the input's rank
        return pool(x, self.kernel_size, self.stride, self.padding)


class _AvgPoolNd(_PoolNd):
    def forward(self, x: Tensor) -> Tensor:
        pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[self.d - 1]
        return pool(x, self.kernel_size, self.stride, self.padding)


def _check_rank(layer, x):
    if getattr(x, "ndim", 0) - 2 != layer.d:
        spatial = ("L",), ("H", "W"), ("D", "H", "W")
        expected = ", ".join(("N", "C") + spatial[layer.d - 1])
        raise ValueError(f"{type(layer).__name__}: input must have shape ({expected}), "
                         f"got shape {getattr(x, 'shape', None)}")


class MaxPool1d(_MaxPoolNd):
    """Maximum over windows of a (N, C, L) signal."""

    d = 1


class MaxPool2d(_MaxPoolNd):
    """Maximum over windows of a (N, C, H, W) image."""

    d = 2


class MaxPool3d(_MaxPoolNd):
    """Maximum over windows of a (N, C, D, H, W) volume."""

    d = 3


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of a (N, C, L) signal."""

    d = 1


class AvgPool2d(_AvgPoolNd):
    """Mean over windows of a (N, C, H, W) image."""

    d = 2


class AvgPool3d(_AvgPoolNd):
    """Mean over windows of a (N, C, D, H, W) volume."""

    d = 3


class _AdaptiveAvgPoolNd(Module):
    """Average pooling to a fixed ``output_size`` whatever the input size:
    (N, C, *S) -> (N, C, *output_size)."""

    d = 0

    def __init__(self, output_size: int | tuple[int | None, ...]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        _check_rank(self, x)
        return F.adaptive_avg_pool(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    d = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    d = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    d = 3


class GlobalAvgPool(Module):
    """Mean over all spatial axes: (N, C, *S) -> (N, C) (or (N, C, 1, ..., 1)
    with ``keepdims=True``); works for 1D, 2D and 3D inputs alike."""

    def __init__(self, keepdims: bool = False) -> None:
        super().__init__()
        self.keepdims = keepdims

    def forward(self, x: Tensor) -> Tensor:
        return F.global_avg_pool(x, keepdims=self.keepdims)

    def extra_repr(self):
        return "keepdims=True" if self.keepdims else ""
