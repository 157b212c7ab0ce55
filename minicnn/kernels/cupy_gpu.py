"""GPU kernels for CuPy arrays: the kernel contract of :mod:`minicnn.kernels`
on an NVIDIA GPU.

:func:`minicnn.backend.kernels_for` sends every CuPy array here, whatever the
CPU backend is.  The work is split the classic way (Chellapilla et al. 2006;
Caffe):

* **convolution = im2col + one matrix product.**  A CUDA kernel copies every
  window of the input into a column matrix ``cols (C_in*K, N*O)`` (one
  thread per element, zeros for padding), and cuBLAS, through ``cupy.dot``,
  multiplies the filters ``(C_out, C_in*K)`` by it.  The backward pass is two
  more products: ``dW = dY @ cols^T`` and ``dcols = W^T @ dY``, then
  **col2im** adds each column back onto the cells it came from.  All three
  are single 2D products: ``cupy.dot`` hands transposed views to cuBLAS
  without copying (``cupy.matmul`` on stacks of matrices would copy them).
  col2im is written as a *gather* (one thread per input cell sums the few
  columns that read it), so it needs no atomics and is deterministic.  A 1x1 convolution with
  stride 1 skips im2col altogether.
* **pooling** has one thread per output (forward).  Average pooling's
  backward is a gather (one thread per input cell over the windows that
  contain it); max pooling's adds each output's gradient to the cell it
  chose with ``atomicAdd`` (the contract gives it only the argmax).

The CUDA C source is in :mod:`minicnn.kernels.cupy_source`; it is compiled by
CuPy on first use, once per dtype (float32, float64), and cached (CuPy also
keeps the binary in ``~/.cupy/kernel_cache``).  Nothing leaves the GPU: all
sizes come from array shapes, never from reading device memory.

Fallback: every function can instead run :mod:`minicnn.kernels.numpy_im2col`,
which is written against ``xp`` and therefore runs unchanged on CuPy.  That
path is used for other dtypes (e.g. float16), for more than three spatial
axes, when the kernels cannot be compiled (a warning says why), or on
request: ``set_mode("vectorized")`` or ``MINICNN_CUPY_KERNELS=vectorized``.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np

from ..backend import get_array_module
from . import cupy_source
from . import numpy_im2col as vectorized
from .reference import output_shape

MODES = ("raw", "vectorized")
_state = {"mode": os.environ.get("MINICNN_CUPY_KERNELS", "raw")}
_modules = {}  # dtype name -> compiled cupy.RawModule; (kernel, dtype name) -> its function
_ready = set()  # dtype names whose kernels compiled
_MAX_THREADS = 256
_INT32_MAX = 2**31 - 1


def set_mode(mode: str) -> None:
    """``"raw"``: the CUDA kernels (default); ``"vectorized"``: the xp-generic NumPy code on CuPy."""
    if mode not in MODES:
        raise ValueError(f"set_mode: mode must be one of {MODES}, got {mode!r}")
    _state["mode"] = mode


def get_mode() -> str:
    return _state["mode"]


# ----------------------------------------------------------------------------
# Compiling and launching
# ----------------------------------------------------------------------------
def _function(name, dtype_name):
    """The compiled kernel ``name`` for real_t = ``dtype_name`` (compiled on first use)."""
    key = (name, dtype_name)
    fn = _modules.get(key)
    if fn is None:
        module = _modules.get(dtype_name)
        if module is None:
            import cupy

            module = cupy.RawModule(code=cupy_source.cuda_source(dtype_name))
            module.get_function(name)  # compiles now, so that a failure surfaces here
            _modules[dtype_name] = module
        fn = _modules[key] = module.get_function(name)
    return fn


def _launch(name, dtype, rows, per_row, args, long_args=(0,)):
    """Run kernel ``name`` over ``rows`` rows of ``per_row`` positions each.

    ``args`` are the kernel's parameters; plain ints become 32-bit ints except
    those at positions ``long_args`` (the 64-bit row count), as the C
    signatures in cupy_source declare them.
    """
    if rows == 0 or per_row == 0:
        return
    threads = min(_MAX_THREADS, 32 * -(-per_row // 32))  # a short row gets a small block
    grid = (min(rows, _INT32_MAX), min(-(-per_row // threads), 65535))
    packed = []
    for i, a in enumerate(args):
        if isinstance(a, (int, np.integer)):
            a = np.int64(a) if i in long_args else np.int32(a)
        packed.append(a)
    _function(name, np.dtype(dtype).name)(grid, (threads,), tuple(packed))


def _use_raw(x, d):
    """Whether the CUDA kernels handle this call (else the vectorized path)."""
    if _state["mode"] != "raw" or d > 3 or x.dtype.name not in cupy_source.CTYPES:
        return False
    if math.prod(x.shape[2:]) > _INT32_MAX:  # in-plane indices are 32-bit ints
        return False
    if x.dtype.name not in _ready:
        try:
            _function(cupy_source.KERNELS[0], x.dtype.name)
        except Exception as exc:  # no NVRTC, unsupported toolkit...
            warnings.warn(f"minicnn: CUDA kernels failed to compile ({type(exc).__name__}: {exc}); "
                          "using the vectorized CuPy fallback", RuntimeWarning, stacklevel=2)
            _state["mode"] = "vectorized"
            return False
        _ready.add(x.dtype.name)
    return True


def _lift(values, fill, d):
    """A length-d tuple padded at the front to 3 entries: 1D/2D become 3D problems of depth 1."""
    return (fill,) * (3 - d) + tuple(values)


def _geometry(spatial, out, kernel, stride, pad_lo):
    """The 15 ints ``D, H, W, OD, OH, OW, KD, KH, KW, SD, SH, SW, PD, PH, PW``."""
    d = len(spatial)
    return (_lift(spatial, 1, d) + _lift(out, 1, d) + _lift(kernel, 1, d)
            + _lift(stride, 1, d) + _lift(pad_lo, 0, d))


def _is_pointwise(kernel, stride, padding, dilation):
    return all(k == 1 for k in kernel) and all(s == 1 for s in stride) and not any(
        lo or hi for lo, hi in padding)


# ----------------------------------------------------------------------------
# Layout helpers, im2col / col2im
# ----------------------------------------------------------------------------
def _to_rows(a):
    """(N, C, *S) -> (C, N*prod(S)), C-contiguous: channels become matrix rows.
    Free (a reshape) when N == 1; otherwise one transposing copy."""
    xp = get_array_module(a)
    n, c = a.shape[:2]
    if n == 1:
        return xp.ascontiguousarray(a).reshape(c, -1)
    return xp.ascontiguousarray(a.reshape(n, c, -1).transpose(1, 0, 2)).reshape(c, -1)


def _from_rows(m, n, spatial):
    """(C, N*prod(S)) -> (N, C, *S), the inverse of :func:`_to_rows`."""
    xp = get_array_module(m)
    c = m.shape[0]
    if n == 1:
        return m.reshape((1, c) + tuple(spatial))
    return xp.ascontiguousarray(m.reshape(c, n, -1).transpose(1, 0, 2)).reshape((n, c) + tuple(spatial))


def im2col(x, kernel, stride, padding, dilation, out):
    """x (N, C, *S) -> cols (C*prod(K), N*prod(O)): row (c, k...), column (n, o...)."""
    xp = get_array_module(x)
    n, c = x.shape[:2]
    d = len(kernel)
    k, p = math.prod(kernel), math.prod(out)
    cols = xp.empty((c * k, n * p), dtype=x.dtype)
    geometry = _geometry(x.shape[2:], out, kernel, stride, [lo for lo, _ in padding])
    rows = c * k * n
    _launch("minicnn_im2col", x.dtype, rows, p,
            (x, cols, rows, n, c) + geometry + _lift(dilation, 1, d), long_args=(2,))
    return cols


def col2im(cols, x_shape, kernel, stride, padding, dilation, out):
    """cols (C*prod(K), N*prod(O)) -> (N, C, *S), overlapping windows added."""
    xp = get_array_module(cols)
    d = len(kernel)
    n, c = x_shape[:2]
    gx = xp.empty(tuple(x_shape), dtype=cols.dtype)
    rows, plane = n * c, math.prod(x_shape[2:])
    geometry = _geometry(x_shape[2:], out, kernel, stride, [lo for lo, _ in padding])
    _launch("minicnn_col2im", cols.dtype, rows, plane,
            (cols, gx, rows, n, c) + geometry + _lift(dilation, 1, d), long_args=(2,))
    return gx


def _columns(x, kernel, stride, padding, dilation, out):
    if _is_pointwise(kernel, stride, padding, dilation):
        return _to_rows(x)  # a 1x1 stride-1 convolution needs no im2col
    return im2col(x, kernel, stride, padding, dilation, out)


# ----------------------------------------------------------------------------
# Convolution: three 2D cuBLAS products (cupy.dot takes transposed views without copying)
# ----------------------------------------------------------------------------
def conv_forward(x, w, stride, padding, dilation, bias=None):
    """x (N, C_in, *S), w (C_out, C_in, *K), bias (C_out,) or None -> y (N, C_out, *O);
    Y = W (C_out, C_in*K) @ cols (+ b)."""
    xp = get_array_module(x)
    d = x.ndim - 2
    if not _use_raw(x, d):
        return vectorized.conv_forward(x, w, stride, padding, dilation, bias)
    x = xp.ascontiguousarray(x)
    kernel = tuple(w.shape[2:])
    out = output_shape(x.shape[2:], kernel, stride, padding, dilation)
    cols = _columns(x, kernel, stride, padding, dilation, out)
    w2 = xp.ascontiguousarray(w, dtype=x.dtype).reshape(w.shape[0], -1)
    rows = xp.dot(w2, cols)  # (C_out, N * prod(O))
    if bias is not None:
        rows += xp.asarray(bias, dtype=x.dtype)[:, None]
    return _from_rows(rows, x.shape[0], out)


def conv_backward_weight(gy, x, w_shape, stride, padding, dilation):
    """gw (C_out, C_in, *K) = dY (C_out, N*O) @ cols^T (N*O, C_in*K)."""
    xp = get_array_module(gy)
    d = gy.ndim - 2
    if not _use_raw(gy, d):
        return vectorized.conv_backward_weight(gy, x, w_shape, stride, padding, dilation)
    x = xp.ascontiguousarray(x, dtype=gy.dtype)
    kernel = tuple(w_shape[2:])
    cols = _columns(x, kernel, stride, padding, dilation, tuple(gy.shape[2:]))
    return xp.dot(_to_rows(gy), cols.T).reshape(tuple(w_shape))


def conv_backward_input(gy, w, x_shape, stride, padding, dilation):
    """gx (N, C_in, *S) = col2im(W^T (C_in*K, C_out) @ dY (C_out, N*O))."""
    xp = get_array_module(gy)
    d = gy.ndim - 2
    if not _use_raw(gy, d):
        return vectorized.conv_backward_input(gy, w, x_shape, stride, padding, dilation)
    kernel = tuple(w.shape[2:])
    w2 = xp.ascontiguousarray(w, dtype=gy.dtype).reshape(w.shape[0], -1)
    cols = xp.dot(w2.T, _to_rows(gy))  # (C_in*K, N*O)
    if _is_pointwise(kernel, stride, padding, dilation):
        return _from_rows(cols, x_shape[0], x_shape[2:])
    return col2im(cols, x_shape, kernel, stride, padding, dilation, tuple(gy.shape[2:]))


# ----------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------
def _pool_out(spatial, kernel, stride, padding):
    return output_shape(spatial, kernel, stride, tuple((p, p) for p in padding), (1,) * len(kernel))


def max_pool_forward(x, kernel, stride, padding):
    """-> (y, argmax int64); argmax is the flat index in the unpadded plane (see minicnn.kernels)."""
    xp = get_array_module(x)
    d = len(kernel)
    if not _use_raw(x, d):
        return vectorized.max_pool_forward(x, kernel, stride, padding)
    x = xp.ascontiguousarray(x)
    out = _pool_out(x.shape[2:], kernel, stride, padding)
    y = xp.empty(x.shape[:2] + out, dtype=x.dtype)
    argmax = xp.empty(y.shape, dtype=np.int64)
    rows = x.shape[0] * x.shape[1]
    _launch("minicnn_max_pool_fwd", x.dtype, rows, math.prod(out),
            (x, y, argmax, rows) + _geometry(x.shape[2:], out, kernel, stride, padding), long_args=(3,))
    return y, argmax


def max_pool_backward(gy, argmax, x_shape):
    """Each output adds its gradient to the cell it chose (an atomic scatter-add)."""
    xp = get_array_module(gy)
    d = len(x_shape) - 2
    if not _use_raw(gy, d):
        return vectorized.max_pool_backward(gy, argmax, x_shape)
    gy = xp.ascontiguousarray(gy)
    argmax = xp.ascontiguousarray(argmax, dtype=np.int64)
    gx = xp.zeros(tuple(x_shape), dtype=gy.dtype)
    rows, per_row = x_shape[0] * x_shape[1], math.prod(gy.shape[2:])
    _launch("minicnn_max_pool_bwd", gy.dtype, rows, per_row,
            (gy, argmax, gx, rows, per_row, math.prod(x_shape[2:])), long_args=(3,))
    return gx


def avg_pool_forward(x, kernel, stride, padding, count_include_pad=True):
    """One thread per output: mean over the window (divisor per count_include_pad)."""
    xp = get_array_module(x)
    d = len(kernel)
    if not _use_raw(x, d):
        return vectorized.avg_pool_forward(x, kernel, stride, padding, count_include_pad)
    x = xp.ascontiguousarray(x)
    out = _pool_out(x.shape[2:], kernel, stride, padding)
    y = xp.empty(x.shape[:2] + out, dtype=x.dtype)
    rows = x.shape[0] * x.shape[1]
    _launch("minicnn_avg_pool_fwd", x.dtype, rows, math.prod(out),
            (x, y, rows) + _geometry(x.shape[2:], out, kernel, stride, padding) + (int(bool(count_include_pad)),),
            long_args=(2,))
    return y


def avg_pool_backward(gy, x_shape, kernel, stride, padding, count_include_pad=True):
    """One thread per input cell: sum of gy / divisor over the windows containing it."""
    xp = get_array_module(gy)
    d = len(kernel)
    if not _use_raw(gy, d):
        return vectorized.avg_pool_backward(gy, x_shape, kernel, stride, padding, count_include_pad)
    gy = xp.ascontiguousarray(gy)
    gx = xp.empty(tuple(x_shape), dtype=gy.dtype)
    rows = x_shape[0] * x_shape[1]
    _launch("minicnn_avg_pool_bwd", gy.dtype, rows, math.prod(x_shape[2:]),
            (gy, gx, rows) + _geometry(x_shape[2:], gy.shape[2:], kernel, stride, padding)
            + (int(bool(count_include_pad)),), long_args=(2,))
    return gx
