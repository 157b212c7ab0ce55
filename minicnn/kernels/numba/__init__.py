"""Numba-compiled CPU kernels: the fast path for convolution and pooling (the ``"numba"`` backend).

Same contract as :mod:`minicnn.kernels.reference` (see :mod:`minicnn.kernels`).
The package, one concept per module:

* :mod:`.shapes`   -- 1D and 2D calls become 3D views, so each kernel compiles once per dtype
* :mod:`.loops`    -- the small inlined SIMD loops (axpy, dot products)
* :mod:`.conv`     -- the dispatch rule (Winograd, thin, flat direct, im2col + BLAS) and the three passes
* :mod:`.thin`     -- register-tiled direct forward for stride-1 layers with few output channels
* :mod:`.simd`     -- explicit SIMD vectors (masked loads and stores, fma) for thin's register tile
* :mod:`.flat`     -- flat direct convolution for stride 1 and narrow layers
* :mod:`.im2col`   -- im2col + BLAS in cache-sized tiles, for wide layers and strides
* :mod:`.winograd` -- Winograd F(2x2), F(3x3), F(4x4) for 3x3 stride-1 layers (tile and filter
  transforms in :mod:`.winograd_tiles`, :mod:`.winograd_output` and :mod:`.winograd_filters`; :mod:`.shared_products`
  evens out the threads' products; :mod:`.polyphase` runs stride-2 5x5 layers through it)
* :mod:`.pooling`, :mod:`.pool2x2` -- max and average pooling
* :mod:`.activation` -- ReLU forward and backward in one pass each
* :mod:`.scratch`  -- per-thread reusable tiles (no fresh pages per call)
* :mod:`.threads`  -- thread counts, OpenMP wait policy, BLAS held to one thread

If Numba fails to compile (a broken LLVM, an unsupported platform), the first
call warns once and every call from then on uses the NumPy kernels
(:mod:`minicnn.kernels.numpy_im2col`).
"""

from __future__ import annotations

import warnings

import numba
import numpy as np

from . import activation, conv, flat, pooling, winograd
from .shapes import conv_geometry, to5d
from .threads import ensure_runtime, get_blas_num_threads, get_num_threads, runtime_settings, set_num_threads

__all__ = ["conv_forward", "conv_backward_input", "conv_backward_weight", "max_pool_forward", "max_pool_backward",
           "avg_pool_forward", "avg_pool_backward", "relu", "relu_backward", "warm_up", "set_num_threads",
           "get_num_threads", "get_blas_num_threads", "runtime_settings"]

_fallback = {"module": None}


def _compile_errors():
    errors = [numba.core.errors.NumbaError]
    try:  # LLVM failures surface as llvmlite errors
        import llvmlite.binding
    except ImportError:
        return tuple(errors)
    errors.append(getattr(llvmlite.binding, "LLVMException", RuntimeError))
    return tuple(errors)


_COMPILE_ERRORS = _compile_errors()


def _guarded(impl, name):
    """Run the Numba implementation; if Numba cannot compile it, warn once and
    use the NumPy kernel for this and every later call."""

    def kernel(*args, **kwargs):
        if _fallback["module"] is None:
            ensure_runtime()
            try:
                return impl(*args, **kwargs)
            except _COMPILE_ERRORS as exc:
                from .. import numpy_im2col

                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                warnings.warn(f"minicnn: Numba could not compile {name} ({first_line}); "
                              "using the NumPy kernels from now on", RuntimeWarning, stacklevel=3)
                _fallback["module"] = numpy_im2col
        return getattr(_fallback["module"], name)(*args, **kwargs)

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = impl.__doc__ or f"{name}: see the contract in minicnn.kernels."
    return kernel


conv_forward = _guarded(conv.conv_forward, "conv_forward")
conv_backward_input = _guarded(conv.conv_backward_input, "conv_backward_input")
conv_backward_weight = _guarded(conv.conv_backward_weight, "conv_backward_weight")
max_pool_forward = _guarded(pooling.max_pool_forward, "max_pool_forward")
max_pool_backward = _guarded(pooling.max_pool_backward, "max_pool_backward")
avg_pool_forward = _guarded(pooling.avg_pool_forward, "avg_pool_forward")
avg_pool_backward = _guarded(pooling.avg_pool_backward, "avg_pool_backward")
relu = _guarded(activation.relu, "relu")  # optional in the contract (minicnn.functional uses them when present)
relu_backward = _guarded(activation.relu_backward, "relu_backward")


def warm_up(dtypes=(np.float32, np.float64)):
    """Compile (or load from Numba's cache) every kernel for ``dtypes``; return the seconds taken.

    Call it once before starting parallel test workers or a timed run, so none
    of them pays the JIT (about 15-25 s per dtype on a cold cache, 2 cores).
    """
    import time

    t0 = time.perf_counter()
    one = ((1, 1), (1, 1))
    for dtype in dtypes:
        x = np.ones((2, 8, 12, 12), dtype)
        for w_shape, stride in (((2, 8, 3, 3), (1, 1)), ((2, 1, 3, 3), (2, 2)), ((20, 8, 3, 3), (1, 1))):
            xs = x[:, :w_shape[1]]
            w = np.ones(w_shape, dtype)  # thin forward, flat weight gradient (F = 72); im2col + BLAS
            y = conv_forward(xs, w, stride, one, (1, 1))
            conv_backward_input(y, w, xs.shape, stride, one, (1, 1))
            conv_backward_weight(y, xs, w.shape, stride, one, (1, 1))
        w = np.ones((2, 8, 3, 3), dtype)  # the flat forward, which the rule now leaves to the thin kernel
        g = conv_geometry(x.shape, w.shape, (1, 1), one, (1, 1))
        flat.forward(to5d(x, 2), to5d(w, 2), g, None, np.empty((2, 2, 1, 12, 12), dtype))
        y, arg = max_pool_forward(x, (2, 2), (2, 2), (0, 0))  # the 2x2 fast path, then the general kernel
        max_pool_backward(y, arg, x.shape)
        max_pool_forward(x, (3, 3), (2, 2), (1, 1))
        avg_pool_backward(avg_pool_forward(x, (2, 2), (2, 2), (0, 0)), x.shape, (2, 2), (2, 2), (0, 0))
        relu_backward(x, relu(x))
    winograd.warm_up(dtypes)
    return time.perf_counter() - t0

