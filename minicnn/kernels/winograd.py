"""Winograd's minimal filtering for 3x3, stride-1 convolutions: the readable NumPy reference.

The fast path is :mod:`minicnn.kernels.numba.winograd` (which also runs the
weight gradient, as the adjoint of the forward); this file is what it must
agree with, and what lesson 12 derives.

F(m, 3): m outputs of a 3-tap filter from ``a = m + 2`` inputs
----------------------------------------------------------------
Direct correlation ``y[i] = sum_k d[i + k] g[k]`` needs ``3 m`` multiplies
for ``m`` outputs.  Winograd (after Toom-Cook) computes the same ``m``
outputs with ``a = m + 2`` multiplies::

    y = AT @ ((G @ g) * (BT @ d))          (* is elementwise)

``BT`` (a x a) transforms an input tile, ``G`` (a x 3) the filter, ``AT``
(m x a) brings the ``a`` products back to ``m`` outputs.  The matrices come
from evaluating the polynomials ``d(x)`` and ``g(x)`` at ``a - 1`` points plus
"infinity": F(2, 3) uses 0, 1, -1, inf; F(3, 3) 0, 1, -1, 2, inf; F(4, 3)
0, 1, -1, 2, -2, inf.
In 2D the transforms nest (rows, then columns)::

    Y = AT @ [ (G g G^T) * (BT d B) ] @ A            (tiles: d a x a, Y m x m)

and because the transforms are linear, the sum over input channels moves
inside: ``M[o] = sum_c U[o, c] * V[c]`` with ``U = G g G^T`` per filter and
``V = BT d B`` per input tile.  For every one of the ``a * a`` positions of
the transformed tile that sum is a matrix product ``U[xi] (C_out x C_in) @
V[xi] (C_in x tiles)``: 16 products for F(2x2, 3x3), 25 for F(3x3, 3x3), 36
for F(4x4, 3x3), with 2.25x, 3.24x and 4x fewer multiplies than the direct
convolution.

Cost: the transforms are only exact in exact arithmetic.  F(2x2, 3x3)
multiplies by 0, +-1 and 1/2 and loses almost nothing; F(4x4, 3x3)'s larger
coefficients (4, 5, 1/6, 8) cost about one more decimal digit in float32, and
F(3x3, 3x3)'s (2, 3, 4, 1/6) half as much
(bounds measured in docs/convolution.md).  An ``inf`` in the input becomes
``inf - inf = nan`` inside a transform, where the direct convolution would
give ``inf``; :mod:`minicnn.kernels.numba.winograd` detects non-finite outputs and recomputes
those calls directly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["winograd_matrices", "conv2d_winograd", "conv2d_winograd_backward_input", "applies"]


def winograd_matrices(m, dtype=np.float64):
    """``(AT, G, BT)`` of F(m, 3), ``m`` 2, 3 or 4: AT (m, m + 2), G (m + 2, 3), BT (m + 2, m + 2)."""
    if m == 2:  # points 0, 1, -1, inf
        BT = [[1, 0, -1, 0],
              [0, 1, 1, 0],
              [0, -1, 1, 0],
              [0, 1, 0, -1]]
        G = [[1, 0, 0],
             [1 / 2, 1 / 2, 1 / 2],
             [1 / 2, -1 / 2, 1 / 2],
             [0, 0, 1]]
        AT = [[1, 1, 1, 0],
              [0, 1, -1, -1]]
    elif m == 3:  # points 0, 1, -1, 2, inf
        BT = [[2, -1, -2, 1, 0],
              [0, 2, 1, -1, 0],
              [0, -2, 3, -1, 0],
              [0, -1, 0, 1, 0],
              [0, 2, -1, -2, 1]]
        G = [[1 / 2, 0, 0],
             [1 / 2, 1 / 2, 1 / 2],
             [1 / 6, -1 / 6, 1 / 6],
             [1 / 6, 1 / 3, 2 / 3],
             [0, 0, 1]]
        AT = [[1, 1, 1, 1, 0],
              [0, 1, -1, 2, 0],
              [0, 1, 1, 4, 1]]
    elif m == 4:  # points 0, 1, -1, 2, -2, inf
        BT = [[4, 0, -5, 0, 1, 0],
              [0, -4, -4, 1, 1, 0],
              [0, 4, -4, -1, 1, 0],
              [0, -2, -1, 2, 1, 0],
              [0, 2, -1, -2, 1, 0],
              [0, 4, 0, -5, 0, 1]]
        G = [[1 / 4, 0, 0],
             [-1 / 6, -1 / 6, -1 / 6],
             [-1 / 6, 1 / 6, -1 / 6],
             [1 / 24, 1 / 12, 1 / 6],
             [1 / 24, -1 / 12, 1 / 6],
             [0, 0, 1]]
        AT = [[1, 1, 1, 1, 1, 0],
              [0, 1, -1, 2, -2, 0],
              [0, 1, 1, 4, 4, 0],
              [0, 1, -1, 8, -8, 1]]
    else:
        raise ValueError(f"winograd_matrices: m must be 2, 3 or 4, got {m!r}")
    return tuple(np.array(M, dtype=dtype) for M in (AT, G, BT))


def applies(w_shape, stride, padding, dilation):
    """True when a call is a 2D 3x3 convolution with stride 1, dilation 1 and padding 0-2 per side
    (the input gradient is then also one, with padding ``2 - p``)."""
    return (len(w_shape) == 4 and tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and all(0 <= p <= 2 for pair in padding for p in pair))


def conv2d_winograd(x, w, padding=((1, 1), (1, 1)), m=2):
    """Stride-1 correlation of ``x`` (N, C, H, W) with ``w`` (O, C, 3, 3) -> (N, O, H', W'), by F(m x m, 3 x 3).

    ``padding``: ((top, bottom), (left, right)) zeros.  Same result as
    :func:`minicnn.kernels.reference.conv_forward` up to rounding.
    """
    AT, G, BT = winograd_matrices(m, x.dtype)
    a = m + 2
    (top, bottom), (left, right) = padding
    n, c, h, wd = x.shape
    oh, ow = h + top + bottom - 2, wd + left + right - 2
    th, tw = -(-oh // m), -(-ow // m)  # tiles per column and per row; the last may hang over the edge
    xp = np.zeros((n, c, th * m + 2, tw * m + 2), x.dtype)
    rows, cols = min(h, th * m + 2 - top), min(wd, tw * m + 2 - left)
    xp[:, :, top:top + rows, left:left + cols] = x[:, :, :rows, :cols]
    # Overlapping a x a input tiles, one every m cells: d[n, c, ty, tx] (a, a)
    d = np.lib.stride_tricks.sliding_window_view(xp, (a, a), axis=(2, 3))[:, :, ::m, ::m]
    V = BT @ d @ BT.T                                    # (N, C, th, tw, a, a)
    U = G @ w @ G.T                                      # (O, C, a, a)
    M = np.einsum("ocij,nctuij->notuij", U, V)           # sum over input channels, per tile position
    Y = AT @ M @ AT.T                                    # (N, O, th, tw, m, m)
    y = Y.transpose(0, 1, 2, 4, 3, 5).reshape(n, -1, th * m, tw * m)
    return np.ascontiguousarray(y[:, :, :oh, :ow])


def conv2d_winograd_backward_input(gy, w, x_shape, padding=((1, 1), (1, 1)), m=2):
    """Input gradient of :func:`conv2d_winograd`: itself a stride-1 3x3 correlation.

    ``gx[c, i] = sum_o sum_k gy[o, i + p - k] w[o, c, k]``: the gradient padded by
    ``2 - p`` on each side, correlated with the filter flipped in space and with
    its channel axes swapped (docs/convolution.md).
    """
    (top, bottom), (left, right) = padding
    w_t = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    gx = conv2d_winograd(gy, w_t, ((2 - top, 2 - bottom), (2 - left, 2 - right)), m)
    assert gx.shape == tuple(x_shape), (gx.shape, x_shape)
    return gx
