"""A batch smaller than the thread count (one image on two threads, as in style transfer) runs
im2col + BLAS one sample at a time, its products split by rows across the threads
(:func:`minicnn.kernels.numba.im2col.whole_sample`); it must give the reference's numbers."""

import numpy as np
import pytest

from minicnn.kernels import numba as nb
from minicnn.kernels import reference as ref
from minicnn.kernels.numba import conv as nb_conv
from minicnn.kernels.numba import im2col as nb_im2col
from minicnn.kernels.numba import winograd as wn

CASES = [  # x shape, w shape, stride, padding, dilation
    ((1, 5, 9, 11), (7, 5, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((1, 6, 12, 10), (4, 6, 5, 3), (2, 1), ((2, 1), (0, 1)), (1, 2)),
    ((1, 3, 20), (5, 3, 4), (3,), ((1, 2),), (1,)),
    ((1, 2, 5, 6, 7), (3, 2, 3, 2, 3), (1, 2, 1), ((1, 0), (0, 1), (1, 1)), (1, 1, 2)),
]


@pytest.fixture
def two_threads_gemm():
    if nb.numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    saved = (nb.get_num_threads(), nb_conv.THIN_MAX_COUT, nb_conv.FLAT_MAX_COUT)
    nb.set_num_threads(2)
    nb_conv.THIN_MAX_COUT = nb_conv.FLAT_MAX_COUT = 0  # every pass on im2col + BLAS
    try:
        with wn.use_mode("off"):
            yield
    finally:
        nb.set_num_threads(saved[0])
        nb_conv.THIN_MAX_COUT, nb_conv.FLAT_MAX_COUT = saved[1:]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
def test_one_sample_on_two_threads_matches_the_reference(case, dtype, two_threads_gemm, monkeypatch):
    xs, ws, st, pad, dl = case
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    used = []
    real = nb_im2col.whole_sample
    monkeypatch.setattr(nb_im2col, "whole_sample", lambda *a: used.append(real(*a)) or used[-1])
    y = nb.conv_forward(x, w, st, pad, dl, bias=b)
    want = ref.conv_forward(x, w, st, pad, dl) + b.reshape((1, -1) + (1,) * (x.ndim - 2))
    tol = dict(rtol=1e-11, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(y, want, **tol)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = nb.conv_backward_input(gy, w, x.shape, st, pad, dl)
    np.testing.assert_allclose(gx, ref.conv_backward_input(gy, w, x.shape, st, pad, dl), **tol)
    assert used[:2] == [True, True]  # both passes took the one-sample path


def test_batches_of_at_least_the_thread_count_keep_whole_sample_tiles():
    assert nb_im2col.whole_sample(1, 4608, 256, 4, workers=2)
    assert not nb_im2col.whole_sample(2, 4608, 256, 4, workers=2)
    assert not nb_im2col.whole_sample(1, 4608, 256, 4, workers=1)
    assert not nb_im2col.whole_sample(1, 576 * 64, 128 * 128, 4, workers=2)  # 150 MB of im2col: bands


def test_weights_over_the_cache_take_whole_samples_not_bands():
    # 1,512,16x16 -> 512, k3: 4.7 MB of im2col per sample (over TILE_BYTES) and 9.4 MB of weights
    units, _ = nb_im2col.plan(2, 16, 16, 4608, 4, 1, c_out=512)
    assert units == [[(0, 1, 0, 16)], [(1, 1, 0, 16)]]
    units, _ = nb_im2col.plan(2, 16, 16, 4608, 4, 1, c_out=16)  # small weights: bands that fit the cache
    assert len(units[0]) > 1 and all(nr < 16 for _, _, _, nr in units[0])
