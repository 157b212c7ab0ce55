"""Stride-2 5x5 (and 6x6) convolutions as one stride-1 3x3 convolution on the input's four phases.

With stride 2 an output cell reads ``x_pad[2i + kh, 2j + kw]``.  Split the
taps by parity, ``kh = 2a + ph`` and ``kw = 2b + pw``; then the cell is
``X[ph, pw][i + a, j + b]`` with the *phase images*
``X[ph, pw][u, v] = x_pad[2u + ph, 2v + pw]`` (every other row and column).
So::

    y = sum over the 4 phases (ph, pw) of  conv_stride1(X[ph, pw], w[:, :, ph::2, pw::2])

For ``K = 5`` the sub-filters are 3x3, 3x2, 2x3 and 2x2 (``K = 6``: all 3x3);
padded with zeros to 3x3 and stacked along the channels they make ONE
stride-1 3x3 convolution with ``4 C_in`` input channels, which Winograd
(:mod:`.winograd`) runs with 4x fewer multiplies (F(4x4)).  The zero taps
cost 36 multiplies where the 5x5 filter has 25, so the net saving is 2.8x.
Its adjoints are the same trick backwards: the input gradient is the
Winograd input gradient of the phase convolution (each input cell belongs to
exactly one phase cell, so no sum); the weight gradient is the phase
convolution's Winograd weight gradient, its taps put back at
``(2a + ph, 2b + pw)``.  The phase images are never built: Winograd's tile
transforms read (and, for the input gradient, write) their cells in place,
``x_pad[2u + ph, 2v + pw]`` (:func:`.winograd_tiles.input_tiles`), which
saved a copy of the input in each pass (1.1-1.3 ms of the benchmark layer's
forward, on one thread).

Measured on the benchmark's 8,32,64x64 -> 64 k5 s2 layer (issue 16): see
docs/performance.md.  Used by :mod:`.conv` when :func:`method` says so.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import winograd
from .threads import get_num_threads

PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def applies(x_shape, w_shape, stride, padding, dilation):
    """2D, stride 2, dilation 1, a 5x5 or 6x6 filter (both sub-filter sizes at most 3)."""
    return (len(x_shape) == 4 and tuple(stride) == (2, 2) and tuple(dilation) == (1, 1)
            and all(-(-k // 2) == 3 for k in w_shape[2:]))


def method(x_shape, w_shape, stride, padding, dilation, pass_="forward"):
    """The Winograd tile size ``m`` for this stride-2 call (``pass_`` ``"forward"``, ``"input"`` or
    ``"weight"``), or ``None`` (then im2col runs it): Winograd's own rule (:func:`.winograd.choose`)
    for the phase convolution, ``4 C_in -> C_out`` (the input gradient: ``C_out -> 4 C_in``)."""
    if not applies(x_shape, w_shape, stride, padding, dilation):
        return None
    n, c = x_shape[:2]
    oh, ow = _out_size(x_shape, w_shape, padding)
    if pass_ == "input":
        return winograd.choose(n, w_shape[0], 4 * c, oh + 2, ow + 2, get_num_threads())
    return winograd.choose(n, 4 * c, w_shape[0], oh, ow, get_num_threads())


def _out_size(x_shape, w_shape, padding):
    return tuple((x_shape[d + 2] + sum(padding[d]) - w_shape[d + 2]) // 2 + 1 for d in (0, 1))


def phase_weights_reference(w):
    """w (O, C, K, K') -> (O, 4 C, 3, 3): block ``2 ph + pw`` holds ``w[:, :, ph::2, pw::2]``, zero-padded."""
    o, c, kh, kw = w.shape
    W = np.zeros((o, 4 * c, 3, 3), w.dtype)
    for k, (ph, pw) in enumerate(PHASES):
        sub = w[:, :, ph::2, pw::2]
        W[:, k * c:(k + 1) * c, :sub.shape[2], :sub.shape[3]] = sub
    return W


@njit(cache=True, nogil=True)
def _phase_copy(w, W, to_phases):
    """``to_phases``: W (O, 4 C, 3, 3) = the phase filters of w (O, C, K, K') (as
    :func:`phase_weights_reference`); else the adjoint, w = the taps of W put back (the weight gradient)."""
    o_, c_, kh, kw = w.shape
    for o in range(o_):
        for k in range(4):
            ph, pw = k // 2, k % 2
            for c in range(c_):
                for a in range(3):
                    for b in range(3):
                        i, j = 2 * a + ph, 2 * b + pw
                        if to_phases:
                            W[o, k * c_ + c, a, b] = w[o, c, i, j] if i < kh and j < kw else 0.0
                        elif i < kh and j < kw:
                            w[o, c, i, j] = W[o, k * c_ + c, a, b]


def phase_weights(w):
    """:func:`phase_weights_reference`, compiled (0.02 ms on the benchmark layer against 0.15-0.2 ms
    for the four strided NumPy copies, run on one thread before every forward and input gradient)."""
    o, c = w.shape[:2]
    W = np.empty((o, 4 * c, 3, 3), w.dtype)
    _phase_copy(np.ascontiguousarray(w), W, True)
    return W


def conv_forward(x, w, padding, m, bias=None):
    """y (N, O, OH, OW) of the stride-2 convolution of x (N, C, H, W) with w (O, C, K, K'), or None."""
    out = _out_size(x.shape, w.shape, padding)
    phases = (out[0] + 2, out[1] + 2, padding[0][0], padding[1][0])
    return winograd.conv_forward(x, phase_weights(w), ((0, 0), (0, 0)), m, bias, x_phases=phases)


def _needed(size, lo, cells):
    """Phase cells ``[u0, cells - d0)`` that hold some input cell (``2u + dh - lo`` in ``[0, size)`` for
    a phase ``dh``), as ``(u0, d0)``, each at most 2."""
    u0 = min(max(0, -(-(lo - dh) // 2)) for dh in (0, 1))
    u1 = max(min(cells - 1, (size - 1 + lo - dh) // 2) for dh in (0, 1))
    return min(u0, 2), min(max(cells - 1 - u1, 0), 2)


def _covered(size, lo, cells, u0, d0):
    """True when every input cell (``0 <= i < size``) lies in a computed phase cell: ``(i + lo) // 2``
    (non-decreasing in i) within ``[u0, cells - d0)``.  Then the input gradient needs no zeroed array
    (0.24 ms of a 4 MB ``np.zeros`` per call on the benchmark layer).  :func:`_needed`'s crop keeps
    this true for 5x5 and 6x6 filters (an input cell no window reaches is still in a phase cell, and
    gets its 0 computed); the check guards the unzeroed array all the same."""
    return u0 <= lo // 2 and (size - 1 + lo) // 2 < cells - d0


def conv_backward_input(gy, w, x_shape, padding, m):
    """gx (x_shape) of the stride-2 convolution, or None when not finite (each input cell is
    one cell of one phase image: the phase convolution's input gradient is written in place).

    Only the phase cells that hold an input cell are computed: the phase images have
    ``OH + 2`` rows, but with padding 2 the first and last hold only padding (34 -> 32 rows
    on the benchmark layer, 81 -> 64 F(4x4) tiles per sample).  Cropping row ``u0`` off the top
    is the phase convolution's input gradient with padding ``u0``."""
    out = gy.shape[2:]
    (u0, d0), (v0, e0) = (_needed(x_shape[k + 2], padding[k][0], out[k] + 2) for k in (0, 1))
    covered = all(_covered(x_shape[k + 2], padding[k][0], out[k] + 2, *crop)
                  for k, crop in ((0, (u0, d0)), (1, (v0, e0))))
    phases = (tuple(x_shape), padding[0][0] - 2 * u0, padding[1][0] - 2 * v0, covered)
    return winograd.conv_backward_input(gy, phase_weights(w), None, ((u0, d0), (v0, e0)), m, x_phases=phases)


def conv_backward_weight(gy, x, w_shape, padding, m):
    """gw (w_shape) of the stride-2 convolution, or None when not finite."""
    o, c = w_shape[:2]
    out = gy.shape[2:]
    phases = (out[0] + 2, out[1] + 2, padding[0][0], padding[1][0])
    gW = winograd.conv_backward_weight(gy, x, (o, 4 * c, 3, 3), ((0, 0), (0, 0)), m, x_phases=phases)
    if gW is None:
        return None
    gw = np.empty(w_shape, gy.dtype)
    _phase_copy(gw, gW, False)  # every tap of a 5x5 or 6x6 filter is one tap of one phase filter
    return gw
