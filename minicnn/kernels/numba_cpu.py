"""Numba-compiled CPU kernels: the fast path for convolution and pooling.

Same contract as :mod:`minicnn.kernels.reference` (see :mod:`minicnn.kernels`).

One geometry for every rank
---------------------------
A 1D or 2D call is reshaped (no copy) to 3 spatial axes by inserting axes of
size 1 in front: ``(N, C, L)`` -> ``(N, C, 1, 1, L)``, kernel 1, stride 1, no
padding on the new axes.  So each kernel below is compiled once per dtype
(float32, float64), not once per rank, and the innermost loop always runs
along the last (contiguous) axis ``W``.

Dispatch rule (convolution)
---------------------------
``F = C_in * prod(K)`` is the length of one flattened filter (the inner
dimension of the matrix product that im2col would build).

1. stride 1 and ``F <= 32`` (narrow: one or a few input channels, e.g. the
   ECG ``(N, 1, L)`` or CT ``(N, 1, D, H, W)`` inputs), or stride 1,
   ``C_out <= 16`` and at most 1.5 "wide" positions per output (below):
   **flat direct convolution**.  The input is copied once, zero-padded and
   channel-major; in that flat layout every kernel tap is ONE long SIMD
   ``axpy`` over all samples and positions (four taps and two channels per
   pass, to save loads and stores), instead of ``prod(K)`` copies of the
   input for im2col feeding a matrix product too thin for BLAS to run fast.
   Parallel over ``(c_out pair, chunk)`` (forward), ``(c_in pair, chunk)``
   (input gradient, written as a gather, so no two threads write one cell)
   and ``(c_out pair, c_in)`` (weight gradient).  The "wide" positions: the
   flat output row has the padded input's pitch, so ``K - 1`` cells per row
   and per plane are computed and dropped (4% for 3x3 on 56x56, 150% for
   5x5x5 on 14^3, which therefore goes to 2).
2. otherwise (wide layers, and every stride > 1): **im2col + BLAS**.  A
   compiled im2col fills ``col[(c, k), position]`` for a tile of output
   positions and ``W(C_out, F) @ col`` runs in OpenBLAS through NumPy's ``@``.
   The input gradient is ``W.T @ gy`` then a compiled col2im that
   *scatter-adds* each column back into its window (no ``np.add.at``).  The
   weight gradient is ``gy @ col.T`` summed over tiles.  A tile holds whole
   samples when one sample's ``col`` fits in ``TILE_BYTES`` (2 MiB, about a
   core's L2 cache), else a band of output rows, so the extra memory stays
   bounded whatever the batch.  Tiles run on ``get_num_threads()`` Python
   threads (im2col/col2im release the GIL, BLAS is held to one thread per
   call), pulled from a shared counter.

Pooling is always direct, parallel over the ``N * C`` planes.

Threads
-------
``minicnn.set_num_threads(n)`` (here :func:`set_num_threads`) sets the
threads of both parallel parts: Numba's ``prange`` loops and the worker
threads of the im2col + BLAS path.  Default: ``numba.get_num_threads()``,
i.e. all cores or ``NUMBA_NUM_THREADS``.  OpenBLAS is switched to one thread
while minicnn's GEMMs run (the parallelism is across tiles) and restored
after, so Numba threads and BLAS threads never oversubscribe the cores;
``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` only matter for your own NumPy
code.  Numba's OpenMP pool is started with ``OMP_WAIT_POLICY=PASSIVE`` (idle
threads sleep instead of spinning) unless you set that variable yourself, and
parallel loops hand out work in small chunks, so a core that other programs
keep busy slows a kernel down gracefully instead of stalling it.

``fastmath`` is only allowed to reassociate and contract (FMA) the sums of the
convolution loops; it never assumes finite values, so ``inf``/``nan`` inputs
propagate as in NumPy.  Pooling uses no fastmath (it compares with ``-inf``).

If Numba fails to compile (a broken LLVM, an unsupported platform), the first
call warns once and every call from then on uses
:mod:`minicnn.kernels.vectorized`.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import threading
import warnings

import numba
import numpy as np
from numba import njit, prange, uint64

from . import pool2x2_numba, winograd_numba
from .scratch import scratch

def _quiet_openmp():
    """Start Numba's thread pool with idle threads that sleep (``OMP_WAIT_POLICY=PASSIVE``).

    GNU OpenMP's default is to spin between parallel regions; on a machine whose
    cores are busy with other work a spinning or descheduled team member turned
    0.2 ms kernels into 30 ms ones.  The variable is set only while Numba loads
    its OpenMP runtime (other libraries keep theirs), and never over a value the
    user chose.
    """
    if "OMP_WAIT_POLICY" in os.environ:
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from numba.np.ufunc import parallel

        parallel._launch_threads()
    except Exception:  # a Numba without this hook: keep its default
        pass
    finally:
        del os.environ["OMP_WAIT_POLICY"]


_quiet_openmp()
numba.set_parallel_chunksize(1)  # dynamic hand-out of prange iterations (tasks are coarse)

FUSES_BIAS = True  # conv_forward(..., bias=b) adds the bias in the same pass (minicnn.functional may use it)
TILE_BYTES = 2 << 20  # budget for one im2col tile: about the L2 cache of a core (measured best of 0.25-8 MiB)
DIRECT_MAX_FILTER = 0  # F = C_in * prod(K) at or below this: always flat (0: never; tests force flat with it)
FLAT_MAX_COUT = 16  # stride 1, forward and weight gradient: at most this many output channels (thin GEMM) ...
FLAT_MIN_FILTER = 64  # ... and F at least this (short filters: im2col is cheap and BLAS wins) ...
FLAT_MAX_WASTE = 1.5  # ... and at most this many wide positions per real output: flat

COPY_GROUPS = 64  # tasks of the padding copies (each a range of planes; see _pad_channel_major)
_FASTMATH = {"reassoc", "contract"}  # reorder sums, fuse multiply-add; no finite-math assumptions


# ----------------------------------------------------------------------------
# Compiled helpers (everything they use comes in as an argument)
# ----------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _span(off, s, n_in, n_out):
    """Output positions ``o`` in ``[lo, hi)`` whose input cell ``o*s + off`` is inside ``[0, n_in)``."""
    lo = 0 if off >= 0 else (-off + s - 1) // s
    hi = (n_in - 1 - off) // s + 1 if n_in - 1 - off >= 0 else 0
    if hi > n_out:
        hi = n_out
    if hi < lo:
        hi = lo
    return lo, hi


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _axpy(y, x, a):
    """y += a * x over two equal-length rows (loop from 0: no negative-index checks, so it vectorises)."""
    for q in range(y.shape[0]):
        y[q] += a * x[q]


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _dot(x, y, acc):
    for q in range(x.shape[0]):
        acc += x[q] * y[q]
    return acc


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _axpy4(y, x0, x1, x2, x3, a0, a1, a2, a3):
    """y += a0*x0 + a1*x1 + a2*x2 + a3*x3: four taps per load/store of y (stores are the bottleneck)."""
    for q in range(y.shape[0]):
        y[q] += a0 * x0[q] + a1 * x1[q] + a2 * x2[q] + a3 * x3[q]


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _axpy4x2(y0, y1, x0, x1, x2, x3, a, b, t):
    """y0 += a[t:t+4] . (x0..x3) and y1 += b[t:t+4] . (x0..x3): two outputs share the four loads."""
    a0, a1, a2, a3 = a[t], a[t + 1], a[t + 2], a[t + 3]
    b0, b1, b2, b3 = b[t], b[t + 1], b[t + 2], b[t + 3]
    for q in range(y0.shape[0]):
        v0, v1, v2, v3 = x0[q], x1[q], x2[q], x3[q]
        y0[q] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
        y1[q] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _gather_taps(acc0, acc1, src, offs, i0, i1, wa, wb, pair):
    """acc0 += sum_k wa[k] * src[i0 + offs[k]:i1 + offs[k]] (and acc1 with wb when ``pair``).

    The shared inner loop of the flat kernels: taps four at a time, and with two outputs
    both accumulators reuse every load of ``src``.
    """
    for t in range(0, offs.shape[0], 4):
        x0, x1 = src[i0 + offs[t]:i1 + offs[t]], src[i0 + offs[t + 1]:i1 + offs[t + 1]]
        x2, x3 = src[i0 + offs[t + 2]:i1 + offs[t + 2]], src[i0 + offs[t + 3]:i1 + offs[t + 3]]
        if pair:
            _axpy4x2(acc0, acc1, x0, x1, x2, x3, wa, wb, t)
        else:
            _axpy4(acc0, x0, x1, x2, x3, wa[t], wa[t + 1], wa[t + 2], wa[t + 3])


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _dot4(g, x0, x1, x2, x3, s0, s1, s2, s3):
    """Four dot products sharing the loads of g."""
    for q in range(g.shape[0]):
        s0 += g[q] * x0[q]
        s1 += g[q] * x1[q]
        s2 += g[q] * x2[q]
        s3 += g[q] * x3[q]
    return s0, s1, s2, s3


@njit(cache=True, inline="always", fastmath=_FASTMATH)
def _dot4x2(g0, g1, x0, x1, x2, x3, a, b, t):
    """a[t:t+4] += (g0 . x0..x3) and b[t:t+4] += (g1 . x0..x3): two gradient rows share the x loads."""
    a0, a1, a2, a3 = a[t], a[t + 1], a[t + 2], a[t + 3]
    b0, b1, b2, b3 = b[t], b[t + 1], b[t + 2], b[t + 3]
    for q in range(g0.shape[0]):
        u, v = g0[q], g1[q]
        v0, v1, v2, v3 = x0[q], x1[q], x2[q], x3[q]
        a0 += u * v0
        a1 += u * v1
        a2 += u * v2
        a3 += u * v3
        b0 += v * v0
        b1 += v * v1
        b2 += v * v2
        b3 += v * v3
    a[t], a[t + 1], a[t + 2], a[t + 3] = a0, a1, a2, a3
    b[t], b[t + 1], b[t + 2], b[t + 3] = b0, b1, b2, b3


@njit(cache=True, inline="always")
def _zero(dst):
    for q in range(dst.shape[0]):
        dst[q] = 0


@njit(cache=True, nogil=True, inline="always")
def _im2col_planes(xf, cf, task, nr, r0, plane, kd, kh, off, a, b, st, dl, lo, oh_, ow_, D, H, W):
    """One row of col when stride is 1 in H and W and OW == W ("same"-style padding):
    the valid rows of one output plane come from consecutive input rows, so they
    are ONE contiguous copy; then the few cells that fell in the padding
    (``q < a`` or ``q >= b`` in each row) are set to zero."""
    shift = kh * dl[1] - lo[1]
    od, oh = r0 // oh_, r0 % oh_
    r = 0
    while r < nr:
        m = min(oh_ - oh, nr - r)  # rows of this output plane inside the tile
        iz = od * st[0] + kd * dl[0] - lo[0]
        db = (task * nr + r) * ow_
        v0 = max(oh, -shift)
        v1 = min(oh + m, H - shift)
        if iz < 0 or iz >= D or v1 <= v0:
            for q in range(uint64(db), uint64(db + m * ow_)):
                cf[q] = 0
        else:
            for q in range(uint64(db), uint64(db + (v0 - oh) * ow_)):  # rows above the input
                cf[q] = 0
            for q in range(uint64(db + (v1 - oh) * ow_), uint64(db + m * ow_)):  # rows below it
                cf[q] = 0
            d0 = db + (v0 - oh) * ow_
            s0 = ((plane + iz) * H + v0 + shift) * W + off
            for q in range(uint64(a), uint64((v1 - v0 - 1) * W + b)):  # first to last valid cell
                cf[uint64(d0) + q] = xf[uint64(s0) + q]
            for row in range(v1 - v0):  # the cells of each row that lie in the padding
                base = uint64(d0 + row * W)
                for q in range(uint64(a)):
                    cf[base + q] = 0
                for q in range(uint64(b), uint64(W)):
                    cf[base + q] = 0
        r += m
        od += 1
        oh = 0


@njit(cache=True, nogil=True, inline="always")
def _col2im_planes(cf, gf, row0, nr, r0, plane, kd, kh, off, a, b, st, dl, lo, oh_, ow_, D, H, W):
    """The inverse of :func:`_im2col_planes`: zero the padding cells of the (scratch)
    column rows, then add all valid rows of an output plane as one contiguous block."""
    shift = kh * dl[1] - lo[1]
    od, oh = r0 // oh_, r0 % oh_
    r = 0
    while r < nr:
        m = min(oh_ - oh, nr - r)
        iz = od * st[0] + kd * dl[0] - lo[0]
        v0 = max(oh, -shift)
        v1 = min(oh + m, H - shift)
        if 0 <= iz < D and v1 > v0:
            s0 = (row0 + r + v0 - oh) * ow_
            d0 = ((plane + iz) * H + v0 + shift) * W + off
            for row in range(v1 - v0):  # these cells would land in a neighbouring row
                base = uint64(s0 + row * W)
                for q in range(uint64(a)):
                    cf[base + q] = 0
                for q in range(uint64(b), uint64(W)):
                    cf[base + q] = 0
            for q in range(uint64(a), uint64((v1 - v0 - 1) * W + b)):
                gf[uint64(d0) + q] += cf[uint64(s0) + q]
        r += m
        od += 1
        oh = 0


# im2col/col2im run over many short rows, so they index flat arrays with
# unsigned offsets: Numba then skips its negative-index wraparound and the
# row loops compile to plain vector copies (3x faster than slicing per row).
# They are serial and release the GIL: the GEMM path runs one tile per worker
# thread (see _run_jobs), each thread doing im2col + a one-thread BLAS call.
@njit(cache=True, nogil=True)
def _im2col(x, n0, nt, r0, nr, kd_, kh_, kw_, st, dl, lo, oh_, ow_, col):
    """col[j, (c, kd, kh, kw), (r - r0) * OW + ow] = x_pad[n0 + j, c, window cell].

    Rows ``r = od * OH + oh`` in ``[r0, r0 + nr)`` of samples ``n0 .. n0 + nt``;
    one task per row of ``col`` (contiguous writes, the input plane stays in cache).
    """
    _, C, D, H, W = x.shape
    KK = kd_ * kh_ * kw_
    xf = x.reshape(-1)
    cf = col.reshape(-1)
    s2 = uint64(st[2])
    for task in range(nt * C * KK):
        c = (task // KK) % C
        k = task % KK
        kd = k // (kh_ * kw_)
        kh = (k // kw_) % kh_
        kw = k % kw_
        off = kw * dl[2] - lo[2]
        a, b = _span(off, st[2], W, ow_)
        plane = ((n0 + task // (C * KK)) * C + c) * D
        if st[1] == 1 and s2 == 1 and ow_ == W:
            _im2col_planes(xf, cf, task, nr, r0, plane, kd, kh, off, a, b, st, dl, lo, oh_, ow_, D, H, W)
            continue
        od, oh = r0 // oh_, r0 % oh_  # walk the rows without dividing in the loop
        for r in range(nr):
            iz = od * st[0] + kd * dl[0] - lo[0]
            iy = oh * st[1] + kh * dl[1] - lo[1]
            oh += 1
            if oh == oh_:
                oh = 0
                od += 1
            db = uint64((task * nr + r) * ow_)
            if iz < 0 or iz >= D or iy < 0 or iy >= H:
                for q in range(uint64(ow_)):
                    cf[db + q] = 0
                continue
            for q in range(uint64(a)):
                cf[db + q] = 0
            for q in range(uint64(b), uint64(ow_)):
                cf[db + q] = 0
            sb = uint64(((plane + iz) * H + iy) * W + off)  # + q * stride >= 0 inside [a, b)
            if s2 == 1:
                for q in range(uint64(a), uint64(b)):
                    cf[db + q] = xf[sb + q]
            else:
                for q in range(uint64(a), uint64(b)):
                    cf[db + q] = xf[sb + q * s2]


@njit(cache=True, nogil=True)
def _col2im(col, n0, nt, r0, nr, kd_, kh_, kw_, st, dl, lo, oh_, ow_, gx):
    """gx[n0 + j, c, window cell] += col[j, (c, k), position]: the scatter-add inverse of im2col.

    One task per (sample, input channel): overlapping windows land in the same
    task, so additions never race.
    """
    _, C, D, H, W = gx.shape
    KK = kd_ * kh_ * kw_
    gf = gx.reshape(-1)
    cf = col.reshape(-1)
    s2 = uint64(st[2])
    for task in range(nt * C):
        c = task % C
        plane = ((n0 + task // C) * C + c) * D
        for k in range(KK):
            kd = k // (kh_ * kw_)
            kh = (k // kw_) % kh_
            kw = k % kw_
            off = kw * dl[2] - lo[2]
            a, b = _span(off, st[2], W, ow_)
            if b == a:
                continue
            if st[1] == 1 and s2 == 1 and ow_ == W:
                _col2im_planes(cf, gf, (task * KK + k) * nr, nr, r0, plane, kd, kh, off, a, b, st, dl, lo,
                               oh_, ow_, D, H, W)
                continue
            od, oh = r0 // oh_, r0 % oh_
            for r in range(nr):
                iz = od * st[0] + kd * dl[0] - lo[0]
                iy = oh * st[1] + kh * dl[1] - lo[1]
                oh += 1
                if oh == oh_:
                    oh = 0
                    od += 1
                if iz < 0 or iz >= D or iy < 0 or iy >= H:
                    continue
                sb = uint64(((task * KK + k) * nr + r) * ow_)
                db = uint64(((plane + iz) * H + iy) * W + off)
                if s2 == 1:
                    for q in range(uint64(a), uint64(b)):
                        gf[db + q] += cf[sb + q]
                else:
                    for q in range(uint64(a), uint64(b)):
                        gf[db + q * s2] += cf[sb + q]


# ----------------------------------------------------------------------------
# Stride-1 direct convolution on "wide" flat rows
#
# With stride 1, the input cell read by output position q = (n, z, y, x) for
# kernel offset k is x_pad[n, z + kz*dz, y + ky*dy, x + kx*dx]; in the flat,
# zero-padded, channel-major copy xp[c] (pitch Wp per row, Hp*Wp per plane,
# Pn = Dp*Hp*Wp per sample) that is xp[c][q + off_k] when q is counted with the
# same pitches.  So one kernel tap is ONE long axpy over every sample and
# position at once (the few "wide" positions with x >= OW or y >= OH are
# computed and thrown away), instead of one short axpy per output row.
# ----------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _pad_channel_major(x, lo, hi, xp):
    """xp[c, n*Pn : (n+1)*Pn] = zero-padded x[n, c], flattened."""
    N, C, D, H, W = x.shape
    Dp, Hp, Wp = D + lo[0] + hi[0], H + lo[1] + hi[1], W + lo[2] + hi[2]
    groups = min(C * N, COPY_GROUPS)  # a few (c, n) planes per task: one task per plane cost 0.2 us each
    for task in prange(groups):
        for i in range(task * C * N // groups, (task + 1) * C * N // groups):
            c = i // N
            n = i % N
            block = xp[c, n * Dp * Hp * Wp:(n + 1) * Dp * Hp * Wp]
            block[:] = 0
            for z in range(D):
                for y in range(H):  # indexed, not sliced: a row view costs a reference-count update
                    start = ((z + lo[0]) * Hp + y + lo[1]) * Wp + lo[2]
                    for q in range(W):
                        block[start + q] = x[n, c, z, y, q]


@njit(parallel=True, cache=True)
def _widen(gy, pitch, margin, gyw):
    """gyw[o, margin + n*Pn + (z*Hp + y)*Wp + x] = gy[n, o, z, y, x], zero elsewhere (pitch = (Dp, Hp, Wp)).

    The leading ``margin`` zeros let the input gradient read ``gyw[o, i - off]``
    for every tap without clipping ranges.
    """
    N, O, OD, OH, OW = gy.shape
    Pn = pitch[0] * pitch[1] * pitch[2]
    groups = min(O * N, COPY_GROUPS)
    for task in prange(groups):
        for i in range(task * O * N // groups, (task + 1) * O * N // groups):
            o = i // N
            n = i % N
            if n == 0:
                gyw[o, :margin] = 0
            block = gyw[o, margin + n * Pn:margin + (n + 1) * Pn]
            block[:] = 0
            for z in range(OD):
                for y in range(OH):
                    start = (z * pitch[1] + y) * pitch[2]
                    for q in range(OW):
                        block[start + q] = gy[n, o, z, y, q]


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _flat_fwd(src, wt, b, offs, q_all, chunk, pitch, y):
    """y[n, o] = b[o] + sum over taps k of wt[o, k] * src[q + offs[k]], on the wide rows.

    ``src`` is the flat padded channel-major input and a tap is one (input
    channel, kernel offset) pair, ``offs`` its start in ``src``; the tap count
    is a multiple of 4 (zero-weight taps pad it).  One task per (pair of output
    channels, chunk of positions): the pair shares every load of the input.
    """
    N, O, OD, OH, OW = y.shape
    Dp, Hp, Wp = pitch
    n_chunks = (q_all + chunk - 1) // chunk
    for task in prange(((O + 1) // 2) * n_chunks):
        o0 = 2 * (task // n_chunks)
        o1 = min(o0 + 1, O - 1)  # == o0 when O is odd: that task does one channel
        q0 = (task % n_chunks) * chunk
        q1 = min(q0 + chunk, q_all)
        acc0 = np.full(q1 - q0, b[o0], dtype=y.dtype)
        acc1 = np.full(q1 - q0 if o1 != o0 else 0, b[o1], dtype=y.dtype)
        _gather_taps(acc0, acc1, src, offs, q0, q1, wt[o0], wt[o1], o1 != o0)
        for r in range(q0 // Wp, (q1 + Wp - 1) // Wp):  # chunks start on a row: keep the real outputs
            n = r // (Dp * Hp)
            z = (r // Hp) % Dp
            yy = r % Hp
            if z < OD and yy < OH:  # indexed, not sliced: a row view costs a reference-count update
                base = r * Wp - q0
                for q in range(OW):
                    y[n, o0, z, yy, q] = acc0[base + q]
                if o1 != o0:
                    for q in range(OW):
                        y[n, o1, z, yy, q] = acc1[base + q]


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _flat_bwd_input(src, wt, offs, chunk, pitch, lo, gx):
    """gx[n, c] = sum over taps k of wt[c, k] * src[i + offs[k]] (cropped to the unpadded input).

    Here a tap is an (output channel, kernel offset) pair and ``src`` the flat
    widened output gradient (:func:`_widen`), so ``offs[k] = o * row + margin -
    off_t >= 0``: the gradient is a *gather*, one task per (pair of input
    channels, chunk), and no two threads write the same cell.
    """
    N, C, D, H, W = gx.shape
    Dp, Hp, Wp = pitch
    total = N * Dp * Hp * Wp
    n_chunks = (total + chunk - 1) // chunk
    for task in prange(((C + 1) // 2) * n_chunks):
        c0 = 2 * (task // n_chunks)
        c1 = min(c0 + 1, C - 1)
        i0 = (task % n_chunks) * chunk
        i1 = min(i0 + chunk, total)
        acc0 = np.zeros(i1 - i0, dtype=gx.dtype)
        acc1 = np.zeros(i1 - i0 if c1 != c0 else 0, dtype=gx.dtype)
        _gather_taps(acc0, acc1, src, offs, i0, i1, wt[c0], wt[c1], c1 != c0)
        for r in range(i0 // Wp, (i1 + Wp - 1) // Wp):  # crop the padding away
            n = r // (Dp * Hp)
            z = (r // Hp) % Dp - lo[0]
            yy = r % Hp - lo[1]
            if 0 <= z < D and 0 <= yy < H:
                start = r * Wp - i0 + lo[2]
                for q in range(W):
                    gx[n, c0, z, yy, q] = acc0[start + q]
                if c1 != c0:
                    for q in range(W):
                        gx[n, c1, z, yy, q] = acc1[start + q]


@njit(parallel=True, cache=True, fastmath=_FASTMATH)
def _flat_bwd_weight(gyw, xp, offs, q_all, chunk, zero, gw3):
    """gw[o, c, t] = dot(gy wide row o, xp[c] shifted by tap t); one task per (pair of o, c)."""
    O, C, T = gw3.shape
    M = offs[T - 1]  # the zero margin in front of gyw (see _widen)
    for task in prange(((O + 1) // 2) * C):
        o0 = 2 * (task // C)
        o1 = min(o0 + 1, O - 1)
        c = task % C
        acc0 = np.zeros(T, dtype=gw3.dtype)
        acc1 = np.zeros(T, dtype=gw3.dtype)
        row = xp[c]
        for q0 in range(0, q_all, chunk):  # chunks keep the rows in cache across the taps
            q1 = min(q0 + chunk, q_all)
            g0 = gyw[o0, M + q0:M + q1]
            g1 = gyw[o1, M + q0:M + q1]
            for t in range(0, T - 3, 4):
                x0, x1 = row[q0 + offs[t]:q1 + offs[t]], row[q0 + offs[t + 1]:q1 + offs[t + 1]]
                x2, x3 = row[q0 + offs[t + 2]:q1 + offs[t + 2]], row[q0 + offs[t + 3]:q1 + offs[t + 3]]
                if o1 != o0:
                    _dot4x2(g0, g1, x0, x1, x2, x3, acc0, acc1, t)
                else:
                    acc0[t], acc0[t + 1], acc0[t + 2], acc0[t + 3] = _dot4(
                        g0, x0, x1, x2, x3, acc0[t], acc0[t + 1], acc0[t + 2], acc0[t + 3])
            for t in range(T - T % 4, T):
                acc0[t] = _dot(g0, row[q0 + offs[t]:q1 + offs[t]], acc0[t])
                acc1[t] = _dot(g1, row[q0 + offs[t]:q1 + offs[t]], acc1[t])
        for t in range(T):
            gw3[o0, c, t] = acc0[t] + zero
            gw3[o1, c, t] = (acc1[t] if o1 != o0 else acc0[t]) + zero


# ----------------------------------------------------------------------------
# Pooling (no fastmath: max pooling compares against -inf and must see NaN)
# ----------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _maxpool_fwd(x, k, st, lo, y, arg):
    """Max over each window (padded cells count as -inf) and the flat index of the first maximum."""
    N, C, D, H, W = x.shape
    _, _, OD, OH, OW = y.shape
    for task in prange(N * C):
        n = task // C
        c = task % C
        for od in range(OD):
            z0 = max(od * st[0] - lo[0], 0)
            z1 = min(od * st[0] - lo[0] + k[0], D)
            for oh in range(OH):
                y0 = max(oh * st[1] - lo[1], 0)
                y1 = min(oh * st[1] - lo[1] + k[1], H)
                for ow in range(OW):
                    x0 = max(ow * st[2] - lo[2], 0)
                    x1 = min(ow * st[2] - lo[2] + k[2], W)
                    best = x[n, c, z0, y0, x0]
                    idx = (z0 * H + y0) * W + x0
                    for iz in range(z0, z1):
                        for iy in range(y0, y1):
                            for ix in range(x0, x1):
                                v = x[n, c, iz, iy, ix]
                                # NaN wins (first one), as np.argmax / torch do; selects, not
                                # branches: on random data a branch here mispredicts half the time
                                take = (v > best) | ((v != v) & (best == best))
                                best = v if take else best
                                idx = (iz * H + iy) * W + ix if take else idx
                    y[n, c, od, oh, ow] = best
                    arg[n, c, od, oh, ow] = idx


@njit(parallel=True, cache=True)
def _maxpool_bwd(gy, arg, gx):
    """gx[n, c].flat[argmax] += gy: one task per plane, so overlapping windows never race."""
    N, C, D, H, W = gx.shape
    _, _, OD, OH, OW = gy.shape
    for task in prange(N * C):
        n = task // C
        c = task % C
        plane = gx[n, c].reshape(D * H * W)
        plane[:] = 0
        g = gy[n, c].reshape(OD * OH * OW)
        a = arg[n, c].reshape(OD * OH * OW)
        for i in range(OD * OH * OW):
            plane[a[i]] += g[i]


@njit(parallel=True, cache=True)
def _avgpool(x, k, st, lo, include_pad, zero, y, backward):
    """Forward (``backward=False``): y = window mean of x.  Backward: x += y / divisor
    spread over each window (then ``x`` is the input gradient, ``y`` the output gradient)."""
    N, C, D, H, W = x.shape
    _, _, OD, OH, OW = y.shape
    for task in prange(N * C):
        n = task // C
        c = task % C
        if backward:
            x[n, c] = 0
        for od in range(OD):
            z0 = max(od * st[0] - lo[0], 0)
            z1 = min(od * st[0] - lo[0] + k[0], D)
            for oh in range(OH):
                y0 = max(oh * st[1] - lo[1], 0)
                y1 = min(oh * st[1] - lo[1] + k[1], H)
                for ow in range(OW):
                    x0 = max(ow * st[2] - lo[2], 0)
                    x1 = min(ow * st[2] - lo[2] + k[2], W)
                    if include_pad:
                        # windows never pass the padded border, so this is prod(k)
                        div = k[0] * k[1] * k[2]
                    else:
                        div = (z1 - z0) * (y1 - y0) * (x1 - x0)
                    if backward:
                        g = y[n, c, od, oh, ow] / div
                        for iz in range(z0, z1):
                            for iy in range(y0, y1):
                                for ix in range(x0, x1):
                                    x[n, c, iz, iy, ix] += g
                    else:
                        s = zero
                        for iz in range(z0, z1):
                            for iy in range(y0, y1):
                                for ix in range(x0, x1):
                                    s += x[n, c, iz, iy, ix]
                        y[n, c, od, oh, ow] = s / div


# ----------------------------------------------------------------------------
# Python side: shapes, dispatch, tiles
# ----------------------------------------------------------------------------
def _to5d(a, d):
    """(N, C, *S) with d spatial axes -> (N, C, D, H, W), inserting size-1 axes in front (a view)."""
    return a.reshape(a.shape[:2] + (1,) * (3 - d) + a.shape[2:])


def _geom(values, d, fill):
    return (fill,) * (3 - d) + tuple(int(v) for v in values)


def _conv_args(x_shape, w_shape, stride, padding, dilation):
    d = len(x_shape) - 2
    st = _geom(stride, d, 1)
    dl = _geom(dilation, d, 1)
    lo = _geom((p[0] for p in padding), d, 0)
    hi = _geom((p[1] for p in padding), d, 0)
    s5 = _geom(x_shape[2:], d, 1)
    k5 = _geom(w_shape[2:], d, 1)
    out = tuple((s + a + b - e * (k - 1) - 1) // t + 1 for s, a, b, e, k, t in zip(s5, lo, hi, dl, k5, st))
    return d, st, dl, lo, hi, s5, k5, out


def _contig(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def _plan(n, rows, ow, filt, itemsize, workers):
    """Cut the output positions into units of im2col tiles ``(n0, nt, r0, nr)``.

    A tile is several whole samples or a band of output rows of one sample,
    at most TILE_BYTES of im2col matrix.  Workers pull units from a shared
    counter as they finish, so a thread slowed by other load is simply given
    less.  Returns ``(units, shared)``:

    * ``n >= workers``: each unit holds whole samples (all bands of them), at
      least ``2 * workers`` units when the batch allows; ``shared=False``.
    * ``n < workers`` (e.g. one image): each unit is one band, at least
      ``2 * workers`` of them, and two units may cover the same sample
      (``shared=True``: their input-gradient windows overlap).
    """
    per_row = max(filt * ow * itemsize, 1)
    per_sample = per_row * rows
    if n >= workers:
        if per_sample <= TILE_BYTES:
            step = max(min(TILE_BYTES // per_sample, -(-n // (2 * workers))), 1)
            return [[(n0, min(step, n - n0), 0, rows)] for n0 in range(0, n, step)], False
        band = max(TILE_BYTES // per_row, 1)
        return [[(n0, 1, r0, min(band, rows - r0)) for r0 in range(0, rows, band)] for n0 in range(n)], False
    bands = max(-(-2 * workers // n), -(-per_sample // TILE_BYTES))
    band = -(-rows // bands)
    return [[(n0, 1, r0, min(band, rows - r0))] for n0 in range(n) for r0 in range(0, rows, band)], True


_pool = {"executor": None, "workers": 0}
if hasattr(os, "register_at_fork"):  # a forked child has no pool threads: make it start its own
    os.register_at_fork(after_in_child=lambda: _pool.update(executor=None, workers=0))


def _run_jobs(fn, units, work=None):
    """``[fn(unit) for unit in units]``, spread over ``get_num_threads()`` threads (the caller is one),
    which pull units from a shared counter; on the calling thread alone when ``work``
    (multiply-adds) is below SMALL_WORK, where handing units to a sleeping thread costs more.

    BLAS is held to one thread meanwhile: the parallelism is ours, across
    tiles, so OpenBLAS's own threads never compete with these (on a busy
    machine that competition made a 0.2 ms product take 100 ms).
    """
    workers = 1 if work is not None and work < SMALL_WORK else min(get_num_threads(), len(units))
    with _blas_single_thread():
        if workers <= 1:
            return [fn(u) for u in units]
        if _pool["executor"] is None or _pool["workers"] < workers - 1:
            from concurrent.futures import ThreadPoolExecutor

            if _pool["executor"] is not None:
                _pool["executor"].shutdown(wait=False)
            _pool["executor"] = ThreadPoolExecutor(max_workers=workers - 1, thread_name_prefix="minicnn-conv")
            _pool["workers"] = workers - 1
        counter = itertools.count()  # next() on it is atomic under the GIL

        def worker():
            done = []
            for i in iter(lambda: next(counter), None):
                if i >= len(units):
                    return done
                done.append(fn(units[i]))

        futures = [_pool["executor"].submit(worker) for _ in range(workers - 1)]
        results = worker()
        for f in futures:
            results += f.result()
        return results


def _method(n, c_in, c_out, s5, k5, st, lo, hi, out, pass_="forward"):
    """The dispatch rule of the module docstring: "flat" or "gemm" for one pass
    (``"forward"``, ``"input"`` for the input gradient, ``"weight"``)."""
    if any(s != 1 for s in st):
        return "gemm"
    filt = c_in * k5[0] * k5[1] * k5[2]
    if filt <= DIRECT_MAX_FILTER:
        return "flat"
    if pass_ != "input" and c_out <= FLAT_MAX_COUT and filt >= FLAT_MIN_FILTER:
        dp, hp, wp = (s + a + b for s, a, b in zip(s5, lo, hi))
        wide = (n - 1) * dp * hp * wp + ((out[0] - 1) * hp + out[1] - 1) * wp + out[2]
        if wide <= FLAT_MAX_WASTE * n * out[0] * out[1] * out[2]:
            return "flat"
    return "gemm"


SMALL_WORK = 100_000  # multiply-adds (or cells) below which a kernel runs on the calling thread only


class _threads_for:
    """Context manager: one Numba thread when ``work`` is small (waking a sleeping
    thread costs 10-20 us, more than such a kernel runs), else the configured count."""

    def __init__(self, work):
        self.small = work < SMALL_WORK

    def __enter__(self):
        if self.small:
            self.saved = numba.get_num_threads()
            numba.set_num_threads(1)

    def __exit__(self, *exc):
        if self.small:
            numba.set_num_threads(self.saved)


FLAT_CHUNK = 4096  # positions per task in the flat kernels: the accumulator row stays in L1


class _Flat:
    """Geometry of the stride-1 wide-row layout (see the comment above _pad_channel_major)."""

    def __init__(self, n, s5, k5, dl, lo, hi, out):
        self.pitch = tuple(s + a + b for s, a, b in zip(s5, lo, hi))
        dp, hp, wp = self.pitch
        self.pn = dp * hp * wp
        self.q_all = (n - 1) * self.pn + ((out[0] - 1) * hp + out[1] - 1) * wp + out[2]
        self.offs = np.array([(kz * dl[0] * hp + ky * dl[1]) * wp + kx * dl[2]
                              for kz in range(k5[0]) for ky in range(k5[1]) for kx in range(k5[2])], dtype=np.int64)
        self.chunk = max(FLAT_CHUNK // wp, 1) * wp  # whole rows per chunk

    def padded(self, x5, lo, hi):
        """(C + 1, N * Pn): the padded channel-major input and a last row of zeros (see :meth:`taps`)."""
        xp = np.empty((x5.shape[1] + 1, x5.shape[0] * self.pn), dtype=x5.dtype)
        xp[-1] = 0
        _pad_channel_major(x5, lo, hi, xp)
        return xp

    def widened(self, gy5):
        """(C_out + 1, margin + N * Pn): the widened gradient and a last row of zeros."""
        margin = int(self.offs[-1])
        gyw = np.empty((gy5.shape[1] + 1, margin + gy5.shape[0] * self.pn), dtype=gy5.dtype)
        gyw[-1] = 0
        _widen(gy5, self.pitch, margin, gyw)
        return gyw

    @staticmethod
    def taps(w2, starts, offs, sign, zero_row):
        """All (channel, offset) taps in one list, padded with zero-weight taps to a multiple of 4.

        ``w2`` (rows, channels * T) weights; the tap of channel ``i`` and
        offset ``t`` starts at ``starts[i] + sign * offs[t]`` in the flat source.
        The padding taps read the source's row of zeros at ``zero_row``, so
        ``0 * inf`` never turns a result into NaN.
        """
        k = w2.shape[1]
        pad = -k % 4
        offs_all = (starts[:, None] + sign * offs[None, :]).ravel()
        offs_all = np.concatenate([offs_all, np.full(pad, zero_row, np.int64)])
        w_all = np.concatenate([w2, np.zeros((w2.shape[0], pad), w2.dtype)], axis=1) if pad else w2
        return np.ascontiguousarray(w_all), np.ascontiguousarray(offs_all, dtype=np.int64)


def _conv_forward(x, w, stride, padding, dilation, bias=None):
    """The contract's conv_forward; ``bias`` (C_out,), optional, is added in the same pass
    (cheaper than a separate ``y += b`` over the whole output)."""
    m = winograd_numba.forward_method(x.shape, w.shape, stride, padding, dilation)
    if m is not None:  # 3x3 stride 1, wide enough: Winograd (None back: an inf/nan, redo directly)
        y = winograd_numba.conv_forward(_contig(x, x.dtype), _contig(w, x.dtype), padding, m, bias)
        if y is not None:
            return y
    d, st, dl, lo, hi, s5, k5, out = _conv_args(x.shape, w.shape, stride, padding, dilation)
    x5 = _to5d(_contig(x, x.dtype), d)
    w5 = _to5d(_contig(w, x.dtype), d)
    n, c = x.shape[:2]
    o = w.shape[0]
    y5 = np.empty((n, o) + out, dtype=x.dtype)
    method = _method(n, c, o, s5, k5, st, lo, hi, out)
    work = n * o * c * int(np.prod(out)) * int(np.prod(k5))
    if method == "flat":
        g = _Flat(n, s5, k5, dl, lo, hi, out)
        with _threads_for(work):
            b = np.zeros(o, x.dtype) if bias is None else _contig(bias, x.dtype)
            xp = g.padded(x5, lo, hi)
            wt, offs = g.taps(w5.reshape(o, -1), np.arange(c, dtype=np.int64) * xp.shape[1], g.offs, 1,
                              c * xp.shape[1])
            _flat_fwd(xp.reshape(-1), wt, b, offs, g.q_all, g.chunk, g.pitch, y5)
    else:
        filt = c * k5[0] * k5[1] * k5[2]
        rows, ow = out[0] * out[1], out[2]
        w2 = w5.reshape(o, filt)
        y3 = y5.reshape(n, o, rows * ow)
        geom = (k5[0], k5[1], k5[2], st, dl, lo, out[1], ow)
        b3 = None if bias is None else np.asarray(bias, x.dtype).reshape(1, o, 1)

        def job(tiles):
            col = None
            for n0, nt, r0, nr in tiles:
                if col is None or col.shape != (nt, filt, nr * ow):
                    col = scratch("im2col", (nt, filt, nr * ow), x.dtype)
                _im2col(x5, n0, nt, r0, nr, *geom, col)
                # (C_out, F) @ (nt, F, T) -> (nt, C_out, T), written straight into y
                tile = y3[n0:n0 + nt, :, r0 * ow:(r0 + nr) * ow]
                np.matmul(w2, col, out=tile)
                if bias is not None:
                    tile += b3  # while the tile is still in cache

        _run_jobs(job, _plan(n, rows, ow, filt, x.itemsize, get_num_threads())[0], work)
    return y5.reshape((n, o) + tuple(out[3 - d:]))


def _conv_backward_input(gy, w, x_shape, stride, padding, dilation):
    m = winograd_numba.backward_input_method(x_shape, w.shape, stride, padding, dilation)
    if m is not None:
        gx = winograd_numba.conv_backward_input(_contig(gy, gy.dtype), _contig(w, gy.dtype), x_shape, padding, m)
        if gx is not None:
            return gx
    d, st, dl, lo, hi, s5, k5, out = _conv_args(x_shape, w.shape, stride, padding, dilation)
    dtype = gy.dtype
    gy5 = _to5d(_contig(gy, dtype), d)
    w5 = _to5d(_contig(w, dtype), d)
    n, c = x_shape[:2]
    o = w.shape[0]
    gx5 = np.empty((n, c) + s5, dtype=dtype)
    method = _method(n, c, o, s5, k5, st, lo, hi, out, "input")
    work = n * o * c * int(np.prod(out)) * int(np.prod(k5))
    if method == "flat":
        g = _Flat(n, s5, k5, dl, lo, hi, out)
        with _threads_for(work):
            gyw = g.widened(gy5)
            margin = int(g.offs[-1])  # gyw row o starts at o * row; position i of tap t reads i + margin - off_t
            w_ct = w5.reshape(o, c, -1).transpose(1, 0, 2).reshape(c, -1)
            wt, offs = g.taps(w_ct, np.arange(o, dtype=np.int64) * gyw.shape[1] + margin, g.offs, -1,
                              o * gyw.shape[1])
            _flat_bwd_input(gyw.reshape(-1), wt, offs, g.chunk, g.pitch, lo, gx5)
    else:
        filt = c * k5[0] * k5[1] * k5[2]
        rows, ow = out[0] * out[1], out[2]
        w2t = w5.reshape(o, filt).T
        gy3 = gy5.reshape(n, o, rows * ow)
        geom = (k5[0], k5[1], k5[2], st, dl, lo, out[1], ow)
        units, shared = _plan(n, rows, ow, filt, dtype.itemsize, get_num_threads())
        gx5[...] = 0
        caller = threading.get_ident()
        private = {}  # thread id -> its own gx, when bands of one sample overlap (shared)

        def job(tiles):
            target = gx5
            if shared and threading.get_ident() != caller:
                target = private.get(threading.get_ident())
                if target is None:
                    target = private[threading.get_ident()] = np.zeros_like(gx5)
            gcol = None
            for n0, nt, r0, nr in tiles:
                if gcol is None or gcol.shape != (nt, filt, nr * ow):
                    gcol = scratch("col2im", (nt, filt, nr * ow), dtype)
                np.matmul(w2t, gy3[n0:n0 + nt, :, r0 * ow:(r0 + nr) * ow], out=gcol)
                _col2im(gcol, n0, nt, r0, nr, *geom, target)
        _run_jobs(job, units, work)
        for part in private.values():
            gx5 += part
    return gx5.reshape(tuple(x_shape))


def _conv_backward_weight(gy, x, w_shape, stride, padding, dilation):
    m = winograd_numba.forward_method(x.shape, w_shape, stride, padding, dilation)
    if m is not None:  # the adjoint of the Winograd forward (None: an inf/nan, redo directly)
        gw = winograd_numba.conv_backward_weight(_contig(gy, gy.dtype), _contig(x, gy.dtype), w_shape, padding, m)
        if gw is not None:
            return gw
    d, st, dl, lo, hi, s5, k5, out = _conv_args(x.shape, w_shape, stride, padding, dilation)
    dtype = gy.dtype
    gy5 = _to5d(_contig(gy, dtype), d)
    x5 = _to5d(_contig(x, dtype), d)
    n, c = x.shape[:2]
    o = w_shape[0]
    method = _method(n, c, o, s5, k5, st, lo, hi, out, "weight")
    if method == "flat":
        gw5 = np.empty((o, c) + k5, dtype=dtype)
        g = _Flat(n, s5, k5, dl, lo, hi, out)
        with _threads_for(n * o * c * int(np.prod(out)) * int(np.prod(k5))):
            _flat_bwd_weight(g.widened(gy5), g.padded(x5, lo, hi), g.offs, g.q_all, g.chunk, dtype.type(0),
                             gw5.reshape(o, c, -1))
        return gw5.reshape(tuple(w_shape))
    filt = c * k5[0] * k5[1] * k5[2]
    rows, ow = out[0] * out[1], out[2]
    gy3 = gy5.reshape(n, o, rows * ow)
    geom = (k5[0], k5[1], k5[2], st, dl, lo, out[1], ow)

    def job(tiles):
        gw2 = np.zeros((o, filt), dtype=dtype)
        col = None
        for n0, nt, r0, nr in tiles:
            if col is None or col.shape != (nt, filt, nr * ow):
                col = scratch("im2col", (nt, filt, nr * ow), dtype)
            _im2col(x5, n0, nt, r0, nr, *geom, col)
            gyt = gy3[n0:n0 + nt, :, r0 * ow:(r0 + nr) * ow]
            if 1 < nt and nt * o * filt * dtype.itemsize <= TILE_BYTES:
                # many small samples (e.g. 64 short 1D signals): one batched product and a sum
                # instead of nt Python-level products and temporaries
                gw2 += np.matmul(gyt, col.transpose(0, 2, 1)).sum(axis=0)
                continue
            for j in range(nt):
                # (C_out, T) @ (T, F): the sum over positions of gy * window
                gw2 += gyt[j] @ col[j].T
        return gw2

    work = n * o * c * int(np.prod(out)) * int(np.prod(k5))
    parts = _run_jobs(job, _plan(n, rows, ow, filt, dtype.itemsize, get_num_threads())[0], work)
    gw2 = parts[0]
    for part in parts[1:]:
        gw2 += part
    return gw2.reshape(tuple(w_shape))


def _pool_args(x_shape, kernel, stride, padding):
    d = len(x_shape) - 2
    k5 = _geom(kernel, d, 1)
    st = _geom(stride, d, 1)
    lo = _geom(padding, d, 0)
    s5 = _geom(x_shape[2:], d, 1)
    out = tuple((s + 2 * p - k) // t + 1 for s, p, k, t in zip(s5, lo, k5, st))
    return d, k5, st, lo, out


def _max_pool_forward(x, kernel, stride, padding):
    d, k5, st, lo, out = _pool_args(x.shape, kernel, stride, padding)
    x5 = _to5d(_contig(x, x.dtype), d)
    n, c = x.shape[:2]
    y5 = np.empty((n, c) + out, dtype=x.dtype)
    arg5 = np.empty((n, c) + out, dtype=np.int64)
    with _threads_for(x.size):
        if pool2x2_numba.applies(x.shape, kernel, stride, padding):  # the common 2x2/2 layer: straight-line windows
            pool2x2_numba.max_pool2x2_forward(x5[:, :, 0], y5[:, :, 0], arg5[:, :, 0])
        else:
            _maxpool_fwd(x5, k5, st, lo, y5, arg5)
    shape = (n, c) + out[3 - d:]
    return y5.reshape(shape), arg5.reshape(shape)


def _max_pool_backward(gy, argmax, x_shape):
    d = len(x_shape) - 2
    gy5 = _to5d(_contig(gy, gy.dtype), d)
    arg5 = _to5d(_contig(argmax, np.int64), d)
    gx5 = np.empty(tuple(x_shape[:2]) + _geom(x_shape[2:], d, 1), dtype=gy.dtype)
    with _threads_for(gx5.size):
        _maxpool_bwd(gy5, arg5, gx5)
    return gx5.reshape(tuple(x_shape))


def _avg_pool_forward(x, kernel, stride, padding, count_include_pad=True):
    d, k5, st, lo, out = _pool_args(x.shape, kernel, stride, padding)
    x5 = _to5d(_contig(x, x.dtype), d)
    y5 = np.empty(tuple(x.shape[:2]) + out, dtype=x.dtype)
    with _threads_for(x.size):
        _avgpool(x5, k5, st, lo, bool(count_include_pad), x.dtype.type(0), y5, False)
    return y5.reshape(tuple(x.shape[:2]) + out[3 - d:])


def _avg_pool_backward(gy, x_shape, kernel, stride, padding, count_include_pad=True):
    d, k5, st, lo, out = _pool_args(x_shape, kernel, stride, padding)
    gy5 = _to5d(_contig(gy, gy.dtype), d)
    gx5 = np.empty(tuple(x_shape[:2]) + _geom(x_shape[2:], d, 1), dtype=gy.dtype)
    with _threads_for(gx5.size):
        _avgpool(gx5, k5, st, lo, bool(count_include_pad), gy.dtype.type(0), gy5, True)
    return gx5.reshape(tuple(x_shape))


# ----------------------------------------------------------------------------
# Public functions: the contract of minicnn.kernels, with the compile fallback
# ----------------------------------------------------------------------------
_fallback = {"module": None}


def _compile_errors():
    errors = [numba.core.errors.NumbaError]
    try:  # LLVM failures surface as llvmlite errors or RuntimeError
        import llvmlite.binding

        errors.append(getattr(llvmlite.binding, "LLVMException", RuntimeError))
    except Exception:
        pass
    return tuple(errors)


_COMPILE_ERRORS = _compile_errors()


def _guarded(impl, name):
    """Run the Numba implementation; if Numba cannot compile it, warn once and
    use the vectorised NumPy kernel for this and every later call."""

    def kernel(*args, **kwargs):
        if _fallback["module"] is None:
            try:
                return impl(*args, **kwargs)
            except _COMPILE_ERRORS as exc:
                from . import vectorized

                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                warnings.warn(f"minicnn: Numba could not compile {name} ({first_line}); "
                              "using the NumPy kernels from now on", RuntimeWarning, stacklevel=3)
                _fallback["module"] = vectorized
        bias = kwargs.pop("bias", None)  # only conv_forward takes it; the NumPy kernel does not
        out = getattr(_fallback["module"], name)(*args, **kwargs)
        if bias is not None:
            out += np.asarray(bias, out.dtype).reshape((1, -1) + (1,) * (out.ndim - 2))
        return out

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = impl.__doc__ or f"{name}: see the contract in minicnn.kernels."
    return kernel


conv_forward = _guarded(_conv_forward, "conv_forward")
conv_backward_input = _guarded(_conv_backward_input, "conv_backward_input")
conv_backward_weight = _guarded(_conv_backward_weight, "conv_backward_weight")
max_pool_forward = _guarded(_max_pool_forward, "max_pool_forward")
max_pool_backward = _guarded(_max_pool_backward, "max_pool_backward")
avg_pool_forward = _guarded(_avg_pool_forward, "avg_pool_forward")
avg_pool_backward = _guarded(_avg_pool_backward, "avg_pool_backward")


def warm_up(dtypes=(np.float32, np.float64)):
    """Compile (or load from Numba's cache) every kernel for ``dtypes``; return the seconds taken.

    Call it once before starting parallel test workers or a timed run, so none
    of them pays the JIT (about 15-25 s per dtype on a cold cache, 2 cores).
    """
    import time

    t0 = time.perf_counter()
    one = ((1, 1), (1, 1))
    for dtype in dtypes:
        x = np.ones((2, 8, 5, 5), dtype)
        for w_shape, stride in (((2, 1, 3, 3), (1, 1)), ((2, 1, 3, 3), (2, 2)), ((20, 8, 3, 3), (1, 1))):
            xs = x[:, :w_shape[1]]
            w = np.ones(w_shape, dtype)  # flat direct; im2col + BLAS with stride 2 and wide
            y = conv_forward(xs, w, stride, one, (1, 1))
            conv_backward_input(y, w, xs.shape, stride, one, (1, 1))
            conv_backward_weight(y, xs, w.shape, stride, one, (1, 1))
        y, arg = max_pool_forward(x, (2, 2), (2, 2), (0, 0))  # the 2x2 fast path, then the general kernel
        max_pool_backward(y, arg, x.shape)
        max_pool_forward(x, (3, 3), (2, 2), (1, 1))
        avg_pool_backward(avg_pool_forward(x, (2, 2), (2, 2), (0, 0)), x.shape, (2, 2), (2, 2), (0, 0))
    winograd_numba.warm_up(dtypes)
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------
# Threads
# ----------------------------------------------------------------------------
def _openblas_libraries():
    """ctypes handles of the OpenBLAS libraries loaded in this process (NumPy's, SciPy's)."""
    paths = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if "/" in line else ""
                if "openblas" in os.path.basename(path).lower():
                    paths.add(path)
    except OSError:  # not Linux: look next to NumPy
        base = os.path.dirname(os.path.dirname(np.__file__))
        for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*"):
            paths.update(glob.glob(os.path.join(base, pattern)))
    libs = []
    for path in sorted(paths):
        try:
            libs.append(ctypes.CDLL(path))
        except OSError:
            pass
    return libs


_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads64_", "openblas_set_num_threads")
_BLAS_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                 "openblas_get_num_threads64_", "openblas_get_num_threads")


_blas_fns = {}


def _blas_fn(names):
    """The first exported function of ``names`` in each loaded OpenBLAS (looked up once)."""
    key = names[0]
    if key not in _blas_fns:
        found = []
        for lib in _openblas_libraries():
            fn = next((getattr(lib, name) for name in names if hasattr(lib, name)), None)
            if fn is not None:
                found.append(fn)
        _blas_fns[key] = found
    return _blas_fns[key]


def _blas_call(names, *args):
    return [fn(*args) for fn in _blas_fn(names)]


class _blas_single_thread:
    """Context manager: OpenBLAS uses one thread inside, its previous count after."""

    def __enter__(self):
        self.saved = _blas_call(_BLAS_GETTERS)
        _blas_call(_BLAS_SETTERS, ctypes.c_int(1))

    def __exit__(self, *exc):
        for fn, n in zip(_blas_fn(_BLAS_SETTERS), self.saved):
            fn(ctypes.c_int(n))


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for the compiled loops (Numba) and for BLAS (NumPy's OpenBLAS).

    ``n`` may not exceed ``NUMBA_NUM_THREADS`` (set before Python starts; by
    default the number of cores).  The two pools run one after the other,
    never at the same time, so ``n = number of cores`` does not oversubscribe.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"set_num_threads: n={n} exceeds NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS} "
                         "(set that environment variable before starting Python to allow more)")
    numba.set_num_threads(int(n))
    numba.set_parallel_chunksize(1)
    _blas_call(_BLAS_SETTERS, ctypes.c_int(int(n)))


def get_num_threads() -> int:
    """Threads the compiled loops use (``numba.get_num_threads()``)."""
    return numba.get_num_threads()


def get_blas_num_threads():
    """Threads of NumPy's OpenBLAS, or ``None`` when it cannot be queried."""
    found = _blas_call(_BLAS_GETTERS)
    return int(found[0]) if found else None
