"""One geometry for every rank: 1D and 2D calls become 3D ones (views, no copies).

A 1D or 2D call is reshaped to 3 spatial axes by inserting axes of size 1 in
front: ``(N, C, L)`` -> ``(N, C, 1, 1, L)``, kernel 1, stride 1, no padding on
the new axes.  So each kernel is compiled once per dtype (float32, float64),
not once per rank, and the innermost loop always runs along the last
(contiguous) axis ``W``.
"""

from __future__ import annotations

import functools

import numpy as np

from ..reference import output_size


def to5d(a, d):
    """(N, C, *S) with d spatial axes -> (N, C, D, H, W), inserting size-1 axes in front (a view)."""
    return a.reshape(a.shape[:2] + (1,) * (3 - d) + a.shape[2:])


def geom5(values, d, fill):
    """d per-axis values -> 3, with ``fill`` for the inserted axes."""
    return (fill,) * (3 - d) + tuple(int(v) for v in values)


def contig(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def conv_geometry(x_shape, w_shape, stride, padding, dilation):
    """``(d, stride, dilation, pad_lo, pad_hi, S, K, O)``, each after ``d`` a 3-tuple;
    ``O_i = (S_i + lo_i + hi_i - dilation_i (K_i - 1) - 1) // stride_i + 1``.

    Memoised: a network calls each layer with the same shapes every step, and
    this Python arithmetic cost about 10 us per call (a tenth of a small layer).
    """
    try:
        return _conv_geometry(tuple(x_shape), tuple(w_shape), stride, padding, dilation)
    except TypeError:  # unhashable arguments (lists)
        return _conv_geometry.__wrapped__(x_shape, w_shape, stride, padding, dilation)


@functools.lru_cache(maxsize=512)
def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    d = len(x_shape) - 2
    st = geom5(stride, d, 1)
    dl = geom5(dilation, d, 1)
    lo = geom5((p[0] for p in padding), d, 0)
    hi = geom5((p[1] for p in padding), d, 0)
    s5 = geom5(x_shape[2:], d, 1)
    k5 = geom5(w_shape[2:], d, 1)
    out = tuple(output_size(s, k, t, a, b, e) for s, a, b, e, k, t in zip(s5, lo, hi, dl, k5, st))
    return d, st, dl, lo, hi, s5, k5, out


def pool_geometry(x_shape, kernel, stride, padding):
    """``(d, K, stride, pad, O)``, each after ``d`` a 3-tuple; ``O_i = (S_i + 2 p_i - K_i) // stride_i + 1``."""
    d = len(x_shape) - 2
    k5 = geom5(kernel, d, 1)
    st = geom5(stride, d, 1)
    lo = geom5(padding, d, 0)
    s5 = geom5(x_shape[2:], d, 1)
    out = tuple(output_size(s, k, t, p, p) for s, p, k, t in zip(s5, lo, k5, st))
    return d, k5, st, lo, out
