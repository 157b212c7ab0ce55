"""Where the time of the im2col + BLAS path goes (the measured reasons in RESULTS.md).

Run: ``python benchmarks/breakdown.py``.  For the three large conv2d cases and
the CT-scan conv3d it times, on ONE thread (thread CPU time, so other load on
the machine does not count), the parts of minicnn's Numba GEMM path:

* im2col of the whole batch (compiled), and the matrix products alone (OpenBLAS);
* the same forward through the NumPy-path kernel (``minicnn.kernels.numpy_im2col``)
  and through minicnn's dispatch (``minicnn fwd``: Winograd, the phases, or im2col).

PyTorch is not timed here: it must never share a process with Numba's
threads (the benchmark, ``python -m minicnn.bench``, runs it in its own).

The GEMM-only time is a floor for any im2col + BLAS implementation, the
NumPy path included: if BLAS is most of the NumPy path's time, no kernel that
calls the same BLAS can be 3x faster than it.
"""

from __future__ import annotations

import time

import numpy as np

from minicnn.bench.cases import CASES, case_inputs, conv_flops
from minicnn.kernels import numba as nb
from minicnn.kernels import numpy_im2col as vec
from minicnn.kernels.numba import im2col as nb_im2col
from minicnn.kernels.numba import shapes as nb_shapes
from minicnn.kernels.numba import threads as nb_threads

SELECTED = [CASES[1], CASES[2], CASES[3], CASES[6]]


def cpu_ms(fn, repeats=7):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best * 1e3


def main():
    nb.set_num_threads(1)
    print("| case | GEMM only ms | im2col ms | minicnn fwd ms | NumPy-path fwd ms | GEMM share of NumPy path "
          "| GEMM GFLOP/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case in SELECTED:
        label, _, d, n, c, spatial, o, k, s, p = case
        x, w, _ = case_inputs(case)
        args = ((s,) * d, ((p, p),) * d, (1,) * d)
        dd, st, dl, lo, hi, s5, k5, out = nb_shapes.conv_geometry(x.shape, w.shape, *args)
        filt, rows, ow = c * int(np.prod(k5)), out[0] * out[1], out[2]
        x5 = nb_shapes.to5d(x, d)
        col = np.empty((n, filt, rows * ow), np.float32)
        y = np.empty((n, o, rows * ow), np.float32)
        w2 = w.reshape(o, filt)
        t_im2col = cpu_ms(lambda: nb_im2col._im2col(x5, 0, n, 0, rows, *k5, st, dl, lo, out[1], ow, col))
        with nb_threads.blas_single_thread():
            t_gemm = cpu_ms(lambda: np.matmul(w2, col, out=y))
            t_vec = cpu_ms(lambda: vec.conv_forward(x, w, *args))
        t_ours = cpu_ms(lambda: nb.conv_forward(x, w, *args))
        print(f"| {label} | {t_gemm:.2f} | {t_im2col:.2f} | {t_ours:.2f} | {t_vec:.2f} | {t_gemm / t_vec:.0%} "
              f"| {conv_flops(case) / (t_gemm * 1e6):.0f} |")


if __name__ == "__main__":
    main()
