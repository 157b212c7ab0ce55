"""The output side of the compiled Winograd path (:mod:`.winograd`): ``Y = AT M A`` plus the bias, into y.

* :func:`output_tiles`: the products ``M (a*a, P, O)`` of a block of tiles
  (``XS`` cells from ``M[xi]`` to ``M[xi + 1]``, see :mod:`.winograd_tiles`),
  16 output channels per register, scattered into the channels-first output;
* :func:`unstage`: the copy from channels-last staging rows into y, for output
  planes whose size is a multiple of 4 KiB.

The 1-D transforms ``at2``/``at3``/``at4`` are in :mod:`.winograd_tiles` with
the input side's; ``FULL`` is explained there.
"""

from __future__ import annotations

from numba import njit

from .simd import load_rows, store_rows
from .simd_strided import gather, lane_sum, scatter, zeros_like
from .winograd_tiles import FULL, at2, at3, at4


@njit(cache=True)
def _get(Mf, xi, p, XS, O, o0, n):
    return load_rows(Mf, (xi * XS + p * O + o0,), 0, (n,))


@njit(cache=True)
def _row2(Mf, r, p, XS, O, o0, k):
    """Row r of a 4 x 4 product tile, transformed: AT applied along it (2 values)."""
    return at2(_get(Mf, 4 * r, p, XS, O, o0, k), _get(Mf, 4 * r + 1, p, XS, O, o0, k),
               _get(Mf, 4 * r + 2, p, XS, O, o0, k), _get(Mf, 4 * r + 3, p, XS, O, o0, k))


@njit(cache=True)
def _row3(Mf, r, p, XS, O, o0, k):
    """Row r of a 5 x 5 product tile, transformed (3 values)."""
    return at3(_get(Mf, 5 * r, p, XS, O, o0, k), _get(Mf, 5 * r + 1, p, XS, O, o0, k),
               _get(Mf, 5 * r + 2, p, XS, O, o0, k), _get(Mf, 5 * r + 3, p, XS, O, o0, k),
               _get(Mf, 5 * r + 4, p, XS, O, o0, k))


@njit(cache=True)
def _row4(Mf, r, p, XS, O, o0, k):
    """Row r of a 6 x 6 product tile, transformed (4 values)."""
    return at4(_get(Mf, 6 * r, p, XS, O, o0, k), _get(Mf, 6 * r + 1, p, XS, O, o0, k),
               _get(Mf, 6 * r + 2, p, XS, O, o0, k), _get(Mf, 6 * r + 3, p, XS, O, o0, k),
               _get(Mf, 6 * r + 4, p, XS, O, o0, k), _get(Mf, 6 * r + 5, p, XS, O, o0, k))


@njit(cache=True)
def _emit(yf, col, j, bias, flag, base, y0, x0, OH, OW, k, Ys, srow, O, o0, gm):
    """Column j of an output tile plus the bias, the cells inside y only; returns the nan flag.

    Into y by a scatter across the 16 channels: logical cell (yy, xx) of the
    ``OH x OW`` output is cell ``(s*yy + oy, s*xx + ox)`` of the array's
    ``Hy x Wy`` planes, ``gm = (Hy, Wy, s, oy, ox)`` (see :func:`_cell`); or,
    when ``Ys`` is not empty, into the block's channels-last staging rows
    ``Ys[srow + i, x, o]`` (see :func:`output_tiles`)."""
    Hy, Wy, s, oy, ox = gm
    for i in range(len(col)):
        yy, xx = y0 + i, x0 + j
        py, px = s * yy + oy, s * xx + ox
        if yy < OH and xx < OW and 0 <= py < Hy and 0 <= px < Wy:
            v = col[i] + bias
            flag = flag + (v - v)  # 0, or nan where v is inf or nan
            if Ys.size:
                store_rows(Ys, (((srow + i) * OW + xx) * O + o0,), (k,), v)
            else:
                scatter(yf, base + py * Wy + px, Hy * Wy, k, v)
    return flag


@njit(cache=True, inline="always")
def _out_body(Mf, XS, O, m, g0, g1, th, tw, yf, OH, OW, k, Ys, gm, bias, flag, Oy, cx, o0):
    """The output tiles of tile rows ``g0 .. g1`` for output channels ``o0 .. o0 + k`` (see
    :func:`output_tiles`); returns the nan flag."""
    Hy, Wy = gm[0], gm[1]
    for g in range(g0, g1):
        n = g // th
        y0 = (g - n * th) * m
        base = (n * Oy + cx) * Hy * Wy
        srow = (g - g0) * m
        for t in range(tw):
            p = (g - g0) * tw + t
            x0 = t * m
            if m == 2:
                s0, s1 = _row2(Mf, 0, p, XS, O, o0, k), _row2(Mf, 1, p, XS, O, o0, k)
                s2, s3 = _row2(Mf, 2, p, XS, O, o0, k), _row2(Mf, 3, p, XS, O, o0, k)
                for j in range(2):
                    flag = _emit(yf, at2(s0[j], s1[j], s2[j], s3[j]), j, bias, flag, base, y0, x0, OH, OW,
                                 k, Ys, srow, O, o0, gm)
            elif m == 3:
                s0, s1 = _row3(Mf, 0, p, XS, O, o0, k), _row3(Mf, 1, p, XS, O, o0, k)
                s2, s3 = _row3(Mf, 2, p, XS, O, o0, k), _row3(Mf, 3, p, XS, O, o0, k)
                s4 = _row3(Mf, 4, p, XS, O, o0, k)
                for j in range(3):
                    flag = _emit(yf, at3(s0[j], s1[j], s2[j], s3[j], s4[j]), j, bias, flag, base,
                                 y0, x0, OH, OW, k, Ys, srow, O, o0, gm)
            else:
                s0, s1 = _row4(Mf, 0, p, XS, O, o0, k), _row4(Mf, 1, p, XS, O, o0, k)
                s2, s3 = _row4(Mf, 2, p, XS, O, o0, k), _row4(Mf, 3, p, XS, O, o0, k)
                s4, s5 = _row4(Mf, 4, p, XS, O, o0, k), _row4(Mf, 5, p, XS, O, o0, k)
                for j in range(4):
                    flag = _emit(yf, at4(s0[j], s1[j], s2[j], s3[j], s4[j], s5[j]), j, bias, flag, base,
                                 y0, x0, OH, OW, k, Ys, srow, O, o0, gm)
    return flag


@njit(cache=True)
def _out_rows(Mf, XS, O, m, g0, g1, th, tw, yf, OH, OW, k, Ys, gm, bias, flag, Oy, cx, o0):
    return _out_body(Mf, XS, O, m, g0, g1, th, tw, yf, OH, OW, k, Ys, gm, bias, flag, Oy, cx, o0)


@njit(cache=True)
def _out_rows_full(Mf, XS, O, m, g0, g1, th, tw, yf, OH, OW, Ys, Hy, Wy, bias, flag, Oy, cx, o0):
    """:func:`_out_rows` for a whole register of channels written into y itself (no phases, no
    staging): the lane count and the cell mapping as constants (see FULL)."""
    return _out_body(Mf, XS, O, m, g0, g1, th, tw, yf, OH, OW, FULL, Ys, (Hy, Wy, 1, 0, 0), bias, flag, Oy, cx, o0)


@njit(cache=True, nogil=True)
def output_tiles(Mf, XS, O, m, g0, g1, th, tw, bf, yf, OH, OW, L, Ys, ph):
    """``y[n, o, ty*m + i, t*m + j] = (AT M A)[i, j] + b[o]`` for the tiles of rows ``g0 .. g1 - 1``.

    Mf: M (a*a, P, O) flattened, ``XS`` cells from ``M[xi]`` to ``M[xi + 1]``; bf: the bias (O,); yf: y (N, O, OH, OW)
    flattened.  A tile hanging over the edge of y writes only its cells inside.
    Returns a number that is nan when an output is inf or nan.

    ``ph = (s, Oy, Hy, Wy, lo_h, lo_w)``: yf is an ``(N, Oy, Hy, Wy)`` array;
    ``s = 1``: y itself; ``s = 2``: the output is the stack of the four phase
    images of yf (``O = 4 Oy``, as in :func:`input_tiles`), written in place
    (the input gradient of :mod:`.polyphase`).

    Ys: empty, or a staging buffer of ``(g1 - g0) * m * OW * O`` cells.  When
    one plane of yf is a multiple of 4 KiB (32x32, 64x64,
    128x128 float32) the 16 channels of a scatter all fall in one set of the
    L1 cache and evict each other (1,64,128x128: 3.6 ms for this pass against
    1.2 for a 1.6 times larger 8,64,56x56); then the tiles go to ``Ys``
    channels-last and :func:`unstage` copies them into y row by row.
    """
    s, Oy, Hy, Wy, lo_h, lo_w = ph
    bad = 0.0
    for blk in range(O // Oy):
        gm = (Hy, Wy, s, blk // 2 - lo_h, blk % 2 - lo_w)
        for cx in range(0, Oy, L):
            k = min(L, Oy - cx)
            o0 = blk * Oy + cx
            bias = load_rows(bf, (o0,), 0, (k,))
            flag = zeros_like(bias)
            if s == 1 and k == L and Ys.size == 0:
                flag = _out_rows_full(Mf, XS, O, m, g0, g1, th, tw, yf, OH, OW, Ys, Hy, Wy, bias, flag, Oy, cx, o0)
            else:
                flag = _out_rows(Mf, XS, O, m, g0, g1, th, tw, yf, OH, OW, k, Ys, gm, bias, flag, Oy, cx, o0)
            bad += lane_sum(flag)
    return bad


@njit(cache=True, nogil=True)
def unstage(Ys, yf, O, m, g0, g1, th, OH, OW, ph, L):
    """y[n, o, ty*m + i, x] = Ys[(g - g0)*m + i, x, o] for the tile rows ``g0 .. g1 - 1`` (inside y);
    ``ph`` as in :func:`output_tiles` (with ``s = 2`` each row lands on every other cell of a phase)."""
    s, Oy, Hy, Wy, lo_h, lo_w = ph
    for g in range(g0, g1):
        n = g // th
        y0 = (g - n * th) * m
        for i in range(min(m, OH - y0)):
            src = ((g - g0) * m + i) * OW * O
            for o in range(O):
                blk, c = o // Oy, o % Oy
                py = s * (y0 + i) + blk // 2 - lo_h
                if not 0 <= py < Hy:
                    continue
                ox = blk % 2 - lo_w
                dst = ((n * Oy + c) * Hy + py) * Wy
                x0, x1 = max(0, (s - 1 - ox) // s), min(OW, (Wy - 1 - ox) // s + 1)  # s*x + ox in y
                # L cells of one channel: a gather across the channels-last rows (they share cache lines
                # with the next channel's), then one store (s = 1) or a scatter to every other cell
                for x in range(x0, x1, L):
                    k = min(L, x1 - x)
                    v = gather(Ys, src + x * O + o, O, k)
                    if s == 1:
                        store_rows(yf, (dst + x,), (k,), v)
                    else:
                        scatter(yf, dst + s * x + ox, s, k, v)
