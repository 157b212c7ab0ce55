"""A CPU stand-in for CuPy, to run the ``cuda`` half of tests/test_gpu.py without a GPU.

"Device" arrays are a NumPy subclass, :class:`ndarray`, that behaves like
``cupy.ndarray`` where it matters for finding device bugs:

* mixing one with a plain ``numpy.ndarray`` in an operation raises
  ``TypeError`` (as CuPy does), so code that builds a NumPy array where it
  should have used ``xp`` fails here instead of on the GPU;
* ``.data`` is not an array (CuPy's is a device pointer), ``.get()`` copies to
  the host, reductions return 0-d arrays rather than scalars;
* ``RawModule`` runs the CUDA kernels through the CPU simulation of
  tests/gpu_sim.py.

What it cannot catch: CuPy functions that NumPy has and CuPy lacks, and
NumPy-only APIs that accept the subclass (``isinstance(a, np.ndarray)`` is
true here, false on a GPU).  The real check is ``pytest -m gpu`` on a GPU.
"""

from __future__ import annotations

import re
import types

import gpu_sim
import numpy as np


class _MemoryPointer:
    """What ``cupy.ndarray.data`` returns: a pointer, not an array."""


def _base(a):
    if isinstance(a, ndarray):
        return a.view(np.ndarray)
    if isinstance(a, (list, tuple)):
        return type(a)(_base(x) for x in a)
    return a


def _wrap(r):
    if type(r) is np.ndarray:
        return r.view(ndarray)
    if isinstance(r, np.generic) and not isinstance(r, (np.str_, np.bytes_)):
        return np.asarray(r).view(ndarray)  # CuPy reductions give 0-d device arrays
    if isinstance(r, tuple):
        return tuple(_wrap(x) for x in r)
    if isinstance(r, list):
        return [_wrap(x) for x in r]
    return r


def _check(args, what):
    for a in args:
        if type(a) is np.ndarray:
            raise TypeError(f"fake cupy: {what} got a NumPy array of shape {a.shape} among device arrays "
                            "(CuPy raises 'Unsupported type <class numpy.ndarray>')")
        if isinstance(a, (list, tuple)):
            _check(a, what)


class ndarray(np.ndarray):
    __array_priority__ = 100

    @property
    def data(self):
        return _MemoryPointer()

    def get(self):
        return np.array(self.view(np.ndarray))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _check(inputs, ufunc.__name__)
        out = kwargs.get("out")
        if out is not None:
            _check(out, ufunc.__name__)
            kwargs["out"] = tuple(_base(o) for o in out)
        result = getattr(ufunc, method)(*_base(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        _check(args, func.__name__)
        _check(tuple(kwargs.values()), func.__name__)
        return _wrap(func(*_base(args), **{k: _base(v) for k, v in kwargs.items()}))

    def __getitem__(self, index):
        return _wrap(super().__getitem__(index))

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        return _wrap(self.view(np.ndarray).astype(dtype, order=order, casting=casting, copy=copy))


def _host_ok(name):
    """Module functions that take host data (everything else refuses NumPy arrays)."""
    return name in ("asarray", "array")


def _module_function(name):
    f = getattr(np, name)
    if isinstance(f, type) or not callable(f):
        return f

    def call(*args, **kwargs):
        if not _host_ok(name):
            _check(args, f"cupy.{name}")
        return _wrap(f(*_base(args), **{k: _base(v) for k, v in kwargs.items()}))

    call.__name__ = name
    return call


class _RawModule:
    def __init__(self, code, options=(), **kwargs):
        m = re.search(r"typedef (float|double) real_t;", code)
        self.dtype = {"float": "float32", "double": "float64"}[m.group(1)]

    def get_function(self, name):
        return gpu_sim._function(name, self.dtype)


class _Device:
    id = 0

    def __init__(self, index=0):
        self.id = index

    def synchronize(self):
        pass


class _Pool:
    def free_all_blocks(self):
        pass


def make_module():
    """A fresh module object to put in ``sys.modules["cupy"]``."""
    mod = types.ModuleType("cupy")
    mod.__getattr__ = _module_function
    mod.ndarray = ndarray
    mod.__version__ = "fake"

    def asarray(a, dtype=None):
        if isinstance(a, ndarray):
            return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
        return np.array(_base(a), dtype=dtype).view(ndarray)

    mod.asarray = asarray
    mod.asnumpy = lambda a: a.get() if isinstance(a, ndarray) else np.asarray(a)
    mod.RawModule = _RawModule
    mod.get_default_memory_pool = lambda: _Pool()
    as_strided = np.lib.stride_tricks.as_strided
    mod.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
        as_strided=lambda x, shape=None, strides=None: as_strided(_base(x), shape, strides).view(ndarray)))
    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1, getDeviceProperties=lambda i: {"name": b"fake GPU (NumPy on the CPU)"},
        runtimeGetVersion=lambda: 0, driverGetVersion=lambda: 0)
    mod.cuda = types.SimpleNamespace(runtime=runtime, Device=_Device)
    return mod


def install(monkeypatch):
    """Make ``import cupy`` and minicnn's device code use the fake for one test.

    Usage in any test file (needs a C++ compiler, see gpu_sim.compiler())::

        import fake_cupy
        def test_train_on_gpu(monkeypatch):
            fake_cupy.install(monkeypatch)
            model.to("cuda") ...
    """
    import sys

    from minicnn import backend, cuda
    from minicnn.kernels import cupy_gpu

    fake = make_module()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(backend, "_cupy", fake)
    for cache in (cupy_gpu._modules, cupy_gpu._ready, cuda._probe):
        cache.clear()
    # the caches must not outlive the fake: clear them again when the test ends
    monkeypatch.setattr(cupy_gpu, "_modules", {})
    monkeypatch.setattr(cupy_gpu, "_ready", set())
    monkeypatch.setattr(cuda, "_probe", {})
    return fake
