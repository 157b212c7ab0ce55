"""Thin convolutions: implicit GEMM, one output plane at a time, for layers with few output channels.

A layer with ``C_out <= 16`` is a matrix product ``W (C_out, F) @ col (F, P)``
with only a few rows (``F = C_in * prod(K)``, ``P`` output positions).  BLAS
runs such thin products far below its speed on square ones, and im2col first
writes ``F * P`` cells that are read once.  Here no column matrix exists: the
kernel reads the input where it lies.

For one output plane ``(n, z)`` (or a band of its rows) the output rows are
laid "wide", with the input's row pitch ``Wp``: output cell ``(r, q)`` is wide
position ``i = r * Wp + q``, and with stride 1 in ``H`` and ``W`` it reads, for
the tap ``(c, kz, ky, kx)``, the input cell ``src[n, i + off(c, kz, ky, kx)]``
(``off`` is a constant per tap, counted from the plane's first input row).
So each tap is one long contiguous SIMD ``acc += w * x`` over the band, and
four taps and four output channels share every load and store
(:func:`.loops.axpy4x4`).  The ``Wp - OW`` positions at the end of each row are
computed and thrown away, as in :mod:`.flat`, but per plane rather than per
volume: 5x5x5 on 14^3 wastes 36 % here against 174 % in the flat layout.

Padding: without any, ``src`` is the input itself (no copy at all); with
padding, one zero-padded copy of the input (reused per thread,
:mod:`.scratch`).  A ``nan``/``inf`` input therefore reaches exactly the
outputs whose window holds it.  Stride along ``D`` and dilation only move the
offsets; stride in ``H`` or ``W`` is left to im2col (:func:`.conv.method`).

Parallel over ``(n, z, band, group of four output channels)``.  All arrays
are 5-d (see :mod:`.shapes`); ``g`` is the tuple of
:func:`.shapes.conv_geometry`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit, prange

from .loops import FASTMATH, axpy4x4
from .scratch import scratch
from .threads import threads_for

BAND = 2048  # wide positions per task (whole rows): four accumulator rows of this stay in L1


@njit(cache=True, inline="always", fastmath=FASTMATH)
def _axpy1x4(a0, a1, a2, a3, x, w, t):
    """a_j += w[j, t] * x: one tap for four output channels (the taps left over after groups of four)."""
    w0, w1, w2, w3 = w[0, t], w[1, t], w[2, t], w[3, t]
    for q in range(a0.shape[0]):
        v = x[q]
        a0[q] += w0 * v
        a1[q] += w1 * v
        a2[q] += w2 * v
        a3[q] += w3 * v


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _thin_fwd(src, wt, b, offs, pitch, sz, rows_per_band, y):
    """y[n, o, z, r, q] = b[o] + sum_t wt[o, t] * src[n, plane(z) + r*Wp + q + offs[t]].

    src (N, C * Dp * Hp * Wp) the (padded) input, one row per sample; wt (O4, T)
    with ``O4`` a multiple of 4 (rows past ``C_out`` are zero and never stored);
    offs (T,) the tap offsets; pitch (Dp, Hp, Wp); y (N, C_out, OD, OH, OW).
    """
    N, O, OD, OH, OW = y.shape
    O4, T = wt.shape
    Hp, Wp = pitch[1], pitch[2]
    bands = (OH + rows_per_band - 1) // rows_per_band
    groups = O4 // 4
    per_n = OD * bands * groups
    for task in prange(N * per_n):
        n = task // per_n
        z = (task // (bands * groups)) % OD
        band = (task // groups) % bands
        o0 = 4 * (task % groups)
        r0 = band * rows_per_band
        r1 = min(r0 + rows_per_band, OH)
        width = (r1 - r0 - 1) * Wp + OW  # wide positions of the band: its last row stops at OW
        start = (z * sz * Hp + r0) * Wp  # the band's first input cell (the tap offsets do the rest)
        acc = np.empty((4, width), dtype=y.dtype)
        for j in range(4):
            acc[j, :] = b[o0 + j]
        a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
        w = wt[o0:o0 + 4]
        xs = src[n]
        for t in range(0, T - T % 4, 4):
            s0, s1, s2, s3 = start + offs[t], start + offs[t + 1], start + offs[t + 2], start + offs[t + 3]
            axpy4x4(a0, a1, a2, a3, xs[s0:s0 + width], xs[s1:s1 + width], xs[s2:s2 + width],
                    xs[s3:s3 + width], w[0], w[1], w[2], w[3], t)
        for t in range(T - T % 4, T):
            s = start + offs[t]
            _axpy1x4(a0, a1, a2, a3, xs[s:s + width], w, t)
        for j in range(min(4, O - o0)):
            for r in range(r1 - r0):  # keep the real outputs of each wide row
                for q in range(OW):
                    y[n, o0 + j, z, r0 + r, q] = acc[j, r * Wp + q]


def _work(x5_shape, o, g):
    n, c = x5_shape[:2]
    return n * o * c * math.prod(g[7]) * math.prod(g[6])


@functools.lru_cache(maxsize=256)
def _offsets(c, k5, dl, pitch):
    """(C * prod(K),) int64: where tap (c, kz, ky, kx) starts in one sample of the (padded) input,
    ``((c * Dp + kz * dz) * Hp + ky * dy) * Wp + kx * dx`` (memoised: a network repeats its layers)."""
    dp, hp, wp = pitch
    kz, ky, kx = np.meshgrid(*(np.arange(k) * d for k, d in zip(k5, dl)), indexing="ij")
    offs = (np.arange(c)[:, None] * (dp * hp * wp) + ((kz * hp + ky) * wp + kx).ravel()[None, :]).ravel()
    offs = offs.astype(np.int64)
    offs.flags.writeable = False
    return offs


def _padded(x5, lo, hi):
    """x5 itself when there is no padding, else a zero-padded copy (per-thread scratch)."""
    if not any(lo) and not any(hi):
        return x5
    n, c, d, h, w = x5.shape
    xp = scratch("thin-pad", (n, c, d + lo[0] + hi[0], h + lo[1] + hi[1], w + lo[2] + hi[2]), x5.dtype)
    xp[...] = 0
    xp[:, :, lo[0]:lo[0] + d, lo[1]:lo[1] + h, lo[2]:lo[2] + w] = x5
    return xp


def forward(x5, w5, g, bias, y5):
    """y5 (N, C_out, *O) = conv(x5, w5) + bias (zeros when ``bias`` is None); stride 1 in H and W."""
    _, st, dl, lo, hi, _, k5, _ = g
    o, c = w5.shape[:2]
    o4 = -(-o // 4) * 4
    with threads_for(_work(x5.shape, o, g)):
        src = _padded(x5, lo, hi)
        pitch = src.shape[2:]
        wt = np.zeros((o4, c * math.prod(k5)), x5.dtype)
        wt[:o] = w5.reshape(o, -1)
        b = np.zeros(o4, x5.dtype)
        if bias is not None:
            b[:o] = bias
        _thin_fwd(src.reshape(src.shape[0], -1), wt, b, _offsets(c, k5, dl, pitch), np.array(pitch, np.int64),
                  st[0], max(BAND // pitch[2], 1), y5)
