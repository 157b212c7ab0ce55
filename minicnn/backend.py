"""Arrays and backends: the lowest layer of minicnn.

Two independent choices live here.

1. **The array module** (``xp``) is chosen by the *type of the array*: NumPy
   for ``numpy.ndarray``, CuPy for ``cupy.ndarray``.  Op code never writes
   ``np.exp``; it writes ``xp = get_array_module(x)`` and then ``xp.exp``, so
   the same line runs on the CPU and on a GPU (DeZero's ``cuda.get_array_module``
   idea, and CuPy's documented way to write CPU/GPU-generic code).

2. **The convolution/pooling kernels** for CPU arrays are chosen by name with
   :func:`set_backend`:

   ``"reference"``
       explicit loops over output positions, the way the course teaches
       ``conv_forward``/``pool_backward``.  Slow; the lessons quote it.
   ``"numpy"``
       vectorised NumPy (im2col/col2im, N-dimensional).
   ``"numba"``
       compiled Numba kernels (the default when Numba can compile them).

   CuPy arrays always use the CuPy kernels, whatever the CPU choice is.

Every kernel module exposes the same raw-array functions; see
:mod:`minicnn.kernels` for the contract.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Iterator
from types import ModuleType

import numpy as np

from .hints import ArrayLike

try:  # CuPy is optional: the CPU install never needs it.
    import cupy as _cupy
except Exception:  # ImportError, or a broken CUDA install raising at import
    _cupy = None

BACKENDS = ("reference", "numpy", "numba")
_KERNEL_MODULES = {
    "reference": "minicnn.kernels.reference",
    "numpy": "minicnn.kernels.numpy_im2col",
    "numba": "minicnn.kernels.numba",
    "cupy": "minicnn.kernels.cupy_gpu",
}
_state = {"backend": None}  # resolved lazily so importing minicnn stays fast
_loaded = {}


def get_array_module(*arrays: ArrayLike) -> ModuleType:
    """Return ``numpy`` or ``cupy``, whichever owns the given arrays.

    Takes raw arrays and Python scalars (which count as NumPy). This module sits
    below :class:`minicnn.Tensor`: pass ``t.data``, not the Tensor.
    """
    if _cupy is None:
        return np
    for a in arrays:
        if isinstance(a, _cupy.ndarray):
            return _cupy
    return np


def is_cupy_array(a) -> bool:
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def to_numpy(a) -> np.ndarray:
    """A raw array as a NumPy array: a CuPy array is copied to the host, a
    NumPy array is returned as it is (no copy), a scalar or list is converted.

    The one way minicnn copies from the GPU (for saving, plotting, hashing,
    comparing).  It takes raw arrays only: for a :class:`minicnn.Tensor` call
    ``t.numpy()``, or pass ``t.data``.
    """
    # is_cupy_array first: a CuPy stand-in in the tests subclasses numpy.ndarray
    return a.get() if is_cupy_array(a) else np.asarray(a)


def device_of(a) -> str:
    """``"cuda"`` for a CuPy array, else ``"cpu"``."""
    return "cuda" if is_cupy_array(a) else "cpu"


def _default_backend() -> str:
    try:
        importlib.import_module(_KERNEL_MODULES["numba"])
        return "numba"
    except Exception as exc:  # Numba missing or unable to compile here
        warnings.warn(f"minicnn: Numba kernels unavailable ({exc}); using the NumPy backend", RuntimeWarning,
                      stacklevel=2)
        return "numpy"


def get_backend() -> str:
    """Name of the CPU kernel backend in use: ``"reference"``, ``"numpy"`` or ``"numba"``."""
    if _state["backend"] is None:
        _state["backend"] = _default_backend()
    return _state["backend"]


def set_backend(name: str) -> None:
    """Choose the CPU kernels for convolution and pooling.

    ``name`` is one of ``"reference"`` (readable loops), ``"numpy"``
    (vectorised im2col) or ``"numba"`` (compiled, the default).
    """
    if name not in BACKENDS:
        raise ValueError(f"set_backend: name must be one of {BACKENDS}, got {name!r}")
    if name == "numba":
        try:
            _kernel_module("numba")
        except Exception as exc:
            warnings.warn(f"minicnn: Numba kernels unavailable ({exc}); using the NumPy backend", RuntimeWarning,
                          stacklevel=2)
            name = "numpy"
    _state["backend"] = name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager: ``with use_backend("reference"): ...`` then restore."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        _state["backend"] = previous


def _kernel_module(name: str):
    if name not in _loaded:
        _loaded[name] = importlib.import_module(_KERNEL_MODULES[name])
    return _loaded[name]


def kernels_for(x):
    """The kernel module that should process array ``x`` (CuPy kernels for CuPy arrays)."""
    if is_cupy_array(x):
        return _kernel_module("cupy")
    return _kernel_module(get_backend())
