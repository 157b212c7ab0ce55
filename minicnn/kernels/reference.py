"""Reference kernels: convolution and pooling as explicit loops.

This is the code the lessons quote.  Every function follows the recipe the
course uses for ``conv_forward``, ``conv_backward`` and ``pool_backward``:

1. pad the input with zeros (or -inf for max pooling);
2. loop over every output position;
3. slice the *window* of the padded input that this position sees;
4. forward: multiply the window by a filter and sum (convolution), or take
   its max / mean (pooling);
   backward: *scatter* the upstream gradient back into that same window.

The loops run over any number of spatial dimensions (1D signals, 2D images,
3D volumes) because the output positions are enumerated with
``itertools.product``; nothing here is specific to 2D.

Sizes.  Along every spatial axis the output has

    O = floor((n + 2p - f) / s) + 1

positions (the course formula: input size ``n``, padding ``p``, filter size
``f``, stride ``s``).  Two generalisations appear in the code: the two sides
may be padded differently (``2p`` becomes ``lo + hi``, needed for "same"
padding with an even filter), and a dilated filter spans ``f = d(k-1) + 1``
input cells although it has only ``k`` weights.

These loops are slow (pure Python over every output element).  Use them on
tiny inputs, to read, or to check a fast kernel; ``minicnn.set_backend("numpy")``
or ``"numba"`` selects a fast implementation of the same contract
(see :mod:`minicnn.kernels`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

ALL = slice(None)  # "every batch item" / "every channel" inside an index tuple


# ----------------------------------------------------------------------------
# Sizes and windows
# ----------------------------------------------------------------------------
def output_size(n, k, stride=1, pad_lo=0, pad_hi=0, dilation=1):
    """Number of output positions along one axis.

    ``floor((n + 2p - f) / s) + 1`` with ``2p = pad_lo + pad_hi`` and the
    dilated filter extent ``f = dilation * (k - 1) + 1``.  The result is < 1
    when the filter does not fit into the padded input.
    """
    f = dilation * (k - 1) + 1
    return (n + pad_lo + pad_hi - f) // stride + 1


def output_shape(spatial, kernel, stride, padding, dilation):
    """Spatial output shape; ``padding`` holds one ``(lo, hi)`` pair per axis."""
    return tuple(
        output_size(n, k, s, lo, hi, d)
        for n, k, s, (lo, hi), d in zip(spatial, kernel, stride, padding, dilation)
    )


def window(position, kernel, stride, dilation):
    """Slices that cut, out of the *padded* input, the cells seen by ``position``.

    Along each axis the window starts at ``o * s`` and takes ``k`` cells,
    ``d`` apart (``d = 1``: adjacent cells, the usual case).
    """
    return tuple(
        slice(o * s, o * s + d * (k - 1) + 1, d)
        for o, k, s, d in zip(position, kernel, stride, dilation)
    )


def positions(shape):
    """Every index of an array of this shape, in row-major order."""
    return itertools.product(*(range(n) for n in shape))


def pad(x, padding, value=0.0):
    """Pad the spatial axes of ``x (N, C, *S)``; ``padding`` = ``(lo, hi)`` per axis."""
    return np.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in padding), constant_values=value)


def unpad(x_pad, padding, spatial):
    """Inverse of :func:`pad`: keep the cells that belong to the real input."""
    return x_pad[(ALL, ALL) + tuple(slice(lo, lo + n) for (lo, _), n in zip(padding, spatial))]


def _symmetric(padding):
    """Pooling pads both sides by the same amount ``p``: turn ``p`` into ``(p, p)``."""
    return tuple((p, p) for p in padding)


# ----------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------
def conv_forward(x, w, stride, padding, dilation, bias=None):
    """N-d convolution (cross-correlation, as in every deep-learning library).

    x (N, C_in, *S), w (C_out, C_in, *K), bias (C_out,) or None  ->  y (N, C_out, *O) with

        y[n, c_out, o] = sum over c_in, k of  w[c_out, c_in, k] * x_pad[n, c_in, o*s + k*d]  (+ bias[c_out])
    """
    kernel = w.shape[2:]
    x_pad = pad(x, padding)
    out = output_shape(x.shape[2:], kernel, stride, padding, dilation)
    y = np.zeros((x.shape[0], w.shape[0]) + out, dtype=x.dtype)
    for n in range(x.shape[0]):
        for o in positions(out):
            patch = x_pad[(n, ALL) + window(o, kernel, stride, dilation)]  # (C_in, *K)
            for c_out in range(w.shape[0]):
                # One filter on one window: element-wise product, then sum.
                y[(n, c_out) + o] = np.sum(patch * w[c_out])
                if bias is not None:
                    y[(n, c_out) + o] += bias[c_out]
    return y


def conv_backward_input(gy, w, x_shape, stride, padding, dilation):
    """Gradient of the loss with respect to the convolution's input.

    Each output ``y[n, c_out, o]`` was computed from one window, so its
    gradient flows back into that window, weighted by the filter:
    ``dx_pad[window] += w[c_out] * dy[n, c_out, o]``.  Overlapping windows add up.
    gy (N, C_out, *O), w (C_out, C_in, *K)  ->  gx x_shape
    """
    kernel = w.shape[2:]
    spatial = tuple(x_shape[2:])
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, padding))
    gx_pad = np.zeros(tuple(x_shape[:2]) + padded, dtype=gy.dtype)
    for n in range(gy.shape[0]):
        for o in positions(gy.shape[2:]):
            cells = (n, ALL) + window(o, kernel, stride, dilation)
            for c_out in range(w.shape[0]):
                gx_pad[cells] += w[c_out] * gy[(n, c_out) + o]
    # Gradients that landed on padding cells belong to no input: drop them.
    return unpad(gx_pad, padding, spatial)


def conv_backward_weight(gy, x, w_shape, stride, padding, dilation):
    """Gradient of the loss with respect to the filters.

    A weight is used at every output position, so its gradient sums, over
    positions, the input window it multiplied times the upstream gradient:
    ``dw[c_out] += x_pad[window] * dy[n, c_out, o]``.
    gy (N, C_out, *O), x (N, C_in, *S)  ->  gw w_shape
    """
    kernel = tuple(w_shape[2:])
    x_pad = pad(x, padding)
    gw = np.zeros(w_shape, dtype=gy.dtype)
    for n in range(gy.shape[0]):
        for o in positions(gy.shape[2:]):
            patch = x_pad[(n, ALL) + window(o, kernel, stride, dilation)]
            for c_out in range(w_shape[0]):
                gw[c_out] += patch * gy[(n, c_out) + o]
    return gw


# ----------------------------------------------------------------------------
# Max pooling
# ----------------------------------------------------------------------------
def _clipped_window(o, kernel, stride, padding, spatial):
    """The window of output position ``o`` in *unpadded* input coordinates,
    clipped to the input.  Padding cells count as -inf, so they can never be
    the maximum and we may simply leave them out."""
    starts = [oi * s - p for oi, s, p in zip(o, stride, padding)]
    lo = [max(a, 0) for a in starts]
    hi = [min(a + k, n) for a, k, n in zip(starts, kernel, spatial)]
    return lo, tuple(slice(a, b) for a, b in zip(lo, hi))


def max_pool_forward(x, kernel, stride, padding):
    """Max pooling.  x (N, C, *S) -> (y (N, C, *O), argmax (N, C, *O) int64).

    ``argmax`` stores where each maximum came from, as a flat index into the
    spatial plane ``x[n, c]``, so that the backward pass can route the gradient.

    Ties: ``np.argmax`` returns the *first* maximum in row-major order of
    the window, so when several cells share the maximum the first one gets
    the whole gradient (PyTorch's CPU kernel does the same).
    """
    spatial = x.shape[2:]
    out = output_shape(spatial, kernel, stride, _symmetric(padding), (1,) * len(kernel))
    y = np.empty(x.shape[:2] + out, dtype=x.dtype)
    argmax = np.empty(x.shape[:2] + out, dtype=np.int64)
    for n, c in positions(x.shape[:2]):
        for o in positions(out):
            lo, cells = _clipped_window(o, kernel, stride, padding, spatial)
            patch = x[(n, c) + cells]
            where = np.unravel_index(np.argmax(patch), patch.shape)  # first maximum
            y[(n, c) + o] = patch[where]
            argmax[(n, c) + o] = np.ravel_multi_index(tuple(a + i for a, i in zip(lo, where)), spatial)
    return y, argmax


def max_pool_backward(gy, argmax, x_shape):
    """Only the maximum influenced the output, so only it receives the gradient:
    ``dx[n, c, argmax] += dy[n, c, o]`` (``+=``: one cell may win several windows).
    """
    gx = np.zeros((x_shape[0], x_shape[1], math.prod(x_shape[2:])), dtype=gy.dtype)
    for n, c in positions(gy.shape[:2]):
        for o in positions(gy.shape[2:]):
            gx[n, c, argmax[(n, c) + o]] += gy[(n, c) + o]
    return gx.reshape(x_shape)


# ----------------------------------------------------------------------------
# Average pooling
# ----------------------------------------------------------------------------
def _divisor(o, kernel, stride, padding, spatial, count_include_pad):
    """How many cells the mean of window ``o`` divides by.

    ``count_include_pad=True`` (PyTorch's default): always the full window
    ``prod(kernel)``, padding zeros included.  Otherwise only the real cells.
    """
    if count_include_pad:
        return math.prod(kernel)
    _, cells = _clipped_window(o, kernel, stride, padding, spatial)
    return math.prod(sl.stop - sl.start for sl in cells)


def avg_pool_forward(x, kernel, stride, padding, count_include_pad=True):
    """Average pooling.  x (N, C, *S) -> y (N, C, *O): the mean of each window."""
    spatial = x.shape[2:]
    pads = _symmetric(padding)
    ones = (1,) * len(kernel)
    x_pad = pad(x, pads)
    out = output_shape(spatial, kernel, stride, pads, ones)
    y = np.empty(x.shape[:2] + out, dtype=x.dtype)
    for n, c in positions(x.shape[:2]):
        for o in positions(out):
            patch = x_pad[(n, c) + window(o, kernel, stride, ones)]
            y[(n, c) + o] = patch.sum() / _divisor(o, kernel, stride, padding, spatial, count_include_pad)
    return y


def avg_pool_backward(gy, x_shape, kernel, stride, padding, count_include_pad=True):
    """Every cell of a window contributed ``1/divisor`` of the mean, so the
    upstream gradient is spread evenly: ``dx_pad[window] += dy / divisor``."""
    spatial = tuple(x_shape[2:])
    pads = _symmetric(padding)
    ones = (1,) * len(kernel)
    padded = tuple(n + 2 * p for n, p in zip(spatial, padding))
    gx_pad = np.zeros(tuple(x_shape[:2]) + padded, dtype=gy.dtype)
    for n, c in positions(gy.shape[:2]):
        for o in positions(gy.shape[2:]):
            share = gy[(n, c) + o] / _divisor(o, kernel, stride, padding, spatial, count_include_pad)
            gx_pad[(n, c) + window(o, kernel, stride, ones)] += share
    return unpad(gx_pad, pads, spatial)
