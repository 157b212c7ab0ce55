"""Vectorised kernels: the reference loops rewritten as whole-array NumPy.

Same contract and results as :mod:`minicnn.kernels.reference` (see
:mod:`minicnn.kernels`), N-dimensional, and written against ``xp`` (NumPy or
CuPy, chosen from the array) so the code runs unchanged on either.

Two ideas replace the Python loops:

* **im2col as a view.**  ``_windows`` builds, with stride tricks and no copy,
  the array ``cols[n, c, o..., k...] = x_pad[n, c, o*s + k*d]`` holding every
  window of every output position.  The convolution is then a single
  ``tensordot`` that contracts channels and kernel offsets with the filters
  (the copy into a matrix happens inside ``tensordot``; that *is* im2col).

* **col2im by kernel offsets.**  A backward pass must scatter each window's
  gradient back and add it where windows overlap.  Instead of looping over the
  many output positions we loop over the few kernel offsets ``k``: for a fixed
  ``k`` the cells ``o*s + k*d`` touched by all positions ``o`` form one strided
  slice, and no two positions hit the same cell, so a plain slice ``+=`` is
  correct (no ``np.add.at`` needed).  That is ``prod(K)`` (e.g. 9 or 27) array
  additions.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..backend import get_array_module
from .reference import output_shape

ALL = slice(None)


def _pad(xp, x, padding, value=0.0):
    """Pad the spatial axes by ``(lo, hi)`` pairs; no copy when there is nothing to add."""
    if not any(lo or hi for lo, hi in padding):
        return x
    return xp.pad(x, ((0, 0), (0, 0)) + tuple(tuple(p) for p in padding), constant_values=value)


def _unpad(x_pad, padding, spatial):
    return x_pad[(ALL, ALL) + tuple(slice(lo, lo + n) for (lo, _), n in zip(padding, spatial))]


def _windows(xp, x_pad, kernel, stride, dilation, out):
    """Read-only view ``(N, C, *O, *K)`` of every window of ``x_pad (N, C, *S_pad)``.

    Moving one output position along axis ``i`` moves ``stride[i]`` cells in
    the input; moving one kernel offset moves ``dilation[i]`` cells.  Those
    two step sizes, times the input's own byte strides, are the view's strides.
    """
    batch, chan = x_pad.strides[:2]
    cell = x_pad.strides[2:]
    shape = tuple(x_pad.shape[:2]) + tuple(out) + tuple(kernel)
    strides = (batch, chan) + tuple(c * s for c, s in zip(cell, stride)) + tuple(c * d for c, d in zip(cell, dilation))
    if xp is np:
        return np.lib.stride_tricks.as_strided(x_pad, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(x_pad, shape, strides)


def _offset_slices(k, kernel_step, stride, out):
    """For kernel offset ``k``: the slice of input cells ``k*step + o*s`` over all ``o``."""
    return tuple(
        slice(ki * step, ki * step + s * (o - 1) + 1, s)
        for ki, step, s, o in zip(k, kernel_step, stride, out)
    )


# ----------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------
def conv_forward(x, w, stride, padding, dilation, bias=None):
    """x (N, C_in, *S), w (C_out, C_in, *K), bias (C_out,) or None -> y (N, C_out, *O)."""
    xp = get_array_module(x)
    d = x.ndim - 2
    kernel = tuple(w.shape[2:])
    out = output_shape(x.shape[2:], kernel, stride, padding, dilation)
    cols = _windows(xp, _pad(xp, x, padding), kernel, stride, dilation, out)  # (N, C_in, *O, *K)
    # Contract C_in and the kernel axes: y[n, o, c_out] = sum cols[n, c, o, k] * w[c_out, c, k]
    k_axes = list(range(2 + d, 2 + 2 * d))
    y = xp.tensordot(cols, w, axes=([1] + k_axes, [1] + list(range(2, 2 + d))))  # (N, *O, C_out)
    if bias is not None:
        y += bias  # broadcast over the last axis, C_out
    return xp.ascontiguousarray(xp.moveaxis(y, -1, 1), dtype=x.dtype)


def conv_backward_weight(gy, x, w_shape, stride, padding, dilation):
    """gw[c_out, c_in, k] = sum over n, o of gy[n, c_out, o] * cols[n, c_in, o, k]."""
    xp = get_array_module(gy)
    d = gy.ndim - 2
    kernel = tuple(w_shape[2:])
    cols = _windows(xp, _pad(xp, x, padding), kernel, stride, dilation, gy.shape[2:])
    o_axes = list(range(2, 2 + d))
    gw = xp.tensordot(gy, cols, axes=([0] + o_axes, [0] + o_axes))  # (C_out, C_in, *K)
    return xp.ascontiguousarray(gw, dtype=gy.dtype)


def conv_backward_input(gy, w, x_shape, stride, padding, dilation):
    """Transposed convolution: every window's gradient ``w * gy`` added back (col2im)."""
    xp = get_array_module(gy)
    kernel = tuple(w.shape[2:])
    out = tuple(gy.shape[2:])
    spatial = tuple(x_shape[2:])
    # cols[c_in, k..., n, o...] = sum over c_out of w[c_out, c_in, k] * gy[n, c_out, o]
    cols = xp.tensordot(w, gy, axes=([0], [1]))
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, padding))
    # Channels first so that cols[:, k] (C_in, N, *O) adds straight into a slice.
    gx_pad = xp.zeros((x_shape[1], x_shape[0]) + padded, dtype=gy.dtype)
    for k in itertools.product(*(range(n) for n in kernel)):
        gx_pad[(ALL, ALL) + _offset_slices(k, dilation, stride, out)] += cols[(ALL,) + k]
    gx = _unpad(gx_pad, padding, spatial)
    return xp.ascontiguousarray(xp.swapaxes(gx, 0, 1))


# ----------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------
def _pool_geometry(x_shape, kernel, stride, padding):
    spatial = tuple(x_shape[2:])
    pads = tuple((p, p) for p in padding)
    out = output_shape(spatial, kernel, stride, pads, (1,) * len(kernel))
    return spatial, pads, out


def _axis_grid(xp, values, axis, d):
    """A 1-d array shaped to broadcast along spatial axis ``axis`` of ``(*O)``."""
    shape = [1] * d
    shape[axis] = -1
    return xp.asarray(values).reshape(shape)


def max_pool_forward(x, kernel, stride, padding):
    """Running maximum over the kernel offsets.  Returns ``(y, argmax)``.

    The comparison is strict (``>``), so among equal values the earliest
    offset in row-major window order wins -- the tie rule of the reference.
    Padding cells (-inf) are never chosen: a window's first real cell is taken
    before any comparison, which also covers inputs that contain -inf.
    """
    xp = get_array_module(x)
    d = len(kernel)
    spatial, pads, out = _pool_geometry(x.shape, kernel, stride, padding)
    x_pad = _pad(xp, x, pads, -np.inf)
    best = xp.full(x.shape[:2] + out, -np.inf, dtype=x.dtype)
    which = xp.full(x.shape[:2] + out, -1, dtype=np.int64)  # winning kernel offset, -1 = none yet
    for j, k in enumerate(itertools.product(*(range(n) for n in kernel))):
        v = x_pad[(ALL, ALL) + _offset_slices(k, (1,) * d, stride, out)]
        take = (v > best) | (xp.isnan(v) & ~xp.isnan(best))  # NaN propagates, first one wins
        if any(padding):
            real = True
            for i in range(d):  # is cell o*s + k - p inside the input along axis i?
                pos = xp.arange(out[i]) * stride[i] + k[i] - padding[i]
                real = real & _axis_grid(xp, (pos >= 0) & (pos < spatial[i]), i, d)
            take |= real & (which < 0)
        else:
            take |= which < 0
        best = xp.where(take, v, best)
        which = xp.where(take, j, which)
    # Winning offset -> flat index into the unpadded plane x[n, c].
    offsets = xp.unravel_index(which, kernel)
    flat = 0
    for i in range(d):
        start = _axis_grid(xp, xp.arange(out[i]) * stride[i] - padding[i], i, d)
        flat = flat * spatial[i] + (start + offsets[i])
    return best, xp.ascontiguousarray(flat, dtype=np.int64)


def max_pool_backward(gy, argmax, x_shape):
    """Scatter-add ``gy`` to the winners.  A cell may win several overlapping
    windows, so the adds must accumulate: ``bincount`` with weights does that
    in one pass over a flat index ``(n*C + c) * plane + argmax``."""
    xp = get_array_module(gy)
    batch, chan = x_shape[:2]
    plane = math.prod(x_shape[2:])
    base = (xp.arange(batch * chan, dtype=np.int64) * plane).reshape((batch, chan) + (1,) * (gy.ndim - 2))
    gx = xp.bincount((argmax + base).ravel(), weights=gy.ravel(), minlength=batch * chan * plane)
    return gx.astype(gy.dtype, copy=False).reshape(x_shape)


def _avg_divisor(xp, spatial, kernel, stride, padding, out, count_include_pad, dtype):
    """``prod(kernel)``, or (count_include_pad=False) the number of real cells
    of each window: a product of per-axis counts, since windows are boxes."""
    if count_include_pad:
        return math.prod(kernel)
    d = len(kernel)
    count = 1
    for i in range(d):
        start = np.arange(out[i]) * stride[i] - padding[i]
        n_real = np.minimum(start + kernel[i], spatial[i]) - np.maximum(start, 0)
        count = count * _axis_grid(xp, n_real.astype(dtype), i, d)
    return count


def avg_pool_forward(x, kernel, stride, padding, count_include_pad=True):
    """Sum the ``prod(kernel)`` shifted strided slices, then divide."""
    xp = get_array_module(x)
    d = len(kernel)
    spatial, pads, out = _pool_geometry(x.shape, kernel, stride, padding)
    x_pad = _pad(xp, x, pads)
    total = xp.zeros(x.shape[:2] + out, dtype=x.dtype)
    for k in itertools.product(*(range(n) for n in kernel)):
        total += x_pad[(ALL, ALL) + _offset_slices(k, (1,) * d, stride, out)]
    div = _avg_divisor(xp, spatial, kernel, stride, padding, out, count_include_pad, x.dtype)
    return (total / div).astype(x.dtype, copy=False)


def avg_pool_backward(gy, x_shape, kernel, stride, padding, count_include_pad=True):
    """Each window cell gets ``gy / divisor``, added slice by slice (col2im)."""
    xp = get_array_module(gy)
    d = len(kernel)
    spatial, pads, out = _pool_geometry(x_shape, kernel, stride, padding)
    share = (gy / _avg_divisor(xp, spatial, kernel, stride, padding, out, count_include_pad, gy.dtype)).astype(
        gy.dtype, copy=False
    )
    padded = tuple(n + 2 * p for n, p in zip(spatial, padding))
    gx_pad = xp.zeros(tuple(x_shape[:2]) + padded, dtype=gy.dtype)
    for k in itertools.product(*(range(n) for n in kernel)):
        gx_pad[(ALL, ALL) + _offset_slices(k, (1,) * d, stride, out)] += share
    return xp.ascontiguousarray(_unpad(gx_pad, pads, spatial))
