"""The thin direct forward (minicnn/kernels/numba/thin.py) and its SIMD vectors (simd.py).

The kernel is called directly, in both source layouts (rows: the input or its
padded copy; planes: shifted copies whose runs cross row ends), and through
the dispatch rule; every result is compared with the reference loops.
"""

import numpy as np
import pytest
from numba import njit

from minicnn.kernels import numba as nb
from minicnn.kernels import reference as ref
from minicnn.kernels.numba import conv as nb_conv
from minicnn.kernels.numba import shapes, simd, thin

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


@njit
def _copy_runs(src, starts, counts, dst):
    """dst gets src's runs through a vector: load_rows then store_rows (2 runs)."""
    v = simd.load_rows(src, starts, 0, counts)
    simd.store_rows(dst, starts, counts, simd.fma(2.0, v, simd.splat_like(1.0, v)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_simd_runs_read_and_write_exactly_their_cells(dtype):
    n = simd.lanes(np.dtype(dtype))
    src = np.arange(3 * n, dtype=dtype)
    for c0 in (0, 1, n - 1, n):
        for c1 in (0, 3, n):
            dst = np.full(3 * n, -7, dtype)
            starts = (2 * n - c0, 3 * n - c1)  # the second run ends at the array's last cell
            _copy_runs(src, starts, (c0, c1), dst)
            want = np.full(3 * n, -7, dtype)
            for s, c in zip(starts, (c0, c1)):
                want[s:s + c] = 2 * src[s:s + c] + 1  # fma(2, x, 1); nothing past a run's count
            np.testing.assert_array_equal(dst, want)


THIN_CASES = [  # x shape, w shape, stride, padding (lo, hi per axis), dilation
    ((3, 2, 17), (5, 2, 4), (1,), ((2, 1),), (2,)),  # 1D, asymmetric padding, dilation
    ((2, 3, 7, 9), (6, 3, 3, 2), (1, 1), ((0, 2), (1, 0)), (1, 2)),  # C_out < 8, dilation along W
    ((2, 1, 9, 8), (16, 1, 5, 5), (1, 1), ((0, 0), (0, 0)), (1, 1)),  # no padding: the input itself
    ((2, 3, 5, 37), (20, 3, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),  # 3 channel groups, 3 runs per row
    ((1, 2, 6, 5, 7), (9, 2, 3, 2, 3), (2, 1, 1), ((1, 0), (0, 1), (2, 2)), (1, 1, 2)),  # 3D, stride in D
    ((2, 1, 8, 8, 8), (4, 1, 5, 5, 5), (1, 1, 1), ((0, 0),) * 3, (1, 1, 1)),  # the CT layer, smaller
    ((5, 4, 5), (3, 4, 5), (1,), ((0, 0),), (1,)),  # one output per sample
]
LAYOUTS = {"rule": None, "rows": float("inf"), "planes": 0.0}  # PLANES_GAIN for each


def _thin(x, w, b, args, layout, monkeypatch):
    d = x.ndim - 2
    if LAYOUTS[layout] is not None:
        monkeypatch.setattr(thin, "PLANES_GAIN", LAYOUTS[layout])
    g = shapes.conv_geometry(x.shape, w.shape, *args)
    y5 = np.full((x.shape[0], w.shape[0]) + g[7], np.nan, x.dtype)  # a cell left unwritten stays NaN
    thin.forward(shapes.to5d(x, d), shapes.to5d(w, d), g, b, y5)
    return y5.reshape((x.shape[0], w.shape[0]) + g[7][3 - d:])


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation", THIN_CASES)
def test_thin_forward_matches_reference(monkeypatch, layout, dtype, x_shape, w_shape, stride, padding, dilation):
    rng = np.random.default_rng(sum(x_shape))
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    args = (stride, padding, dilation)
    y = _thin(x, w, b, args, layout, monkeypatch)
    y0 = _thin(x, w, None, args, layout, monkeypatch)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ref.conv_forward(x, w, *args, bias=b), **TOL[dtype])
    np.testing.assert_allclose(y0, ref.conv_forward(x, w, *args), **TOL[dtype])


def test_thin_layouts_are_the_ones_named():
    """The rule's choice on the benchmark layers: planes for the CT layer's 10-wide rows, rows for 32-wide ones."""
    for x_shape, w_shape, pad, shifts in (((4, 1, 14, 14, 14), (16, 1, 5, 5, 5), 0, (0, 1, 2, 3, 4)),
                                          ((2, 8, 32, 32, 32), (16, 8, 3, 3, 3), 1, (0,)),
                                          ((8, 3, 32, 32), (16, 3, 3, 3), 1, (0,)),
                                          ((64, 1, 1000), (16, 1, 5), 0, None)):
        d = len(x_shape) - 2
        g = shapes.conv_geometry(x_shape, w_shape, (1,) * d, ((pad, pad),) * d, (1,) * d)
        x5_shape = x_shape[:2] + (1,) * (3 - d) + x_shape[2:]
        got = thin._plan(x5_shape, g, 16, thin.PLANES_GAIN)[0]
        assert (got if got is None else tuple(got)) == shifts


@pytest.mark.parametrize("layout", ["rows", "planes"])
@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation", THIN_CASES)
def test_thin_forward_nan_reaches_exactly_the_windows_that_hold_it(monkeypatch, layout, x_shape, w_shape, stride,
                                                                  padding, dilation):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(x_shape)
    w = rng.uniform(0.5, 1.5, w_shape)  # no zero weight, so "sees the NaN" is "the window holds it"
    hit = np.zeros(x_shape)
    for flat_index in (0, x.size // 2, x.size - 1):
        x.flat[flat_index] = np.nan
        hit.flat[flat_index] = 1
    x.flat[x.size // 3] = np.inf
    args = (stride, padding, dilation)
    y = _thin(x, w, None, args, layout, monkeypatch)
    want = ref.conv_forward(hit, np.ones(w_shape), *args) > 0
    np.testing.assert_array_equal(np.isnan(y), want)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref.conv_forward(x, w, *args)))


@pytest.mark.parametrize("x_shape,w_shape,padding,stride,want", [
    ((4, 1, 14, 14, 14), (16, 1, 5, 5, 5), 0, 1, "thin"),  # the benchmark's CT layer
    ((2, 8, 32, 32, 32), (16, 8, 3, 3, 3), 1, 1, "thin"),  # the benchmark's 3D k3 layer
    ((8, 3, 32, 32), (16, 3, 3, 3), 1, 1, "thin"),  # F = 27
    ((8, 8, 32, 32), (64, 8, 3, 3), 1, 1, "thin"),  # 64 output channels
    ((8, 8, 32, 32), (65, 8, 3, 3), 1, 1, "gemm"),  # more: BLAS's square products catch up
    ((8, 8, 32, 32), (16, 8, 3, 3), 1, 2, "gemm"),  # stride 2 in H and W
])
def test_dispatch_sends_stride_1_forwards_with_few_channels_to_the_thin_kernel(x_shape, w_shape, padding, stride,
                                                                              want):
    d = len(x_shape) - 2
    g = shapes.conv_geometry(x_shape, w_shape, (stride,) * d, ((padding, padding),) * d, (1,) * d)
    assert nb_conv.method(x_shape[0], x_shape[1], w_shape[0], g, "forward") == want
    assert nb_conv.method(x_shape[0], x_shape[1], w_shape[0], g, "input") == "gemm"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thin_forward_same_result_for_any_thread_count(monkeypatch, dtype):
    # above SMALL_WORK, so the prange really splits the (n, block of runs) tasks
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 4, 12, 12)).astype(dtype)
    w = rng.standard_normal((14, 4, 3, 3)).astype(dtype)
    args = ((1, 1), ((1, 1), (2, 0)), (1, 1))
    saved = nb.get_num_threads()
    got = []
    try:
        for threads in (1, min(2, nb.numba.config.NUMBA_NUM_THREADS)):
            nb.set_num_threads(threads)
            got.append(_thin(x, w, None, args, "rule", monkeypatch))
    finally:
        nb.set_num_threads(saved)
    np.testing.assert_array_equal(got[0], got[1])  # each output is summed by one task, in one order
    np.testing.assert_allclose(got[1], ref.conv_forward(x, w, *args), **TOL[dtype])
