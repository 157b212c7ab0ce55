"""The tile transforms of the compiled Winograd path (:mod:`.winograd`), one tile of ``L`` channels at a time.

The matrices of :func:`minicnn.kernels.winograd.winograd_matrices` written out
as sums (the zeros skipped).  Each 1-D function takes the cells of one line of
a tile and returns the transformed line; the 2-D transform applies it along
every row, then down every column (``BT d B = BT (d B)``).  They work on
plain numbers and on :class:`.simd.Vector` s alike: here each "cell" is a
vector holding the same cell of ``L`` channels (``L`` = one register, 16
float32 with AVX-512), gathered from the channels-first array
(:mod:`.simd_strided`), so a tile never leaves the registers between its
load and its store.

Layouts of one block of tiles (``P`` tiles: the tiles of tile rows
``g0 .. g1 - 1``, ``tw`` per row, tile row ``g = n * th + ty``):

* ``V (a*a, P, C)``: transformed input tiles, channels last, so that the
  ``a*a`` products are ``V[xi] (P, C) @ U[xi] (C, O)``;
* ``M (a*a, P, O)``: those products, read back by the output transform
  (:mod:`.winograd_output`).

Each is stored with ``XS`` cells from one matrix ``[xi]`` to the next, a
cache line more than ``P*C`` (or ``P*O``): with ``P*C`` itself, a multiple of
4 KiB whenever 4 divides ``P`` and ``C = 256``, the ``a*a`` cells of one tile
all fell into one set of the L1 cache, 16 or 25 lines in its 12 ways, and
evicted each other on every tile (:mod:`.winograd`, ``CELL_PAD``).
"""

from __future__ import annotations

from numba import njit

from .simd import store_rows
from .simd_strided import gather

# A lane count of at least any register's lanes: passed as a constant, every mask of a tile's
# gathers and stores is all ones at compile time, and with the cell mapping of the input itself
# (no phase images) folded too, the F(4x4) input transform of 8,64,56x56 took 0.66x the time of the
# same code given the count and the mapping at run time (one thread, alternating in one process)
FULL = 64

# ----------------------------------------------------------------------------
# 1-D transforms of F(2, 3) (points 0, 1, -1, inf), F(3, 3) (0, 1, -1, 2, inf) and F(4, 3)
# (0, 1, -1, 2, -2, inf)
# ----------------------------------------------------------------------------


@njit(cache=True)
def bt2(d0, d1, d2, d3):
    """``BT d`` of F(2, 3): 4 input cells -> 4."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@njit(cache=True)
def bt3(d0, d1, d2, d3, d4):
    """``BT d`` of F(3, 3): 5 input cells -> 5."""
    t = d3 - d1
    return 2.0 * (d0 - d2) + t, d1 + d2 - t, 3.0 * d2 - 2.0 * d1 - d3, t, d4 - d2 - 2.0 * t


@njit(cache=True)
def bt4(d0, d1, d2, d3, d4, d5):
    """``BT d`` of F(4, 3): 6 input cells -> 6."""
    return (4.0 * d0 - 5.0 * d2 + d4, d3 + d4 - 4.0 * (d1 + d2), d4 - d3 + 4.0 * (d1 - d2),
            d4 - d2 + 2.0 * (d3 - d1), d4 - d2 - 2.0 * (d3 - d1), 4.0 * d1 - 5.0 * d3 + d5)


@njit(cache=True)
def at2(m0, m1, m2, m3):
    """``AT m`` of F(2, 3): 4 products -> 2 outputs."""
    return m0 + m1 + m2, m1 - m2 - m3


@njit(cache=True)
def at3(m0, m1, m2, m3, m4):
    """``AT m`` of F(3, 3): 5 products -> 3 outputs."""
    s = m1 + m2
    return m0 + s + m3, m1 - m2 + 2.0 * m3, s + 4.0 * m3 + m4


@njit(cache=True)
def at4(m0, m1, m2, m3, m4, m5):
    """``AT m`` of F(4, 3): 6 products -> 4 outputs."""
    s, d = m1 + m2, m1 - m2
    t, e = m3 + m4, m3 - m4
    return m0 + s + t, d + 2.0 * e, s + 4.0 * t, d + 8.0 * e + m5


@njit(cache=True)
def a2(g0, g1):
    """``A g`` (A = AT transposed) of F(2, 3): an output-gradient line of 2 -> 4 (the weight gradient)."""
    return g0, g0 + g1, g0 - g1, -g1


@njit(cache=True)
def a3(g0, g1, g2):
    """``A g`` of F(3, 3): 3 -> 5."""
    return g0, g0 + g1 + g2, g0 - g1 + g2, g0 + 2.0 * g1 + 4.0 * g2, g2


@njit(cache=True)
def a4(g0, g1, g2, g3):
    """``A g`` of F(4, 3): 4 -> 6."""
    return g0, g0 + g1 + g2 + g3, g0 - g1 + g2 - g3, g0 + 2.0 * g1 + 4.0 * g2 + 8.0 * g3, \
        g0 - 2.0 * g1 + 4.0 * g2 - 8.0 * g3, g3


# ----------------------------------------------------------------------------
# Reading a tile: cell (yy, xx) of L channels, 0 outside the plane (the padding)
# ----------------------------------------------------------------------------


@njit(cache=True)
def _cell(xf, base, yy, xx, gm, count):
    """Cell (yy, xx) of 16 channels of the (logical) input, 0 outside it (the padding).

    ``gm = (Hx, Wx, s, oy, ox, Hl, Wl)``: the logical input is ``Hl x Wl``; its
    cell (yy, xx) is the array's cell ``(s*yy + oy, s*xx + ox)`` of an
    ``Hx x Wx`` plane (``s = 1``, offsets 0: the array itself; ``s = 2``: a
    phase image of it, :mod:`.polyphase`, read in place)."""
    Hx, Wx, s, oy, ox, Hl, Wl = gm
    py, px = s * yy + oy, s * xx + ox
    inside = 0 <= yy < Hl and 0 <= xx < Wl and 0 <= py < Hx and 0 <= px < Wx
    return gather(xf, base + py * Wx + px, Hx * Wx, count if inside else 0)


@njit(cache=True)
def _line2(xf, base, yy, x0, gm, n):
    return _cell(xf, base, yy, x0, gm, n), _cell(xf, base, yy, x0 + 1, gm, n)


@njit(cache=True)
def _line3(xf, base, yy, x0, gm, n):
    return _cell(xf, base, yy, x0, gm, n), _cell(xf, base, yy, x0 + 1, gm, n), _cell(xf, base, yy, x0 + 2, gm, n)


@njit(cache=True)
def _line4(xf, base, yy, x0, gm, n):
    return (_cell(xf, base, yy, x0, gm, n), _cell(xf, base, yy, x0 + 1, gm, n),
            _cell(xf, base, yy, x0 + 2, gm, n), _cell(xf, base, yy, x0 + 3, gm, n))


@njit(cache=True)
def _line5(xf, base, yy, x0, gm, n):
    return (_cell(xf, base, yy, x0, gm, n), _cell(xf, base, yy, x0 + 1, gm, n),
            _cell(xf, base, yy, x0 + 2, gm, n), _cell(xf, base, yy, x0 + 3, gm, n),
            _cell(xf, base, yy, x0 + 4, gm, n))


@njit(cache=True)
def _line6(xf, base, yy, x0, gm, n):
    return (_cell(xf, base, yy, x0, gm, n), _cell(xf, base, yy, x0 + 1, gm, n),
            _cell(xf, base, yy, x0 + 2, gm, n), _cell(xf, base, yy, x0 + 3, gm, n),
            _cell(xf, base, yy, x0 + 4, gm, n), _cell(xf, base, yy, x0 + 5, gm, n))


@njit(cache=True)
def _put(Vf, v, xi, p, XS, C, c0, n):
    """V[xi, p, c0 : c0 + n] = v (cell xi of the tiles ``XS`` cells after cell xi - 1)."""
    store_rows(Vf, (xi * XS + p * C + c0,), (n,), v)


@njit(cache=True)
def _put4(Vf, col, j, p, XS, C, c0, n):
    """Column j of a 4 x 4 transformed tile: V[i*4 + j] = col[i]."""
    _put(Vf, col[0], j, p, XS, C, c0, n)
    _put(Vf, col[1], 4 + j, p, XS, C, c0, n)
    _put(Vf, col[2], 8 + j, p, XS, C, c0, n)
    _put(Vf, col[3], 12 + j, p, XS, C, c0, n)


@njit(cache=True)
def _put5(Vf, col, j, p, XS, C, c0, n):
    """Column j of a 5 x 5 transformed tile."""
    _put(Vf, col[0], j, p, XS, C, c0, n)
    _put(Vf, col[1], 5 + j, p, XS, C, c0, n)
    _put(Vf, col[2], 10 + j, p, XS, C, c0, n)
    _put(Vf, col[3], 15 + j, p, XS, C, c0, n)
    _put(Vf, col[4], 20 + j, p, XS, C, c0, n)


@njit(cache=True)
def _put6(Vf, col, j, p, XS, C, c0, n):
    """Column j of a 6 x 6 transformed tile."""
    _put(Vf, col[0], j, p, XS, C, c0, n)
    _put(Vf, col[1], 6 + j, p, XS, C, c0, n)
    _put(Vf, col[2], 12 + j, p, XS, C, c0, n)
    _put(Vf, col[3], 18 + j, p, XS, C, c0, n)
    _put(Vf, col[4], 24 + j, p, XS, C, c0, n)
    _put(Vf, col[5], 30 + j, p, XS, C, c0, n)


@njit(cache=True, inline="always")
def _body_f2(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0):
    """V = BT d B of the 4 x 4 input tile at (y0, x0)."""
    r0 = bt2(*_line4(xf, b, y0, x0, gm, k))
    r1 = bt2(*_line4(xf, b, y0 + 1, x0, gm, k))
    r2 = bt2(*_line4(xf, b, y0 + 2, x0, gm, k))
    r3 = bt2(*_line4(xf, b, y0 + 3, x0, gm, k))
    _put4(Vf, bt2(r0[0], r1[0], r2[0], r3[0]), 0, p, XS, C, c0, k)
    _put4(Vf, bt2(r0[1], r1[1], r2[1], r3[1]), 1, p, XS, C, c0, k)
    _put4(Vf, bt2(r0[2], r1[2], r2[2], r3[2]), 2, p, XS, C, c0, k)
    _put4(Vf, bt2(r0[3], r1[3], r2[3], r3[3]), 3, p, XS, C, c0, k)



@njit(cache=True, inline="always")
def _body_f3(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0):
    """V = BT d B of the 5 x 5 input tile at (y0, x0)."""
    r0 = bt3(*_line5(xf, b, y0, x0, gm, k))
    r1 = bt3(*_line5(xf, b, y0 + 1, x0, gm, k))
    r2 = bt3(*_line5(xf, b, y0 + 2, x0, gm, k))
    r3 = bt3(*_line5(xf, b, y0 + 3, x0, gm, k))
    r4 = bt3(*_line5(xf, b, y0 + 4, x0, gm, k))
    _put5(Vf, bt3(r0[0], r1[0], r2[0], r3[0], r4[0]), 0, p, XS, C, c0, k)
    _put5(Vf, bt3(r0[1], r1[1], r2[1], r3[1], r4[1]), 1, p, XS, C, c0, k)
    _put5(Vf, bt3(r0[2], r1[2], r2[2], r3[2], r4[2]), 2, p, XS, C, c0, k)
    _put5(Vf, bt3(r0[3], r1[3], r2[3], r3[3], r4[3]), 3, p, XS, C, c0, k)
    _put5(Vf, bt3(r0[4], r1[4], r2[4], r3[4], r4[4]), 4, p, XS, C, c0, k)



@njit(cache=True, inline="always")
def _body_f4(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0):
    """V = BT d B of the 6 x 6 input tile at (y0, x0)."""
    r0 = bt4(*_line6(xf, b, y0, x0, gm, k))
    r1 = bt4(*_line6(xf, b, y0 + 1, x0, gm, k))
    r2 = bt4(*_line6(xf, b, y0 + 2, x0, gm, k))
    r3 = bt4(*_line6(xf, b, y0 + 3, x0, gm, k))
    r4 = bt4(*_line6(xf, b, y0 + 4, x0, gm, k))
    r5 = bt4(*_line6(xf, b, y0 + 5, x0, gm, k))
    _put6(Vf, bt4(r0[0], r1[0], r2[0], r3[0], r4[0], r5[0]), 0, p, XS, C, c0, k)
    _put6(Vf, bt4(r0[1], r1[1], r2[1], r3[1], r4[1], r5[1]), 1, p, XS, C, c0, k)
    _put6(Vf, bt4(r0[2], r1[2], r2[2], r3[2], r4[2], r5[2]), 2, p, XS, C, c0, k)
    _put6(Vf, bt4(r0[3], r1[3], r2[3], r3[3], r4[3], r5[3]), 3, p, XS, C, c0, k)
    _put6(Vf, bt4(r0[4], r1[4], r2[4], r3[4], r4[4], r5[4]), 4, p, XS, C, c0, k)
    _put6(Vf, bt4(r0[5], r1[5], r2[5], r3[5], r4[5], r5[5]), 5, p, XS, C, c0, k)



@njit(cache=True)
def _tile(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0, m):
    """V = BT d B of the input tile at (y0, x0), F(m x m, 3 x 3)."""
    if m == 2:
        _body_f2(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0)
    elif m == 3:
        _body_f3(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0)
    else:
        _body_f4(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0)


@njit(cache=True)
def _tile_full(xf, b, y0, x0, H, W, Vf, p, XS, C, c0, m):
    """:func:`_tile` for a whole register of channels of the input itself (no phases): the same
    bodies with the lane count and the cell mapping as constants, which the compiler folds (FULL)."""
    gm = (H, W, 1, 0, 0, H, W)
    if m == 2:
        _body_f2(xf, b, y0, x0, gm, FULL, Vf, p, XS, C, c0)
    elif m == 3:
        _body_f3(xf, b, y0, x0, gm, FULL, Vf, p, XS, C, c0)
    else:
        _body_f4(xf, b, y0, x0, gm, FULL, Vf, p, XS, C, c0)


@njit(cache=True)
def _grad_f2(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0):
    """V = A d AT of the 2 x 2 output-gradient tile at (y0, x0)."""
    r0 = a2(*_line2(xf, b, y0, x0, gm, k))
    r1 = a2(*_line2(xf, b, y0 + 1, x0, gm, k))
    _put4(Vf, a2(r0[0], r1[0]), 0, p, XS, C, c0, k)
    _put4(Vf, a2(r0[1], r1[1]), 1, p, XS, C, c0, k)
    _put4(Vf, a2(r0[2], r1[2]), 2, p, XS, C, c0, k)
    _put4(Vf, a2(r0[3], r1[3]), 3, p, XS, C, c0, k)


@njit(cache=True)
def _grad_f3(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0):
    """V = A d AT of the 3 x 3 output-gradient tile at (y0, x0)."""
    r0 = a3(*_line3(xf, b, y0, x0, gm, k))
    r1 = a3(*_line3(xf, b, y0 + 1, x0, gm, k))
    r2 = a3(*_line3(xf, b, y0 + 2, x0, gm, k))
    _put5(Vf, a3(r0[0], r1[0], r2[0]), 0, p, XS, C, c0, k)
    _put5(Vf, a3(r0[1], r1[1], r2[1]), 1, p, XS, C, c0, k)
    _put5(Vf, a3(r0[2], r1[2], r2[2]), 2, p, XS, C, c0, k)
    _put5(Vf, a3(r0[3], r1[3], r2[3]), 3, p, XS, C, c0, k)
    _put5(Vf, a3(r0[4], r1[4], r2[4]), 4, p, XS, C, c0, k)


@njit(cache=True)
def _grad_f4(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0):
    """V = A d AT of the 4 x 4 output-gradient tile at (y0, x0)."""
    r0 = a4(*_line4(xf, b, y0, x0, gm, k))
    r1 = a4(*_line4(xf, b, y0 + 1, x0, gm, k))
    r2 = a4(*_line4(xf, b, y0 + 2, x0, gm, k))
    r3 = a4(*_line4(xf, b, y0 + 3, x0, gm, k))
    _put6(Vf, a4(r0[0], r1[0], r2[0], r3[0]), 0, p, XS, C, c0, k)
    _put6(Vf, a4(r0[1], r1[1], r2[1], r3[1]), 1, p, XS, C, c0, k)
    _put6(Vf, a4(r0[2], r1[2], r2[2], r3[2]), 2, p, XS, C, c0, k)
    _put6(Vf, a4(r0[3], r1[3], r2[3], r3[3]), 3, p, XS, C, c0, k)
    _put6(Vf, a4(r0[4], r1[4], r2[4], r3[4]), 4, p, XS, C, c0, k)
    _put6(Vf, a4(r0[5], r1[5], r2[5], r3[5]), 5, p, XS, C, c0, k)


@njit(cache=True, nogil=True)
def input_tiles(xf, C, H, W, m, kind, g0, g1, th, tw, top, left, Vf, XS, L, ph):
    """Transform the tiles of tile rows ``g0 .. g1 - 1`` into ``V (a*a, P, C)`` (flattened ``Vf``,
    ``XS`` cells from ``V[xi]`` to ``V[xi + 1]``).

    The input is ``(N, C, H, W)``; ``kind`` 0: input tiles ``V = BT d B``, ``d``
    the ``a x a`` cells from ``(ty*m - top, t*m - left)``; ``kind`` 1: output
    gradient tiles of the weight gradient, ``V = A d AT`` with ``d`` ``m x m``
    from ``(ty*m, t*m)``.  ``L`` lanes (channels) per step.

    ``ph = (s, Cx, Hx, Wx, lo_h, lo_w)``: xf is an ``(N, Cx, Hx, Wx)`` array.
    ``s = 1``: the input itself (``Cx = C``, offsets 0).  ``s = 2``: the input
    is the stack of its four phase images (``C = 4 Cx``; channel block
    ``2 dh + dw`` is ``x_pad[2u + dh, 2v + dw]`` with ``lo`` cells of padding,
    :mod:`.polyphase`), read in place, never copied.
    """
    s, Cx, Hx, Wx, lo_h, lo_w = ph
    for g in range(g0, g1):
        n = g // th
        y0 = (g - n * th) * m - top
        for t in range(tw):
            p = (g - g0) * tw + t
            x0 = t * m - left
            for blk in range(C // Cx):
                gm = (Hx, Wx, s, blk // 2 - lo_h, blk % 2 - lo_w, H, W)
                for cx in range(0, Cx, L):
                    k = min(L, Cx - cx)
                    b = (n * Cx + cx) * Hx * Wx
                    c0 = blk * Cx + cx
                    if kind == 0 and s == 1 and k == L:  # whole register, the input itself: constants (FULL)
                        _tile_full(xf, b, y0, x0, H, W, Vf, p, XS, C, c0, m)
                    elif kind == 0:
                        _tile(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0, m)
                    elif m == 2:
                        _grad_f2(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0)
                    elif m == 3:
                        _grad_f3(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0)
                    else:
                        _grad_f4(xf, b, y0, x0, gm, k, Vf, p, XS, C, c0)
