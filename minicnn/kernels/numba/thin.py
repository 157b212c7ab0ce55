"""Thin convolutions: a register-tiled direct forward for layers with few output channels.

A layer with few output channels (``C_out <= 64``, :func:`.conv.method`) is a
matrix product ``W (C_out, F) @ col (F, P)`` with only a few rows
(``F = C_in * prod(K)``, ``P`` output positions).  BLAS runs such thin
products far below its speed on square ones, and im2col first writes
``F * P`` cells that are read once.  Here no column matrix exists.

**Runs.** The output positions are cut into *runs*: up to ``L`` consecutive
outputs (``L`` = one SIMD register, 16 float32 with AVX-512, :mod:`.simd`)
whose inputs, for any tap ``t = (c, kz, ky, kx)``, are ``L`` consecutive
cells of a source array ``src`` starting at ``start + offs[t]``.  A run is
therefore one vector load per tap, wherever it lies.

**The register tile.** 8 output channels x 2 runs = 16 vector accumulators
stay in registers across the whole loop over taps: each tap loads 2 vectors
and broadcasts 8 weights for 16 fused multiply-adds, and the accumulators are
written to ``y`` once, at the end (masked: a run may hold fewer than ``L``
outputs).  The tile takes the output channels 8 at a time; past ``C_out`` it
repeats the last weight row and never stores the result.  The loop runs at
60-75 GMAC/s float32 on one AVX-512 core, against 25-43 for the earlier
kernel that kept its accumulators in memory.

**Two layouts of the source** (:func:`_plan` picks the one with fewer lanes
computed):

* *rows*: ``src`` is the input itself (no padding) or one zero-padded copy;
  a run is a piece of one output row, so a row of ``OW`` outputs costs
  ``ceil(OW / L)`` runs (32 -> 2 runs, no waste; 10 -> 1 run, 6 of 16 lanes
  wasted);
* *planes*: ``src`` holds ``KW`` copies of the (padded) input shifted by
  ``kx`` along W, cut to ``OW`` columns.  Then output row ``r + 1`` follows
  row ``r`` directly in ``src`` as in ``y``, so a whole output plane is one
  stretch of ``OH * OW`` positions and the runs cross row ends (the CT layer's
  10 x 10 plane: 7 runs for 100 outputs, against 10 runs as rows).  The copy
  costs ``KW`` times the input, small beside the work of such layers.

Stride along D and dilation only move the starts and offsets; stride in H or
W is left to im2col (:func:`.conv.method`).  A ``nan``/``inf`` input reaches
exactly the outputs whose window holds it (masked lanes read nothing).

Parallel over ``(n, block of runs)``.  All arrays are 5-d (:mod:`.shapes`);
``g`` is the tuple of :func:`.shapes.conv_geometry`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit, prange

from .loops import FASTMATH, span
from .scratch import scratch
from .simd import fma, lanes, load_rows, splat_like, store_rows
from .threads import get_num_threads, threads_for

GROUP = 8  # output channels per register tile ...
RUNS = 2  # ... times runs per tile: 16 accumulator registers (of AVX-512's 32), the rest hold loads
PLANES_GAIN = 1.25  # use the planes layout when rows would compute this many times its lanes
TASKS_PER_THREAD = 16  # blocks of runs per thread: a thread slowed by other load is given fewer


@njit(cache=True, inline="always")
def _store(ys, plane, o, c_out, starts, counts, acc):
    """Channel ``o``'s runs of y (``ys`` one sample, ``plane`` outputs per channel), if o is a real channel."""
    if o < c_out:
        store_rows(ys, (starts[0] + o * plane, starts[1] + o * plane), counts, acc)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def _thin_fwd(src, w2, b, offs, runs, block, plane, y):
    """y[n, o * plane + dst + i] = b[o] + sum_t w2[o, t] * src[n, start + offs[t] + i], for each run.

    src (N, S) one sample per row; w2 (C_out, T) the weights, b (C_out,) the bias;
    offs (T,); runs (R, 3) int64 rows ``(start, dst, count)``, R even (count 0: a run
    that only pads); block even; y (N, C_out * plane).
    """
    n_, c_out = src.shape[0], w2.shape[0]
    taps = w2.shape[1]
    n_runs = runs.shape[0]
    blocks = (n_runs + block - 1) // block
    last = c_out - 1
    for task in prange(n_ * blocks):
        n = task // blocks
        k0 = (task % blocks) * block
        xs, ys = src[n], y[n]
        for k in range(k0, min(k0 + block, n_runs), RUNS):
            starts = (runs[k, 0], runs[k + 1, 0])
            counts = (runs[k, 2], runs[k + 1, 2])
            dst = (runs[k, 1], runs[k + 1, 1])
            for o in range(0, c_out, GROUP):  # the next group finds this tile's inputs in L1
                # the weight rows of the group; past C_out repeat the last one (computed, never stored)
                r0, r1, r2, r3 = o, min(o + 1, last), min(o + 2, last), min(o + 3, last)
                r4, r5, r6, r7 = min(o + 4, last), min(o + 5, last), min(o + 6, last), min(o + 7, last)
                x = load_rows(xs, starts, offs[0], counts)
                a0 = fma(w2[r0, 0], x, splat_like(b[r0], x))
                a1 = fma(w2[r1, 0], x, splat_like(b[r1], x))
                a2 = fma(w2[r2, 0], x, splat_like(b[r2], x))
                a3 = fma(w2[r3, 0], x, splat_like(b[r3], x))
                a4 = fma(w2[r4, 0], x, splat_like(b[r4], x))
                a5 = fma(w2[r5, 0], x, splat_like(b[r5], x))
                a6 = fma(w2[r6, 0], x, splat_like(b[r6], x))
                a7 = fma(w2[r7, 0], x, splat_like(b[r7], x))
                for t in range(1, taps):
                    x = load_rows(xs, starts, offs[t], counts)
                    a0 = fma(w2[r0, t], x, a0)
                    a1 = fma(w2[r1, t], x, a1)
                    a2 = fma(w2[r2, t], x, a2)
                    a3 = fma(w2[r3, t], x, a3)
                    a4 = fma(w2[r4, t], x, a4)
                    a5 = fma(w2[r5, t], x, a5)
                    a6 = fma(w2[r6, t], x, a6)
                    a7 = fma(w2[r7, t], x, a7)
                _store(ys, plane, o, c_out, dst, counts, a0)
                _store(ys, plane, o + 1, c_out, dst, counts, a1)
                _store(ys, plane, o + 2, c_out, dst, counts, a2)
                _store(ys, plane, o + 3, c_out, dst, counts, a3)
                _store(ys, plane, o + 4, c_out, dst, counts, a4)
                _store(ys, plane, o + 5, c_out, dst, counts, a5)
                _store(ys, plane, o + 6, c_out, dst, counts, a6)
                _store(ys, plane, o + 7, c_out, dst, counts, a7)


@njit(cache=True, nogil=True)
def _shifted_copies(x, lo, shifts, n_lanes, out):
    """out[n, c, s, z, r, q] = x[n, c, z - lo[0], r - lo[1], q + shifts[s] - lo[2]], 0 outside x.

    x (N, C, D, H, W); out (N, C, S, Dp, Hp, width); ``n_lanes`` = :func:`.simd.lanes`.
    With one shift 0 and the padded width this is the zero-padded input; with
    ``shifts = kx * dilation`` and ``width = OW`` the planes layout of the
    module docstring.  Rows are short (10 cells in the CT layer), so each is
    moved as one or a few masked vectors: 11 us for the CT layer, against 23-28
    for loops (which LLVM gives an alias check and a scalar tail per row).
    """
    n_, c_, d_, h_, w_ = x.shape
    s_, dp, hp, width = out.shape[2:]
    xf = x.reshape(-1)
    of = out.reshape(-1)
    zero = load_rows(xf, (0,), 0, (0,))  # a run of count 0 reads nothing: a vector of zeros
    for task in range(n_ * c_ * s_):
        off = shifts[task % s_] - lo[2]
        a, b = span(off, 1, w_, width)  # columns q in [a, b) read x
        full = a == 0 and b == width  # no column of the row falls in the padding
        plane = (task // s_) * d_  # the first input plane of this (n, c)
        for z in range(dp):
            for r in range(hp):
                base = ((task * dp + z) * hp + r) * width
                iz, iy = z - lo[0], r - lo[1]
                inside = 0 <= iz < d_ and 0 <= iy < h_
                # (while, not range with a step: that divides to count its steps, in every row)
                if not inside or not full:
                    q = 0
                    while q < width:
                        store_rows(of, (base + q,), (min(n_lanes, width - q),), zero)
                        q += n_lanes
                if inside:
                    src = ((plane + iz) * h_ + iy) * w_ + off
                    q = a
                    while q < b:
                        count = (min(n_lanes, b - q),)
                        store_rows(of, (base + q,), count, load_rows(xf, (src + q,), 0, count))
                        q += n_lanes


@functools.lru_cache(maxsize=256)
def _plan(shape5, g, n_lanes, planes_gain):
    """How one geometry runs: ``(shifts, width, runs, offs)``, arrays of int64.

    ``shifts`` None: ``src`` is the input itself; else the shifts of
    :func:`_shifted_copies`, whose rows are ``width`` long.  runs (R, 3) and
    offs (T,) as in :func:`_thin_fwd`.  ``planes_gain``: :data:`PLANES_GAIN` (an argument, so the
    memo sees a changed value).  Memoised: a network repeats its layers.
    """
    _, st, dl, lo, hi, s5, k5, out = g
    c = shape5[1]
    dp, hp, wp = (s + a + b for s, a, b in zip(s5, lo, hi))
    od, oh, ow = out
    per_row = -(-ow // n_lanes) * n_lanes
    per_plane = -(-(oh * ow) // n_lanes) * n_lanes
    cc, kz, ky, kx = np.meshgrid(np.arange(c), np.arange(k5[0]) * dl[0], np.arange(k5[1]) * dl[1],
                                 np.arange(k5[2]) * dl[2], indexing="ij")
    z = np.arange(od)[:, None]
    if oh * per_row > planes_gain * per_plane:  # planes: runs cross the ends of output rows
        shifts, width = tuple(range(0, k5[2] * dl[2], dl[2])), ow
        offs = (((cc * k5[2] + kx // dl[2]) * dp + kz) * hp + ky) * width
        p0 = np.arange(0, oh * ow, n_lanes)[None, :]
        runs = np.stack(np.broadcast_arrays(z * st[0] * hp * ow + p0, z * oh * ow + p0,
                                            np.minimum(oh * ow - p0, n_lanes)), -1)
    else:  # rows: a run is a piece of one output row
        shifts = (0,) if any(lo) or any(hi) else None
        width = wp
        offs = ((cc * dp + kz) * hp + ky) * wp + kx
        r, q0 = np.arange(oh)[None, :, None], np.arange(0, ow, n_lanes)[None, None, :]
        z = z[:, :, None]
        runs = np.stack(np.broadcast_arrays((z * st[0] * hp + r) * wp + q0, (z * oh + r) * ow + q0,
                                            np.minimum(ow - q0, n_lanes)), -1)
    runs = runs.reshape(-1, 3)
    if len(runs) % RUNS:  # the kernel takes runs in pairs: pad with an empty one
        runs = np.concatenate([runs, np.zeros((RUNS - len(runs) % RUNS, 3), runs.dtype)])
    runs, offs = runs.astype(np.int64), offs.ravel().astype(np.int64)
    if shifts is not None:
        shifts = np.array(shifts, np.int64)
        shifts.flags.writeable = False
    runs.flags.writeable = offs.flags.writeable = False
    return shifts, width, runs, offs


def _work(x5_shape, o, g):
    n, c = x5_shape[:2]
    return n * o * c * math.prod(g[7]) * math.prod(g[6])


def forward(x5, w5, g, bias, y5):
    """y5 (N, C_out, *O) = conv(x5, w5) + bias (zeros when ``bias`` is None); stride 1 in H and W."""
    _, _, _, lo, hi, s5, k5, out = g
    o, c = w5.shape[:2]
    n = x5.shape[0]
    shifts, width, runs, offs = _plan(x5.shape, g, lanes(x5.dtype), PLANES_GAIN)
    with threads_for(_work(x5.shape, o, g)):
        if shifts is None:
            src = x5
        else:
            dp, hp = s5[0] + lo[0] + hi[0], s5[1] + lo[1] + hi[1]
            src = scratch("thin-src", (n, c, len(shifts), dp, hp, width), x5.dtype)
            _shifted_copies(x5, lo, shifts, lanes(x5.dtype), src)
        b = np.zeros(o, x5.dtype) if bias is None else np.ascontiguousarray(bias, x5.dtype)
        tasks = TASKS_PER_THREAD * get_num_threads()
        block = max(-(-n * len(runs) // (tasks * RUNS)) * RUNS, RUNS)
        _thin_fwd(src.reshape(n, -1), w5.reshape(o, -1), b, offs, runs, block, math.prod(out), y5.reshape(n, -1))
