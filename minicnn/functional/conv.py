"""Convolution: ``conv1d``, ``conv2d``, ``conv3d`` and the N-d ``conv`` they share.

There is one convolution, written for any number of spatial dimensions;
``conv1d/2d/3d`` only fix that number (so a wrong-rank input gets a clear
error).  Semantics follow ``torch.nn.functional.conv*d`` (without groups):

* input ``(N, C_in, *S)``, weight ``(C_out, C_in, *K)``, bias ``(C_out,)``
  -> output ``(N, C_out, *O)``;
* ``stride``, ``padding``, ``dilation``: an int (same for every axis) or a
  tuple with one entry per spatial axis;
* ``padding="valid"`` means no padding; ``padding="same"`` (stride 1 only)
  pads a total of ``dilation * (K - 1)`` cells per axis, ``total // 2`` before
  and the rest after, so ``O == S``.  With an even kernel the extra cell goes
  at the end, exactly as PyTorch does.

Output size per axis (:func:`conv_output_shape`), the course formula
``floor((n + 2p - f) / s) + 1`` with the dilated extent ``f = dilation * (K - 1) + 1``.

The arithmetic runs in the kernels of the current backend
(``minicnn.set_backend("reference" | "numpy" | "numba")``; CuPy arrays use the
GPU kernels), chosen by :func:`minicnn.backend.kernels_for`.
"""

from __future__ import annotations

import functools

import numpy as np

from ..autograd import Function
from ..backend import kernels_for
from ..hints import ArrayLike, Padding, Size
from ..kernels.reference import output_shape
from ..tensor import Tensor
from ._args import check_float, is_int, ntuple, resolve_padding, spatial_names, to_tensor

__all__ = ["conv", "conv1d", "conv2d", "conv3d", "conv_output_shape", "conv_relu"]


def conv_output_shape(in_shape: Size, kernel: Size, stride: Size = 1, padding: Padding = 0,
                      dilation: Size = 1) -> Size:
    """Spatial output shape of a convolution or a pooling window.

    Everything above the kernels calls this function; it checks the arguments
    and applies the kernels' own formula (:func:`minicnn.kernels.reference.output_size`),
    so the arithmetic is written once.

    Per axis, with input size ``n``, kernel ``k``, stride ``s``, dilation ``d``
    and padding ``p`` on each side::

        O = floor((n + 2p - d(k - 1) - 1) / s) + 1

    ``d(k - 1) + 1`` is the extent of the dilated kernel, so for ``d = 1``
    this is the course's ``floor((n + 2p - f) / s) + 1``; with uneven padding
    ``2p`` is ``lo + hi``.  ``in_shape`` is the *spatial* shape: an int (then
    an int is returned) or a tuple (then a tuple).  ``padding`` may also be
    ``"same"`` or ``"valid"``, or one ``(lo, hi)`` pair per axis.  Raises
    ValueError when the kernel does not fit the padded input.

    >>> conv_output_shape(14, 5)
    10
    >>> conv_output_shape((64, 64, 64), 4, stride=2)
    (31, 31, 31)
    """
    scalar = is_int(in_shape)
    spatial = (int(in_shape),) if scalar else tuple(int(n) for n in in_shape)
    d = len(spatial)
    fn = "conv_output_shape"
    kernel = ntuple(kernel, d, "kernel", fn)
    stride = ntuple(stride, d, "stride", fn)
    dilation = ntuple(dilation, d, "dilation", fn)
    pads = resolve_padding(padding, kernel, stride, dilation, fn)
    out = output_shape(spatial, kernel, stride, pads, dilation)  # the kernels' own formula
    if min(out) < 1:
        raise ValueError(
            f"{fn}: kernel {kernel} (dilation {dilation}) is larger than the padded input: "
            f"input {spatial}, padding {pads}"
        )
    return out[0] if scalar else out


# ----------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------
def _plain(v):
    """Only exact ints, strings and tuples of them are cached (1.0 == 1 == True as dictionary
    keys, but only 1 is a valid stride)."""
    t = type(v)
    return t is int or t is str or (t is tuple and all(_plain(e) for e in v))


@functools.lru_cache(maxsize=256)
def _normalised(d, kernel, stride, padding, dilation, fn):
    """(stride, padding pairs, dilation) as tuples of length d; raises on bad values."""
    stride = ntuple(stride, d, "stride", fn)
    dilation = ntuple(dilation, d, "dilation", fn)
    return stride, resolve_padding(padding, kernel, stride, dilation, fn), dilation


def _validate(x, w, b, d, stride, padding, dilation, fn):
    """Check everything before any kernel runs; return normalised arguments."""
    if x.ndim != d + 2:
        raise ValueError(f"{fn}: input must have shape (N, C_in, {spatial_names(d)}) ({d + 2} dims), "
                         f"got shape {x.shape}")
    if w.ndim != d + 2:
        raise ValueError(f"{fn}: weight must have shape (C_out, C_in, {spatial_names(d)}) ({d + 2} dims), "
                         f"got shape {w.shape}")
    check_float(x, "input", fn)
    check_float(w, "weight", fn)
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"{fn}: input has {x.shape[1]} channels but weight expects {w.shape[1]} "
            f"(input shape {x.shape}, weight shape {w.shape})"
        )
    if min(w.shape) < 1:
        raise ValueError(f"{fn}: weight must not have an empty dimension, got shape {w.shape}")
    if b is not None:
        check_float(b, "bias", fn)
        if b.shape != (w.shape[0],):
            raise ValueError(f"{fn}: bias must have shape ({w.shape[0]},) for weight {w.shape}, got shape {b.shape}")
    kernel = tuple(w.shape[2:])
    if _plain(stride) and _plain(padding) and _plain(dilation):
        # a layer calls this with the same arguments every step: normalise once
        stride, pads, dilation = _normalised(d, kernel, stride, padding, dilation, fn)
    else:  # lists, NumPy ints, bad values...: checked every time
        stride, pads, dilation = _normalised.__wrapped__(d, kernel, stride, padding, dilation, fn)
    spatial = x.shape[2:]
    for n, k, (lo, hi), dl in zip(spatial, kernel, pads, dilation):
        if dl * (k - 1) + 1 > n + lo + hi:
            extent = tuple(dl * (k - 1) + 1 for k, dl in zip(kernel, dilation))
            padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))
            raise ValueError(
                f"{fn}: kernel {kernel} (dilation {dilation}, extent {extent}) is larger than the padded input "
                f"{padded} (input shape {x.shape}, padding {pads}, weight shape {w.shape})"
            )
    return stride, pads, dilation


# ----------------------------------------------------------------------------
# The autograd Function
# ----------------------------------------------------------------------------
class ConvNd(Function):
    """y = conv(x, w) + b, for any number of spatial dimensions.

    backward: dx is the transposed convolution of dy with w, dw the
    correlation of the input with dy, db the sum of dy over batch and space
    (derivations in docs/convolution.md).
    """

    def __init__(self, stride, padding, dilation, relu=False):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.relu = relu  # y = relu(conv(x, w) + b) in one Function (see conv_relu)

    def forward(self, x, w, b=None):
        xp = self.xp
        self.dtypes = [a.dtype for a in (x, w, b) if a is not None]
        dtype = np.result_type(*self.dtypes)  # NumPy promotion, e.g. float32 + float64 -> float64
        x = xp.ascontiguousarray(x, dtype=dtype)
        w = xp.ascontiguousarray(w, dtype=dtype)
        self.kernels = kernels_for(x)  # remembered: backward uses the same backend as forward
        # Every backend adds the bias itself (the fast ones while the output is still in cache).
        b = None if b is None else xp.ascontiguousarray(b, dtype=dtype)
        y = self.kernels.conv_forward(x, w, self.stride, self.padding, self.dilation, bias=b)
        self.x, self.w = x, w
        if self.relu:
            # in place, right after the kernel wrote y: no second output array, no mask (backward reads y)
            relu = getattr(self.kernels, "relu", None)
            if relu is not None and dtype in (np.float32, np.float64) and y.flags.c_contiguous:
                relu(y, out=y)
            else:
                y = xp.maximum(y, 0, out=y)
                y += 0  # -0.0 -> +0.0, NaN kept (as F.relu)
            self.y = y
        return y

    def backward(self, gy):
        xp = self.xp
        gy = xp.ascontiguousarray(gy, dtype=self.x.dtype)
        if self.relu:  # d relu/dz = 1 where y != 0 (z > 0 or NaN), else 0: F.relu's rule
            backward = getattr(self.kernels, "relu_backward", None)
            gy = backward(gy, self.y) if backward is not None and self.y.dtype in (np.float32, np.float64) \
                else xp.where(self.y != 0, gy, 0).astype(self.y.dtype, copy=False)
        need = self.needs_input_grad
        args = (self.stride, self.padding, self.dilation)
        gx = gw = gb = None
        if need[0]:
            gx = self.kernels.conv_backward_input(gy, self.w, self.x.shape, *args).astype(self.dtypes[0], copy=False)
        if need[1]:
            gw = self.kernels.conv_backward_weight(gy, self.x, self.w.shape, *args).astype(self.dtypes[1], copy=False)
        if len(need) > 2 and need[2]:
            # b[c] is added to every output of channel c, at every n and position.
            gb = gy.sum(axis=(0,) + tuple(range(2, gy.ndim))).astype(self.dtypes[2], copy=False)
        return (gx, gw, gb)[: len(need)]


def _conv(d, input, weight, bias, stride, padding, dilation, fn, relu=False):
    x = to_tensor(input, "input", fn)
    w = to_tensor(weight, "weight", fn)
    b = None if bias is None else to_tensor(bias, "bias", fn)
    stride, pads, dilation = _validate(x, w, b, d, stride, padding, dilation, fn)
    tensors = (x, w) if b is None else (x, w, b)
    return ConvNd(stride, pads, dilation, relu)(*tensors)


def conv_relu(input: Tensor | ArrayLike, weight: Tensor | ArrayLike, bias: Tensor | ArrayLike | None = None,
              stride: Size = 1, padding: Padding = 0, dilation: Size = 1) -> Tensor:
    """``relu(conv(input, weight, bias, ...))`` as one operation (same shapes and rules as :func:`conv`).

    The ReLU runs in place on the convolution's output, right after the kernel
    wrote it, and its backward pass reads that output instead of keeping a mask:
    one array and one autograd node fewer than ``relu(conv(...))``, with the
    same values and gradients.  ``nn.Sequential`` uses it for a Conv layer
    followed by ``nn.ReLU`` (when neither has forward hooks).
    """
    w_ndim = weight.ndim if hasattr(weight, "ndim") else np.ndim(weight)
    if w_ndim < 3:
        raise ValueError(f"conv_relu: weight must have shape (C_out, C_in, *kernel) with at least one spatial "
                         f"axis, got shape {np.shape(getattr(weight, 'data', weight))}")
    return _conv(w_ndim - 2, input, weight, bias, stride, padding, dilation, "conv_relu", relu=True)


def conv(input: Tensor | ArrayLike, weight: Tensor | ArrayLike, bias: Tensor | ArrayLike | None = None,
         stride: Size = 1, padding: Padding = 0, dilation: Size = 1) -> Tensor:
    """N-d convolution; the number of spatial axes is ``weight.ndim - 2``.

    input (N, C_in, *S), weight (C_out, C_in, *K), bias (C_out,) or None
    -> (N, C_out, *O).  See the module docstring for the arguments.
    """
    w_ndim = weight.ndim if hasattr(weight, "ndim") else np.ndim(weight)
    if w_ndim < 3:
        raise ValueError(f"conv: weight must have shape (C_out, C_in, *kernel) with at least one spatial axis, "
                         f"got shape {np.shape(getattr(weight, 'data', weight))}")
    return _conv(w_ndim - 2, input, weight, bias, stride, padding, dilation, "conv")


def conv1d(input: Tensor | ArrayLike, weight: Tensor | ArrayLike, bias: Tensor | ArrayLike | None = None,
           stride: Size = 1, padding: Padding = 0, dilation: Size = 1) -> Tensor:
    """1D convolution: input (N, C_in, L), weight (C_out, C_in, K) -> (N, C_out, L_out).

    The course's ECG example: ``(N, 1, 14)`` with 16 filters ``(16, 1, 5)``
    gives ``(N, 16, 10)``.
    """
    return _conv(1, input, weight, bias, stride, padding, dilation, "conv1d")


def conv2d(input: Tensor | ArrayLike, weight: Tensor | ArrayLike, bias: Tensor | ArrayLike | None = None,
           stride: Size = 1, padding: Padding = 0, dilation: Size = 1) -> Tensor:
    """2D convolution: input (N, C_in, H, W), weight (C_out, C_in, KH, KW) -> (N, C_out, H_out, W_out)."""
    return _conv(2, input, weight, bias, stride, padding, dilation, "conv2d")


def conv3d(input: Tensor | ArrayLike, weight: Tensor | ArrayLike, bias: Tensor | ArrayLike | None = None,
           stride: Size = 1, padding: Padding = 0, dilation: Size = 1) -> Tensor:
    """3D convolution: input (N, C_in, D, H, W), weight (C_out, C_in, KD, KH, KW) -> (N, C_out, D', H', W').

    The course's CT-scan example: ``(N, 1, 14, 14, 14)`` with 16 filters of
    ``5x5x5`` gives ``(N, 16, 10, 10, 10)``.
    """
    return _conv(3, input, weight, bias, stride, padding, dilation, "conv3d")
