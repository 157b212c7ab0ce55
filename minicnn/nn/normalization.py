"""Batch normalisation layers: ``BatchNorm1d``, ``BatchNorm2d``, ``BatchNorm3d``.

Learned per-channel ``weight`` (gamma, initialised to 1) and ``bias`` (beta,
0); buffers ``running_mean`` (0), ``running_var`` (1) and
``num_batches_tracked``, saved in ``state_dict`` under PyTorch's names.
In ``train()`` mode the batch statistics are used and the running estimates
updated; in ``eval()`` mode the running estimates are used.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


class _BatchNorm(Module):
    ndims = ()  # accepted input ranks
    shape_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        if not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        c = self.num_features
        if affine:
            self.weight = Parameter(np.ones(c, dtype=np.float32))
            self.bias = Parameter(np.zeros(c, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dtype=np.float32))
            self.register_buffer("running_var", np.ones(c, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def forward(self, x: Tensor) -> Tensor:
        if getattr(x, "ndim", None) not in self.ndims:
            raise ValueError(f"{type(self).__name__}: input must have shape {self.shape_text}, "
                             f"got shape {getattr(x, 'shape', None)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: input has {x.shape[1]} channels (shape {x.shape}) "
                             f"but the layer was built for num_features={self.num_features}")
        if self.running_mean is None:  # no running estimates: always batch statistics
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        momentum = self.momentum
        if self.training:
            self.num_batches_tracked.data[...] += 1
            if momentum is None:  # a cumulative moving average over all batches so far
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training, 0.0 if momentum is None else momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) features or (N, C, L) signals."""

    ndims = (2, 3)
    shape_text = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W) images."""

    ndims = (4,)
    shape_text = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Over (N, C, D, H, W) volumes."""

    ndims = (5,)
    shape_text = "(N, C, D, H, W)"
