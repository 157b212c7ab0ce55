"""Convolution: which formulation runs for a layer (the dispatch rule), and the three passes.

``F = C_in * prod(K)`` is the length of one flattened filter (the inner
dimension of the matrix product that im2col would build).

0. 2D, 3x3, stride 1, wide enough: **Winograd** (:mod:`.winograd`, whose
   ``forward_method`` decides), unless an input is not finite.  2D, 5x5 or
   6x6, stride 2: the same on the input's four phase images
   (:mod:`.polyphase`, when Winograd's rule holds for ``4 C_in`` channels;
   1.3-1.8x faster than im2col per pass on 8,32,64x64 -> 64).
1. forward with stride 1 in ``H`` and ``W`` and ``C_out <= 64``: **thin
   direct convolution** (:mod:`.thin`), a register-tiled kernel (8 output
   channels x 2 vectors of positions in registers), no im2col matrix.  It beat
   im2col + BLAS on every such layer measured, thin or not (one thread, ms:
   4,1,14^3 -> 16, k5: 0.18 against 0.51; 2,8,32^3 -> 16, k3 p1: 3.5 against
   9.5; 8,3,32x32 -> 16, k3 p1: 0.08 against 0.20; 64,1,1000 -> 16, k5: 0.27
   against 0.74; 8,32,32x32 -> 64, k3: 2.4 against 3.4; 8,64,28x28 -> 64,
   k5: 10.1 against 16.0); with 256 output channels BLAS catches up (1x1,
   8,256,14x14 -> 256: 2.0 against 1.8), hence the bound (docs/performance.md).
2. weight gradient with stride 1, ``C_out <= 16``, ``F >= 64`` and at most
   1.5 "wide" positions per output (e.g. 2,8,32^3 -> 16, k3): **flat direct
   convolution** (:mod:`.flat`), where the 16-row matrix product of im2col
   runs far below BLAS's speed on square ones.  (Rule 1 takes every forward it
   would get; its forward stays for the tests, which force it.)
3. everything else (strides in H or W, more than 64 output channels), the
   input gradient always: **im2col + BLAS** (:mod:`.im2col`).  Since the tiles are reused per thread
   (:mod:`.scratch`) and im2col copies whole rows, this beat the flat kernels
   on narrow layers too (issue 16, measured per pass on one thread:
   8,3,32x32 -> 16: 0.21/0.15/0.15 ms forward/input/weight gradient against
   0.31/0.33/0.32 flat; 64,1,1000 -> 16, k5: 0.78/0.38/0.41 against
   0.90/1.11/1.08; docs/performance.md).

Each pass takes arrays of any rank 1-3 and works on their 5-d views
(:mod:`.shapes`).
"""

from __future__ import annotations

import numpy as np

from . import flat, im2col, polyphase, thin, winograd
from .shapes import contig, conv_geometry, to5d

DIRECT_MAX_FILTER = 0  # F = C_in * prod(K) at or below this: always flat (0: never; tests force "flat" with it)
FLAT_MAX_COUT = 16  # stride 1, forward and weight gradient: at most this many output channels (a thin GEMM) ...
FLAT_MIN_FILTER = 64  # ... and F at least this (shorter filters: im2col is cheap and BLAS wins) ...
FLAT_MAX_WASTE = 1.5  # ... and at most this many wide positions per real output: flat
THIN_MAX_COUT = 64  # forward, stride 1 in H and W: at most this many output channels: thin


def method(n, c_in, c_out, g, pass_="forward"):
    """The dispatch rule of the module docstring (after Winograd): ``"thin"``, ``"flat"`` or
    ``"gemm"`` for one pass: ``"forward"``, ``"input"`` (input gradient) or ``"weight"``."""
    _, st, _, lo, hi, s5, k5, out = g
    filt = c_in * k5[0] * k5[1] * k5[2]
    unit = all(s == 1 for s in st)
    if unit and filt <= DIRECT_MAX_FILTER:
        return "flat"
    if pass_ == "forward" and st[1] == st[2] == 1 and c_out <= THIN_MAX_COUT:
        return "thin"
    if not unit:
        return "gemm"
    if pass_ != "input" and c_out <= FLAT_MAX_COUT and filt >= FLAT_MIN_FILTER:
        dp, hp, wp = (s + a + b for s, a, b in zip(s5, lo, hi))
        wide = (n - 1) * dp * hp * wp + ((out[0] - 1) * hp + out[1] - 1) * wp + out[2]
        if wide <= FLAT_MAX_WASTE * n * out[0] * out[1] * out[2]:
            return "flat"
    return "gemm"


_MODULES = {"thin": thin, "flat": flat, "gemm": im2col}


def _formulation(n, c_in, c_out, g, pass_):
    return _MODULES[method(n, c_in, c_out, g, pass_)]


def conv_forward(x, w, stride, padding, dilation, bias=None):
    """The contract's conv_forward; ``bias`` (C_out,) or None is added in the same pass
    (cheaper than a separate ``y += b`` over the whole output)."""
    m = winograd.forward_method(x.shape, w.shape, stride, padding, dilation)
    if m is not None:  # None back: an inf/nan, redo directly
        y = winograd.conv_forward(contig(x, x.dtype), contig(w, x.dtype), padding, m, bias)
        if y is not None:
            return y
    m = polyphase.method(x.shape, w.shape, stride, padding, dilation)
    if m is not None:
        y = polyphase.conv_forward(contig(x, x.dtype), contig(w, x.dtype), padding, m, bias)
        if y is not None:
            return y
    g = conv_geometry(x.shape, w.shape, stride, padding, dilation)
    d, out = g[0], g[7]
    n, c = x.shape[:2]
    o = w.shape[0]
    y5 = np.empty((n, o) + out, dtype=x.dtype)
    x5, w5 = to5d(contig(x, x.dtype), d), to5d(contig(w, x.dtype), d)
    _formulation(n, c, o, g, "forward").forward(x5, w5, g, bias, y5)
    return y5.reshape((n, o) + tuple(out[3 - d:]))


def conv_backward_input(gy, w, x_shape, stride, padding, dilation):
    """The contract's conv_backward_input: gx of shape ``x_shape``."""
    m = winograd.backward_input_method(x_shape, w.shape, stride, padding, dilation)
    if m is not None:
        gx = winograd.conv_backward_input(contig(gy, gy.dtype), contig(w, gy.dtype), x_shape, padding, m)
        if gx is not None:
            return gx
    m = polyphase.method(x_shape, w.shape, stride, padding, dilation, "input")
    if m is not None:
        gx = polyphase.conv_backward_input(contig(gy, gy.dtype), contig(w, gy.dtype), x_shape, padding, m)
        if gx is not None:
            return gx
    g = conv_geometry(x_shape, w.shape, stride, padding, dilation)
    d, s5 = g[0], g[5]
    n, c = x_shape[:2]
    o = w.shape[0]
    gx5 = np.empty((n, c) + s5, dtype=gy.dtype)
    gy5, w5 = to5d(contig(gy, gy.dtype), d), to5d(contig(w, gy.dtype), d)
    _formulation(n, c, o, g, "input").backward_input(gy5, w5, g, gx5)
    return gx5.reshape(tuple(x_shape))


def conv_backward_weight(gy, x, w_shape, stride, padding, dilation):
    """The contract's conv_backward_weight: gw of shape ``w_shape``."""
    m = winograd.forward_method(x.shape, w_shape, stride, padding, dilation)
    if m is not None:  # the adjoint of the Winograd forward (None: an inf/nan, redo directly)
        gw = winograd.conv_backward_weight(contig(gy, gy.dtype), contig(x, gy.dtype), w_shape, padding, m)
        if gw is not None:
            return gw
    m = polyphase.method(x.shape, w_shape, stride, padding, dilation, "weight")
    if m is not None:
        gw = polyphase.conv_backward_weight(contig(gy, gy.dtype), contig(x, gy.dtype), w_shape, padding, m)
        if gw is not None:
            return gw
    g = conv_geometry(x.shape, w_shape, stride, padding, dilation)
    d = g[0]
    n, c = x.shape[:2]
    o = w_shape[0]
    gy5, x5 = to5d(contig(gy, gy.dtype), d), to5d(contig(x, gy.dtype), d)
    gw = _formulation(n, c, o, g, "weight").backward_weight(gy5, x5, g, o)
    return gw.reshape(tuple(w_shape))
