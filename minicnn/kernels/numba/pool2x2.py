"""Max and average pooling with a 2x2 window and stride 2, no padding: the most common pooling layer, compiled.

:func:`minicnn.kernels.numba.pooling.max_pool_forward` sends such calls here; the
general kernel there loops over each window with bounds for every output,
which cost 15-20 ns per output (a quarter of the small ConvNet's training
step).  Here a window is four loads at fixed offsets, so the row loop is
straight-line code.  The result is exactly the general kernel's: the first
maximum in window order (top-left, top-right, bottom-left, bottom-right), a
NaN wins over numbers (the first NaN), and ``argmax`` is the flat index into
the input plane.

Average pooling (VGG's pooling in style transfer) is ``y = (a + b + c + d) / 4``
over the same windows, and its backward pass writes ``gy / 4`` into the four
cells (a row or column left over by an odd size gets 0), where the general
kernel spent 1.6 ms per call on a 1,64,128x128 activation (12 ms of the style
step).
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


@njit(parallel=True, cache=True)
def avg_pool2x2_forward(x, y):
    """x (N, C, H, W) -> y (N, C, H // 2, W // 2), the mean of each 2x2 window (preallocated)."""
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    planes = N * C
    groups = min(planes, GROUPS)
    for task in prange(groups):
        for p in range(task * planes // groups, (task + 1) * planes // groups):
            n = p // C
            c = p % C
            for oh in range(OH):
                r0, r1 = 2 * oh, 2 * oh + 1
                for ow in range(OW):
                    # summed in the general kernel's order (row by row) so the two agree to the last bit
                    s = x[n, c, r0, 2 * ow] + x[n, c, r0, 2 * ow + 1] + x[n, c, r1, 2 * ow] + x[n, c, r1, 2 * ow + 1]
                    y[n, c, oh, ow] = s / 4


@njit(parallel=True, cache=True)
def avg_pool2x2_backward(gy, gx):
    """gy (N, C, OH, OW) -> gx (N, C, H, W): ``gy / 4`` into each cell of its window, 0 outside every window."""
    N, C, H, W = gx.shape
    OH, OW = gy.shape[2], gy.shape[3]
    planes = N * C
    groups = min(planes, GROUPS)
    for task in prange(groups):
        for p in range(task * planes // groups, (task + 1) * planes // groups):
            n = p // C
            c = p % C
            for oh in range(OH):
                r0, r1 = 2 * oh, 2 * oh + 1
                for ow in range(OW):
                    g = gy[n, c, oh, ow] / 4
                    gx[n, c, r0, 2 * ow] = g
                    gx[n, c, r0, 2 * ow + 1] = g
                    gx[n, c, r1, 2 * ow] = g
                    gx[n, c, r1, 2 * ow + 1] = g
                for q in range(2 * OW, W):  # an odd width: the last column is in no window
                    gx[n, c, r0, q] = 0
                    gx[n, c, r1, q] = 0
            for r in range(2 * OH, H):  # an odd height: the last row
                for q in range(W):
                    gx[n, c, r, q] = 0
