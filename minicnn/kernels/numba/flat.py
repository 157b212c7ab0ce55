"""Flat direct convolution: stride 1, narrow filters or few output channels.

For stride-1 layers with ``F = C_in * prod(K) <= 32`` (one or a few input
channels, e.g. the ECG ``(N, 1, L)`` or CT ``(N, 1, D, H, W)`` inputs), or with
``C_out <= 16`` and few wasted positions (see :func:`.conv.method`), the input
is copied once, zero-padded and channel-major; in that flat layout every
kernel tap is ONE long SIMD ``axpy`` over all samples and positions (four taps
and two channels per pass, to save loads and stores), instead of ``prod(K)``
copies of the input for im2col feeding a matrix product too thin for BLAS to
run fast.

Parallel over ``(c_out pair, chunk)`` (forward), ``(c_in pair, chunk)`` (input
gradient, written as a gather, so no two threads write one cell) and
``(c_out pair, c_in)`` (weight gradient).  The "wide" positions: the flat
output row has the padded input's pitch, so ``K - 1`` cells per row and per
plane are computed and dropped (4% for 3x3 on 56x56, 150% for 5x5x5 on 14^3,
which therefore goes to im2col).

All arrays here are 5-d (see :mod:`.shapes`); ``g`` is the tuple of
:func:`.shapes.conv_geometry`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .loops import FASTMATH, dot, dot4, dot4x2, gather_taps
from .threads import threads_for

COPY_GROUPS = 64  # tasks of the padding copies (each a range of planes; see _pad_channel_major)
FLAT_CHUNK = 4096  # positions per task in the flat kernels: the accumulator row stays in L1


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


@njit(parallel=True, cache=True, fastmath=FASTMATH)
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
        gather_taps(acc0, acc1, src, offs, q0, q1, wt[o0], wt[o1], o1 != o0)
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


@njit(parallel=True, cache=True, fastmath=FASTMATH)
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
        gather_taps(acc0, acc1, src, offs, i0, i1, wt[c0], wt[c1], c1 != c0)
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


@njit(parallel=True, cache=True, fastmath=FASTMATH)
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
                    dot4x2(g0, g1, x0, x1, x2, x3, acc0, acc1, t)
                else:
                    acc0[t], acc0[t + 1], acc0[t + 2], acc0[t + 3] = dot4(
                        g0, x0, x1, x2, x3, acc0[t], acc0[t + 1], acc0[t + 2], acc0[t + 3])
            for t in range(T - T % 4, T):
                acc0[t] = dot(g0, row[q0 + offs[t]:q1 + offs[t]], acc0[t])
                acc1[t] = dot(g1, row[q0 + offs[t]:q1 + offs[t]], acc1[t])
        for t in range(T):
            gw3[o0, c, t] = acc0[t] + zero
            gw3[o1, c, t] = (acc1[t] if o1 != o0 else acc0[t]) + zero



class Layout:
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


def _work(x5_shape, o, g):
    """Multiply-adds of the convolution (decides whether it is worth waking threads)."""
    n, c = x5_shape[:2]
    return n * o * c * int(np.prod(g[7])) * int(np.prod(g[6]))


def forward(x5, w5, g, bias, y5):
    """y5 (N, C_out, *O) = conv(x5, w5) + bias (zeros when ``bias`` is None)."""
    _, _, dl, lo, hi, s5, k5, out = g
    n, c = x5.shape[:2]
    o = w5.shape[0]
    lay = Layout(n, s5, k5, dl, lo, hi, out)
    with threads_for(_work(x5.shape, o, g)):
        b = np.zeros(o, x5.dtype) if bias is None else np.ascontiguousarray(bias, x5.dtype)
        xp = lay.padded(x5, lo, hi)
        wt, offs = lay.taps(w5.reshape(o, -1), np.arange(c, dtype=np.int64) * xp.shape[1], lay.offs, 1,
                            c * xp.shape[1])
        _flat_fwd(xp.reshape(-1), wt, b, offs, lay.q_all, lay.chunk, lay.pitch, y5)


def backward_input(gy5, w5, g, gx5):
    """gx5 (N, C_in, *S) = the input gradient, one gather per input cell."""
    _, _, dl, lo, hi, s5, k5, out = g
    n, c = gx5.shape[:2]
    o = w5.shape[0]
    lay = Layout(n, s5, k5, dl, lo, hi, out)
    with threads_for(_work(gx5.shape, o, g)):
        gyw = lay.widened(gy5)
        margin = int(lay.offs[-1])  # gyw row o starts at o * row; position i of tap t reads i + margin - off_t
        w_ct = w5.reshape(o, c, -1).transpose(1, 0, 2).reshape(c, -1)
        wt, offs = lay.taps(w_ct, np.arange(o, dtype=np.int64) * gyw.shape[1] + margin, lay.offs, -1,
                            o * gyw.shape[1])
        _flat_bwd_input(gyw.reshape(-1), wt, offs, lay.chunk, lay.pitch, lo, gx5)


def backward_weight(gy5, x5, g, o):
    """The weight gradient (C_out, C_in, prod(K))."""
    _, _, dl, lo, hi, s5, k5, out = g
    n, c = x5.shape[:2]
    gw3 = np.empty((o, c, int(np.prod(k5))), dtype=gy5.dtype)
    lay = Layout(n, s5, k5, dl, lo, hi, out)
    with threads_for(_work(x5.shape, o, g)):
        _flat_bwd_weight(lay.widened(gy5), lay.padded(x5, lo, hi), lay.offs, lay.q_all, lay.chunk,
                         gy5.dtype.type(0), gw3)
    return gw3
