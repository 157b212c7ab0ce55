"""Threads of the Numba kernels: how many, how they wait, and how BLAS stays out of their way.

Three pools of threads could run minicnn's work: Numba's OpenMP team (the
``prange`` loops), the Python worker threads of the im2col + BLAS path
(:func:`run_jobs`), and OpenBLAS's own threads inside NumPy's ``@``.  They
take turns, never run at once:

* :func:`set_num_threads` sets the count of the first two, and OpenBLAS's
  count for the rest of the program (your own NumPy code).
* While minicnn's tiles run, OpenBLAS is held to one thread
  (:class:`blas_single_thread`): the parallelism is across tiles, and on a
  busy machine OpenBLAS's spinning threads competing with ours turned a
  0.2 ms product into 100 ms.  OpenBLAS is reached through ``threadpoolctl``.

The runtime settings (:func:`ensure_runtime`, applied before the first kernel
runs, never at import):

* Numba's OpenMP team starts with a short spin: an idle thread spins
  ``GOMP_SPINCOUNT = 10000`` times (about 0.5 ms) waiting for the next
  parallel region, then sleeps (``KMP_BLOCKTIME = 1`` ms for Intel's and
  LLVM's OpenMP).  GNU OpenMP's default spins 300,000 times (about 15 ms), and
  on a machine whose cores are busy with other work a spinning or descheduled
  team member turned 0.2 ms kernels into 30 ms ones; sleeping at once
  (``OMP_WAIT_POLICY=PASSIVE``, minicnn's setting until issue 16's fifth round)
  made every region wake its threads, 20-50 us on this VM: a short spin keeps
  them awake across the kernels of one layer and the layers of one step
  (8,3,32x32 conv forward 0.17 -> 0.12 ms, the CT layer's 0.20 -> 0.18, on two
  threads, medians of 4 alternating runs; 8,32,64x64 k5 s2 unchanged).  The
  variables are set only while Numba loads its OpenMP runtime (other libraries
  keep theirs) and never when you set ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``
  or ``KMP_BLOCKTIME`` yourself.
* ``numba.set_parallel_chunksize(1)`` in each thread that calls a kernel:
  ``prange`` iterations are handed out one at a time (our tasks are coarse), so
  a core slowed by other programs is given less work instead of stalling all.

:func:`runtime_settings` reports all of these (the benchmark records them).
"""

from __future__ import annotations

import itertools
import os
import threading

import numba
import numpy as np

from ... import blas

SMALL_WORK = 100_000  # multiply-adds (or cells) below which a kernel runs on the calling thread only
CHUNK_SIZE = 1  # prange iterations handed out at a time

_runtime = {"started": False, "wait_policy": None}
_per_thread = threading.local()


SPIN = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1"}  # idle OpenMP threads: spin ~0.5 ms, then sleep


def ensure_runtime():
    """Start Numba's OpenMP team with a short spin of idle threads, once, and set this thread's chunk size."""
    if not _runtime["started"]:
        _runtime["started"] = True
        user = {k: os.environ[k] for k in ("OMP_WAIT_POLICY", *SPIN) if k in os.environ}
        spin = f"spin GOMP_SPINCOUNT={SPIN['GOMP_SPINCOUNT']} (about 0.5 ms; KMP_BLOCKTIME={SPIN['KMP_BLOCKTIME']} ms)"
        _runtime["wait_policy"] = ", ".join(f"{k}={v}" for k, v in user.items()) + " (yours)" if user else \
            spin + ", then sleep"
        if not user:
            os.environ.update(SPIN)
            try:
                from numba.np.ufunc import parallel

                parallel._launch_threads()
            except (ImportError, AttributeError):  # a Numba without this hook: keep its default
                _runtime["wait_policy"] = "Numba's default"
            finally:
                for k in SPIN:
                    del os.environ[k]
    if not getattr(_per_thread, "chunked", False):
        numba.set_parallel_chunksize(CHUNK_SIZE)
        _per_thread.chunked = True


def runtime_settings() -> dict:
    """What :func:`ensure_runtime` set, and the thread counts now (for reports)."""
    ensure_runtime()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        layer = "not started"
    return {"omp_wait_policy": _runtime["wait_policy"], "parallel_chunksize": numba.get_parallel_chunksize(),
            "numba_threads": numba.get_num_threads(), "threading_layer": layer,
            "blas_threads": get_blas_num_threads()}


# ----------------------------------------------------------------------------
# OpenBLAS, through threadpoolctl (minicnn.blas)
# ----------------------------------------------------------------------------
_blas_libraries = blas._libraries
blas_single_thread = blas.single_thread
get_blas_num_threads = blas.get_num_threads


# ----------------------------------------------------------------------------
# Thread counts
# ----------------------------------------------------------------------------
def set_num_threads(n: int) -> None:
    """Use ``n`` threads for the compiled loops (Numba) and for BLAS (NumPy's OpenBLAS).

    ``n`` may not exceed ``NUMBA_NUM_THREADS`` (set before Python starts; by
    default the number of cores).  The two pools run one after the other,
    never at the same time, so ``n = number of cores`` does not oversubscribe.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"set_num_threads: n={n} exceeds NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS} "
                         "(set that environment variable before starting Python to allow more)")
    ensure_runtime()
    numba.set_num_threads(int(n))
    blas.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the compiled loops use (``numba.get_num_threads()``)."""
    return numba.get_num_threads()


class threads_for:
    """Context manager: one Numba thread when ``work`` is small (waking a sleeping
    thread costs 10-20 us, more than such a kernel runs), else the configured count."""

    def __init__(self, work):
        self.small = work < SMALL_WORK

    def __enter__(self):
        if self.small:
            self.saved = numba.get_num_threads()
            numba.set_num_threads(1)

    def __exit__(self, *exc):
        if self.small:
            numba.set_num_threads(self.saved)


# ----------------------------------------------------------------------------
# Python worker threads for the tiles of the im2col + BLAS and Winograd paths
# ----------------------------------------------------------------------------
_pool = {"executor": None, "workers": 0}
if hasattr(os, "register_at_fork"):  # a forked child has no pool threads: make it start its own
    os.register_at_fork(after_in_child=lambda: _pool.update(executor=None, workers=0))


def run_jobs(fn, units, work=None):
    """``[fn(unit) for unit in units]``, spread over ``get_num_threads()`` threads (the caller is one),
    which pull units from a shared counter, so a thread slowed by other load is simply given less.
    The results come back in the order of ``units`` whichever thread ran them, so a caller that
    adds them up gets the same rounding every time (gradients are reproducible bit for bit).
    On the calling thread alone when ``work`` (multiply-adds) is below SMALL_WORK: handing a
    unit to a sleeping thread costs more than such a call runs.

    BLAS is held to one thread meanwhile (see the module docstring).
    """
    workers = 1 if work is not None and work < SMALL_WORK else min(get_num_threads(), len(units))
    with blas_single_thread():
        if workers <= 1:
            return [fn(u) for u in units]
        if _pool["executor"] is None or _pool["workers"] < workers - 1:
            from concurrent.futures import ThreadPoolExecutor

            if _pool["executor"] is not None:
                _pool["executor"].shutdown(wait=False)
            _pool["executor"] = ThreadPoolExecutor(max_workers=workers - 1, thread_name_prefix="minicnn-conv")
            _pool["workers"] = workers - 1
        counter = itertools.count()  # next() on it is atomic under the GIL

        results = [None] * len(units)

        def worker():
            for i in iter(lambda: next(counter), None):
                if i >= len(units):
                    return
                results[i] = fn(units[i])

        futures = [_pool["executor"].submit(worker) for _ in range(workers - 1)]
        worker()
        for f in futures:
            f.result()
        return results
