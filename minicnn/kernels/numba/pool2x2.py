"""Max pooling with a 2x2 window and stride 2, no padding: the most common pooling layer, compiled.

:func:`minicnn.kernels.numba.pooling.max_pool_forward` sends such calls here; the
general kernel there loops over each window with bounds for every output,
which cost 15-20 ns per output (a quarter of the small ConvNet's training
step).  Here a window is four loads at fixed offsets, so the row loop is
straight-line code.  The result is exactly the general kernel's: the first
maximum in window order (top-left, top-right, bottom-left, bottom-right), a
NaN wins over numbers (the first NaN), and ``argmax`` is the flat index into
the input plane.
"""

from __future__ import annotations

from numba import njit, prange

GROUPS = 64  # tasks: each a range of (n, c) planes (one task per plane costs 0.2 us of scheduling)


def applies(x_shape, kernel, stride, padding):
    return len(x_shape) == 4 and tuple(kernel) == (2, 2) and tuple(stride) == (2, 2) and tuple(padding) == (0, 0)


@njit(cache=True, inline="always")
def _take(v, best):
    # v replaces best when larger, or when v is the first NaN (as the general kernel and np.argmax)
    return (v > best) | ((v != v) & (best == best))


@njit(parallel=True, cache=True)
def max_pool2x2_forward(x, y, arg):
    """x (N, C, H, W) -> y, arg (N, C, H // 2, W // 2) (float and int64, preallocated)."""
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    planes = N * C
    groups = min(planes, GROUPS)
    for task in prange(groups):
        for p in range(task * planes // groups, (task + 1) * planes // groups):
            n = p // C
            c = p % C
            for oh in range(OH):  # (no row views: each costs a reference-count update, 4 ns per output here)
                r0, r1 = 2 * oh, 2 * oh + 1
                for ow in range(OW):
                    best = x[n, c, r0, 2 * ow]
                    idx = r0 * W + 2 * ow
                    v = x[n, c, r0, 2 * ow + 1]
                    t = _take(v, best)
                    best = v if t else best
                    idx = idx + 1 if t else idx
                    v = x[n, c, r1, 2 * ow]
                    t = _take(v, best)
                    best = v if t else best
                    idx = r1 * W + 2 * ow if t else idx
                    v = x[n, c, r1, 2 * ow + 1]
                    t = _take(v, best)
                    best = v if t else best
                    idx = r1 * W + 2 * ow + 1 if t else idx
                    y[n, c, oh, ow] = best
                    arg[n, c, oh, ow] = idx
