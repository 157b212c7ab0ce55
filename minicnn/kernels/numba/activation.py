"""ReLU in one compiled pass each way (used by :class:`minicnn.functional.activation.ReLU`
and by the fused convolution + ReLU of :mod:`minicnn.functional.conv`).

Why: NumPy needs four passes for a ReLU that keeps PyTorch's rules (a mask
``~(x <= 0)`` for the backward pass, ``maximum(x, 0)``, ``+ 0`` to turn -0.0
into 0.0), and the backward pass ``gy * mask`` another two.  On the small
ConvNet's training step those were 5 ms of 30 (docs/performance.md).  Here the
forward pass is one read and one write, and no mask is kept: the backward pass
reads the output ``y`` instead, because ``y != 0`` exactly where the input was
positive or NaN (``relu(nan) = nan``), the cells where the gradient flows.

Rules (the same as :mod:`minicnn.functional.activation` and PyTorch):
``relu(x) = x`` for ``x > 0`` and for NaN, ``+0.0`` otherwise (never -0.0);
``d relu / dx = 1`` where ``y != 0``, else 0 (0 at x = 0), and where it is 0
the gradient is 0 even when ``gy`` is inf or NaN (PyTorch's threshold_backward).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from .threads import threads_for

CHUNK = 1 << 14  # elements per parallel task: a few tasks per thread on 1M-element activations


@njit(parallel=True, cache=True)
def _relu(x, y):
    """y = relu(x) over flat arrays (``y`` may be ``x``: in place)."""
    n = x.shape[0]
    for task in prange((n + CHUNK - 1) // CHUNK):
        # unsigned indices: no negative-index wraparound check, so the loop vectorises (2x faster)
        for i in range(uint64(task * CHUNK), uint64(min((task + 1) * CHUNK, n))):
            v = x[i]
            # not (v <= 0) is True for NaN too, which therefore passes unchanged
            y[i] = v if not v <= 0 else 0.0


@njit(parallel=True, cache=True)
def _relu_backward(gy, y, gx):
    """gx = gy where y != 0, else 0 (flat arrays)."""
    n = gy.shape[0]
    for task in prange((n + CHUNK - 1) // CHUNK):
        for i in range(uint64(task * CHUNK), uint64(min((task + 1) * CHUNK, n))):
            gx[i] = gy[i] if y[i] != 0 else 0.0


def relu(x, out=None):
    """relu(x) as a new array (or into ``out``, which may be ``x``); ``x`` C-contiguous, float."""
    y = np.empty_like(x) if out is None else out
    with threads_for(x.size):
        _relu(x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(gy, y):
    """The input gradient of ``y = relu(x)`` from the output gradient ``gy`` (shape of y)."""
    gy = np.ascontiguousarray(gy, dtype=y.dtype)
    gx = np.empty_like(y)
    with threads_for(y.size):
        _relu_backward(gy.reshape(-1), y.reshape(-1), gx.reshape(-1))
    return gx
