"""Run the CUDA kernels of ``minicnn.kernels.cupy_source`` on the CPU.

``cupy_source.cpu_source`` turns the CUDA text into C++ for a grid of one
thread (the grid-stride loops then visit every element); g++ builds it into a
shared library, and :func:`simulated_gpu` swaps the kernel launcher of
``minicnn.kernels.cupy_gpu`` for a ctypes call.  The host code of cupy_gpu
(shape lifting, launch arguments, cuBLAS products through ``xp.matmul``)
then runs on NumPy arrays, so everything except CuPy itself is checked
without a GPU.

Each launch is also checked against the kernel's C signature: a pointer must
get an array of the right dtype, an ``int`` a 32-bit integer and a
``long long`` a 64-bit one (a mismatch would be undefined behaviour on a GPU
even where x86-64 calling conventions would hide it).
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from minicnn.kernels import cupy_gpu, cupy_source

_libs = {}
_TMP = Path(tempfile.mkdtemp(prefix="minicnn-gpu-sim-"))


def compiler():
    return shutil.which("g++") or shutil.which("c++")


def signatures():
    """kernel name -> list of C parameter types, parsed from the CUDA source."""
    text = cupy_source.cuda_source("float32")
    out = {}
    for name in cupy_source.KERNELS:
        m = re.search(rf"void {name}\((.*?)\)", text, re.S)
        params = [p.strip() for p in m.group(1).split(",")]
        out[name] = [re.sub(r"\s*\b\w+$", "", p).replace("__restrict__", "").strip() for p in params]
    return out


def _library(dtype_name):
    if dtype_name not in _libs:
        src = _TMP / f"kernels_{dtype_name}.cpp"
        lib = _TMP / f"kernels_{dtype_name}.so"
        src.write_text(cupy_source.cpu_source(dtype_name))
        subprocess.run([compiler(), "-O1", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True,
                       capture_output=True, text=True)
        _libs[dtype_name] = ctypes.CDLL(str(lib))
    return _libs[dtype_name]


_SIGS = {}


def _check_arg(kernel, i, ctype, arg, dtype_name):
    real = {"float32": "float", "float64": "double"}[dtype_name]
    if ctype.endswith("*"):
        base = ctype.replace("const", "").replace("*", "").strip()
        want = {"real_t": np.dtype(dtype_name), "long long": np.dtype(np.int64)}[base]
        assert isinstance(arg, np.ndarray), f"{kernel} arg {i}: {ctype} needs an array, got {type(arg)}"
        assert arg.dtype == want, f"{kernel} arg {i}: {ctype} (real_t={real}) got dtype {arg.dtype}"
        assert arg.flags.c_contiguous, f"{kernel} arg {i}: array must be C-contiguous"
        return ctypes.c_void_p(arg.ctypes.data)
    want = {"int": np.int32, "long long": np.int64}[ctype]
    assert type(arg) is want, f"{kernel} arg {i}: {ctype} got {type(arg).__name__}"
    return (ctypes.c_int if want is np.int32 else ctypes.c_longlong)(int(arg))


def _function(name, dtype_name):
    if not _SIGS:
        _SIGS.update(signatures())
    fn = getattr(_library(dtype_name), name)
    fn.restype = None
    sig = _SIGS[name]

    def launch(grid, block, args):
        assert len(grid) == 2 and all(1 <= g < 2**31 for g in grid) and grid[1] <= 65535, grid
        assert len(block) == 1 and 1 <= block[0] <= 1024, block
        assert len(args) == len(sig), f"{name}: {len(args)} arguments for {len(sig)} parameters"
        fn(*(_check_arg(name, i, t, a, dtype_name) for i, (t, a) in enumerate(zip(sig, args))))

    return launch


@contextlib.contextmanager
def simulated_gpu():
    """Within this block cupy_gpu's functions run their CUDA kernels on the CPU (NumPy arrays)."""
    saved_fn, saved_mode = cupy_gpu._function, cupy_gpu.get_mode()
    cupy_gpu._function = _function
    cupy_gpu.set_mode("raw")
    cupy_gpu._ready.clear()
    try:
        yield cupy_gpu
    finally:
        cupy_gpu._function = saved_fn
        cupy_gpu.set_mode(saved_mode)
        cupy_gpu._ready.clear()
