"""Convolution layers: ``Conv1d``, ``Conv2d``, ``Conv3d``.

All three are one class, :class:`_ConvNd`, with a different number of spatial
axes; ``forward`` is a single call of :func:`minicnn.functional.conv`.

Initialisation follows PyTorch's default, so a minicnn layer starts from the
same distribution as a ``torch.nn.Conv2d``: weights
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``kaiming_uniform_`` with ``a=sqrt(5)``)
and bias ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in = C_in * prod(kernel)``.
For deep ReLU stacks, re-initialise with He normal:
``nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..functional._args import ntuple
from ..hints import Padding, Size
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d"]


class _ConvNd(Module):
    """``d``-dimensional convolution layer.

    input (N, in_channels, *S) -> output (N, out_channels, *O), with
    ``O = floor((S + 2 padding - dilation (kernel - 1) - 1) / stride) + 1``.
    ``weight``: (out_channels, in_channels, *kernel_size); ``bias``: (out_channels,).
    """

    d = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size, stride: Size = 1,
                 padding: Padding = 0, dilation: Size = 1, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: {arg} must be a positive int, got {v!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = ntuple(kernel_size, self.d, "kernel_size", name)
        self.stride = ntuple(stride, self.d, "stride", name)
        self.padding = padding if isinstance(padding, str) else ntuple(padding, self.d, "padding", name, minimum=0)
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        self.dilation = ntuple(dilation, self.d, "dilation", name)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default initialisation (see the module docstring)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.compute_fans(self.weight.shape)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0,) * self.d, "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self.d:
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1D convolution over (N, C_in, L): signals such as ECG traces."""

    d = 1


class Conv2d(_ConvNd):
    """2D convolution over (N, C_in, H, W): images."""

    d = 2


class Conv3d(_ConvNd):
    """3D convolution over (N, C_in, D, H, W): volumes (CT scans) or video."""

    d = 3
