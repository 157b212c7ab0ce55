"""NumPy's BLAS (OpenBLAS): how many threads it uses, and a matrix product that keeps small ones on one.

The lowest layer, beside :mod:`minicnn.backend`.  minicnn's own kernels bring
their own threads (:mod:`minicnn.kernels.numba.threads`); NumPy's ``@`` brings
OpenBLAS's.  Two facts about OpenBLAS shape this module (measured on the
2-core development machine, issue 16):

* After a product that used more than one thread, OpenBLAS's helper threads
  keep spinning for at least 100 ms, waiting for the next product (their CPU
  time equals the wall time of a 100 ms sleep that follows).  Setting the
  thread count to 1 afterwards does not stop them.  A convolution that runs
  during that time shares its cores with a spinning thread: the 1,256,32x32
  input gradient took 11.1 ms right after a two-thread Gram matrix and 9.6 ms
  after a one-thread one.
* OpenBLAS already runs a product of fewer than ``4 * 65536`` multiply-adds on
  one thread.

So :func:`matmul`, which minicnn's matrix-product operations use (``@`` on
Tensors, ``linear``, the Gram matrices of style transfer), runs products
below :data:`PARALLEL_MACS` on one thread: their parallel speed-up (a Gram
matrix of 64 channels x 128x128 positions: about 0.5 ms) is smaller than what
the spinning takes from the work after them (the style-transfer step: 180 ms
with one-thread Gram matrices against 212 ms, median of 6 alternating steps).
Larger products, and every product of your own NumPy code, use the
configured count (:func:`minicnn.kernels.numba.set_num_threads`).

OpenBLAS is reached through ``threadpoolctl``; without a BLAS it can see,
everything here does nothing.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["matmul", "single_thread", "get_num_threads", "PARALLEL_MACS"]

PARALLEL_MACS = 10**9  # a product with fewer multiply-adds runs on one BLAS thread (see the module docstring)
_OPENBLAS_SERIAL_MACS = 4 * 65536  # below this OpenBLAS uses one thread by itself: nothing to set

_blas = {"libs": None}


def _libraries():
    """threadpoolctl's controllers of the BLAS libraries loaded now (NumPy's, SciPy's), looked up once."""
    if _blas["libs"] is None:
        from threadpoolctl import ThreadpoolController

        _blas["libs"] = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas["libs"]


class single_thread:
    """Context manager: BLAS uses one thread inside, its previous count after."""

    def __enter__(self):
        # only the libraries not at one thread already: each set costs about 5 us, a fifth
        # of a small convolution call
        self.saved = [(lib, n) for lib in _libraries() if (n := lib.get_num_threads()) != 1]
        for lib, _ in self.saved:
            lib.set_num_threads(1)

    def __exit__(self, *exc):
        for lib, n in self.saved:
            lib.set_num_threads(n)


def get_num_threads():
    """Threads of NumPy's BLAS, or ``None`` when threadpoolctl finds none."""
    libs = _libraries()
    return int(libs[0].get_num_threads()) if libs else None


def set_num_threads(n: int) -> None:
    """Every BLAS library threadpoolctl finds uses ``n`` threads (``n`` checked by the caller)."""
    for lib in _libraries():
        lib.set_num_threads(int(n))


def matmul(a, b):
    """``a @ b`` (NumPy's rules: ``(..., m, k) @ (..., k, n) -> (..., m, n)``, 1-d operands as vectors),
    on one BLAS thread when it has fewer than :data:`PARALLEL_MACS` multiply-adds.

    CuPy arrays and non-float products go to ``@`` unchanged."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.ndim == 0 or b.ndim == 0:
        return a @ b
    m = a.shape[-2] if a.ndim > 1 else 1
    k = a.shape[-1]
    n = b.shape[-1] if b.ndim > 1 else 1
    batch = math.prod(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    macs = m * n * k  # per product: OpenBLAS decides its threads product by product
    if macs < _OPENBLAS_SERIAL_MACS or batch * macs >= PARALLEL_MACS:
        return a @ b
    with single_thread():
        return a @ b
