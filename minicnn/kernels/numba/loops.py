"""Small compiled loops that the kernels inline (everything they touch comes in as an argument).

``fastmath`` is only allowed to reassociate and contract (FMA) the sums of the
convolution loops; it never assumes finite values, so ``inf``/``nan`` inputs
propagate as in NumPy.  Each loop runs from 0 over equal-length rows, with no
negative indices, so LLVM can vectorise it.
"""

from __future__ import annotations

from numba import njit

FASTMATH = {"reassoc", "contract"}  # reorder sums, fuse multiply-add; no finite-math assumptions


@njit(cache=True, inline="always")
def span(off, s, n_in, n_out):
    """Output positions ``o`` in ``[lo, hi)`` whose input cell ``o*s + off`` is inside ``[0, n_in)``."""
    lo = 0 if off >= 0 else (-off + s - 1) // s
    hi = (n_in - 1 - off) // s + 1 if n_in - 1 - off >= 0 else 0
    if hi > n_out:
        hi = n_out
    if hi < lo:
        hi = lo
    return lo, hi



@njit(cache=True, inline="always", fastmath=FASTMATH)
def dot(x, y, acc):
    for q in range(x.shape[0]):
        acc += x[q] * y[q]
    return acc


@njit(cache=True, inline="always", fastmath=FASTMATH)
def axpy4(y, x0, x1, x2, x3, a0, a1, a2, a3):
    """y += a0*x0 + a1*x1 + a2*x2 + a3*x3: four taps per load/store of y (stores are the bottleneck)."""
    for q in range(y.shape[0]):
        y[q] += a0 * x0[q] + a1 * x1[q] + a2 * x2[q] + a3 * x3[q]


@njit(cache=True, inline="always", fastmath=FASTMATH)
def axpy4x2(y0, y1, x0, x1, x2, x3, a, b, t):
    """y0 += a[t:t+4] . (x0..x3) and y1 += b[t:t+4] . (x0..x3): two outputs share the four loads."""
    a0, a1, a2, a3 = a[t], a[t + 1], a[t + 2], a[t + 3]
    b0, b1, b2, b3 = b[t], b[t + 1], b[t + 2], b[t + 3]
    for q in range(y0.shape[0]):
        v0, v1, v2, v3 = x0[q], x1[q], x2[q], x3[q]
        y0[q] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
        y1[q] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3


@njit(cache=True, inline="always", fastmath=FASTMATH)
def gather_taps(acc0, acc1, src, offs, i0, i1, wa, wb, pair):
    """acc0 += sum_k wa[k] * src[i0 + offs[k]:i1 + offs[k]] (and acc1 with wb when ``pair``).

    The shared inner loop of the flat kernels: taps four at a time, and with two outputs
    both accumulators reuse every load of ``src``.
    """
    for t in range(0, offs.shape[0], 4):
        x0, x1 = src[i0 + offs[t]:i1 + offs[t]], src[i0 + offs[t + 1]:i1 + offs[t + 1]]
        x2, x3 = src[i0 + offs[t + 2]:i1 + offs[t + 2]], src[i0 + offs[t + 3]:i1 + offs[t + 3]]
        if pair:
            axpy4x2(acc0, acc1, x0, x1, x2, x3, wa, wb, t)
        else:
            axpy4(acc0, x0, x1, x2, x3, wa[t], wa[t + 1], wa[t + 2], wa[t + 3])


@njit(cache=True, inline="always", fastmath=FASTMATH)
def dot4(g, x0, x1, x2, x3, s0, s1, s2, s3):
    """Four dot products sharing the loads of g."""
    for q in range(g.shape[0]):
        s0 += g[q] * x0[q]
        s1 += g[q] * x1[q]
        s2 += g[q] * x2[q]
        s3 += g[q] * x3[q]
    return s0, s1, s2, s3


@njit(cache=True, inline="always", fastmath=FASTMATH)
def dot4x2(g0, g1, x0, x1, x2, x3, a, b, t):
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

