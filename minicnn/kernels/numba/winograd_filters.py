"""The filter transforms of the compiled Winograd path (:mod:`.winograd`), 16 channels per register.

* :func:`filter_tiles`: ``U = G w G^T`` for every filter, before the products;
* :func:`grad_filter_tiles`: the weight gradient's last step, ``gw = G^T dU G``,
  with the block parts of ``dU`` added in block order (a fixed rounding).

The 1-D functions (``g2``/``g4`` and their adjoints ``gt2``/``gt4``) are the
matrices ``G`` of :func:`minicnn.kernels.winograd.winograd_matrices` written
out, for numbers and :class:`.simd.Vector` s alike, as in
:mod:`.winograd_tiles`.
"""

from __future__ import annotations

from numba import njit

from .simd import load_rows, store_rows
from .simd_strided import gather, scatter

# ----------------------------------------------------------------------------
# The filter transform U = G w G^T, 16 output channels at a time
# ----------------------------------------------------------------------------


@njit(cache=True)
def g2(w0, w1, w2):
    """``G w`` of F(2, 3): 3 filter taps -> 4."""
    return w0, 0.5 * (w0 + w1 + w2), 0.5 * (w0 - w1 + w2), w2


@njit(cache=True)
def g3(w0, w1, w2):
    """``G w`` of F(3, 3): 3 -> 5."""
    return 0.5 * w0, 0.5 * (w0 + w1 + w2), (1 / 6) * (w0 - w1 + w2), (1 / 6) * (w0 + 2.0 * w1 + 4.0 * w2), w2


@njit(cache=True)
def g4(w0, w1, w2):
    """``G w`` of F(4, 3): 3 -> 6."""
    return (0.25 * w0, -(1 / 6) * (w0 + w1 + w2), -(1 / 6) * (w0 - w1 + w2),
            (1 / 24) * w0 + (1 / 12) * w1 + (1 / 6) * w2, (1 / 24) * w0 - (1 / 12) * w1 + (1 / 6) * w2, w2)


@njit(cache=True)
def _taps(wf, start, stride, k, step):
    return gather(wf, start, stride, k), gather(wf, start + step, stride, k), gather(wf, start + 2 * step, stride, k)


@njit(cache=True, nogil=True)
def filter_tiles(wf, O, C, m, c0, c1, Uf, L, flipped, XS, CS):
    """``U[i*a + j, c, o] = (G w[o, c] G^T)[i, j]`` for input channels ``c0 <= c < c1``.

    wf: w (O, C, 3, 3) flattened; or, with ``flipped``, an array (C, O, 3, 3)
    whose transpose, each filter turned by 180 degrees, is w (the input
    gradient's filter, read in place: a copy of it took 0.9 ms for 256x256
    channels, 3.7 ms for 512x512, on one thread).

    Uf: the ``a*a`` matrices ``U[xi] (C, O)``; cell ``(xi, c, o)`` at
    ``xi*XS + c*CS + o``.  Two layouts (:func:`.winograd._filter_transform`):

    * *matrices* (``XS = C*O + pad``, ``CS = O``): each ``U[xi]`` contiguous,
      what the products ``V[xi] (P, C) @ U[xi]`` read fastest (36 products of
      112x64 @ 64x64: 0.22 ms, against 0.33-0.44 ms from rows ``a*a*O``
      apart, one thread).  The pad of one cache line matters: one filter's
      ``a*a`` values lie ``XS`` cells apart, and with ``XS = C*O`` (a multiple
      of 4 KiB for 64 channels or more) all of them fell in one set of the L1
      cache (a 512x512 F(4x4) transform took 17.8 ms);
    * *channels* (``XS = O``, ``CS = a*a*O``): one channel's ``a*a`` rows
      together, one sequential stream; for a U larger than the caches it is the
      faster one to write (512x512 F(4x4): 10.7 against 19 ms).
    """
    a = m + 2
    # w[o, c, i, j] lies at s + o*so + i*row + j*tap (s for o0): flipped, at (c*O + o)*9 + 8 - 3i - j
    so, row, tap = (9, -3, -1) if flipped else (C * 9, 3, 1)
    for c in range(c0, c1):
        for o0 in range(0, O, L):
            k = min(L, O - o0)
            s = (c * O + o0) * 9 + 8 if flipped else (o0 * C + c) * 9
            if m == 2:
                r0 = g2(*_taps(wf, s, so, k, tap))
                r1 = g2(*_taps(wf, s + row, so, k, tap))
                r2 = g2(*_taps(wf, s + 2 * row, so, k, tap))
                for j in range(4):
                    col = g2(r0[j], r1[j], r2[j])
                    for i in range(4):
                        store_rows(Uf, ((i * a + j) * XS + c * CS + o0,), (k,), col[i])
            elif m == 3:
                r0 = g3(*_taps(wf, s, so, k, tap))
                r1 = g3(*_taps(wf, s + row, so, k, tap))
                r2 = g3(*_taps(wf, s + 2 * row, so, k, tap))
                for j in range(5):
                    col = g3(r0[j], r1[j], r2[j])
                    for i in range(5):
                        store_rows(Uf, ((i * a + j) * XS + c * CS + o0,), (k,), col[i])
            else:
                r0 = g4(*_taps(wf, s, so, k, tap))
                r1 = g4(*_taps(wf, s + row, so, k, tap))
                r2 = g4(*_taps(wf, s + 2 * row, so, k, tap))
                for j in range(6):
                    col = g4(r0[j], r1[j], r2[j])
                    for i in range(6):
                        store_rows(Uf, ((i * a + j) * XS + c * CS + o0,), (k,), col[i])


# ----------------------------------------------------------------------------
# The weight gradient's last step gw = G^T dU G, 16 input channels at a time
# ----------------------------------------------------------------------------


@njit(cache=True)
def gt2(d0, d1, d2, d3):
    """``G^T d`` of F(2, 3): 4 -> 3 filter taps (the adjoint of :func:`g2`)."""
    s = 0.5 * (d1 + d2)
    return d0 + s, 0.5 * (d1 - d2), s + d3


@njit(cache=True)
def gt3(d0, d1, d2, d3, d4):
    """``G^T d`` of F(3, 3): 5 -> 3 (the adjoint of :func:`g3`)."""
    return (0.5 * (d0 + d1) + (1 / 6) * (d2 + d3), 0.5 * d1 - (1 / 6) * d2 + (1 / 3) * d3,
            0.5 * d1 + (1 / 6) * d2 + (2 / 3) * d3 + d4)


@njit(cache=True)
def gt4(d0, d1, d2, d3, d4, d5):
    """``G^T d`` of F(4, 3): 6 -> 3 (the adjoint of :func:`g4`)."""
    s, e = d1 + d2, d3 + d4
    return (0.25 * d0 - (1 / 6) * s + (1 / 24) * e, (1 / 6) * (d2 - d1) + (1 / 12) * (d3 - d4),
            (1 / 6) * (e - s) + d5)


@njit(cache=True)
def _summed(dUf, parts, size, off, k):
    """Cell ``off`` of the block parts of dU (each ``size`` long), added in block order (a fixed
    rounding), 16 channels wide."""
    v = load_rows(dUf, (off,), 0, (k,))
    for b in range(1, parts):
        v = v + load_rows(dUf, (b * size + off,), 0, (k,))
    return v


@njit(cache=True)
def _put3(gf, base, C, j, col, k):
    """gw[o, c0 + lane, i, j] = col[i]: cells 9 apart along the channels."""
    scatter(gf, base + j, 9, k, col[0])
    scatter(gf, base + 3 + j, 9, k, col[1])
    scatter(gf, base + 6 + j, 9, k, col[2])


@njit(cache=True, nogil=True)
def grad_filter_tiles(dUf, parts, O, C, m, o0, o1, gf, L):
    """``gw[o, c] = G^T (sum over parts of dU[xi, o, c]) G`` for output channels ``o0 <= o < o1``.

    dUf: ``parts`` arrays dU (a*a, O, C) back to back, one per block (summed here, in
    block order); gf: gw (O, C, 3, 3) flattened.
    """
    a = m + 2
    size = a * a * O * C
    for o in range(o0, o1):
        for c0 in range(0, C, L):
            k = min(L, C - c0)
            base = (o * C + c0) * 9
            cell = o * C + c0  # + xi * O * C
            oc = O * C
            if m == 2:
                r0 = gt2(_summed(dUf, parts, size, cell, k), _summed(dUf, parts, size, cell + oc, k),
                         _summed(dUf, parts, size, cell + 2 * oc, k), _summed(dUf, parts, size, cell + 3 * oc, k))
                r1 = gt2(_summed(dUf, parts, size, cell + 4 * oc, k), _summed(dUf, parts, size, cell + 5 * oc, k),
                         _summed(dUf, parts, size, cell + 6 * oc, k), _summed(dUf, parts, size, cell + 7 * oc, k))
                r2 = gt2(_summed(dUf, parts, size, cell + 8 * oc, k), _summed(dUf, parts, size, cell + 9 * oc, k),
                         _summed(dUf, parts, size, cell + 10 * oc, k), _summed(dUf, parts, size, cell + 11 * oc, k))
                r3 = gt2(_summed(dUf, parts, size, cell + 12 * oc, k), _summed(dUf, parts, size, cell + 13 * oc, k),
                         _summed(dUf, parts, size, cell + 14 * oc, k), _summed(dUf, parts, size, cell + 15 * oc, k))
                for j in range(3):
                    _put3(gf, base, C, j, gt2(r0[j], r1[j], r2[j], r3[j]), k)
            elif m == 3:
                r0 = _row_gt3(dUf, parts, size, cell, oc, 0, k)
                r1 = _row_gt3(dUf, parts, size, cell, oc, 1, k)
                r2 = _row_gt3(dUf, parts, size, cell, oc, 2, k)
                r3 = _row_gt3(dUf, parts, size, cell, oc, 3, k)
                r4 = _row_gt3(dUf, parts, size, cell, oc, 4, k)
                for j in range(3):
                    _put3(gf, base, C, j, gt3(r0[j], r1[j], r2[j], r3[j], r4[j]), k)
            else:
                r0 = _row_gt4(dUf, parts, size, cell, oc, 0, k)
                r1 = _row_gt4(dUf, parts, size, cell, oc, 1, k)
                r2 = _row_gt4(dUf, parts, size, cell, oc, 2, k)
                r3 = _row_gt4(dUf, parts, size, cell, oc, 3, k)
                r4 = _row_gt4(dUf, parts, size, cell, oc, 4, k)
                r5 = _row_gt4(dUf, parts, size, cell, oc, 5, k)
                for j in range(3):
                    _put3(gf, base, C, j, gt4(r0[j], r1[j], r2[j], r3[j], r4[j], r5[j]), k)


@njit(cache=True)
def _row_gt3(dUf, parts, size, cell, oc, r, k):
    """Row r of a 5 x 5 dU tile, brought to 3 taps (``G^T`` along it)."""
    b = cell + 5 * r * oc
    return gt3(_summed(dUf, parts, size, b, k), _summed(dUf, parts, size, b + oc, k),
               _summed(dUf, parts, size, b + 2 * oc, k), _summed(dUf, parts, size, b + 3 * oc, k),
               _summed(dUf, parts, size, b + 4 * oc, k))


@njit(cache=True)
def _row_gt4(dUf, parts, size, cell, oc, r, k):
    """Row r of a 6 x 6 dU tile, brought to 3 taps (``G^T`` along it)."""
    b = cell + 6 * r * oc
    return gt4(_summed(dUf, parts, size, b, k), _summed(dUf, parts, size, b + oc, k),
               _summed(dUf, parts, size, b + 2 * oc, k), _summed(dUf, parts, size, b + 3 * oc, k),
               _summed(dUf, parts, size, b + 4 * oc, k), _summed(dUf, parts, size, b + 5 * oc, k))
