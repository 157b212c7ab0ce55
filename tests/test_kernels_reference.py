"""Raw-array kernels: the readable reference loops against hand-computed values,
against the adjoint identities of a linear map, and against the vectorised
NumPy kernels on the same hypothesis-drawn geometries (1D/2D/3D, stride,
(lo, hi) padding, dilation, float32 and float64)."""

import numpy as np
import pytest
from conv_cases import conv_cases, pool_cases
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.kernels import numpy_im2col as V
from minicnn.kernels import reference as R


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def _conv_arrays(c, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c["batch"], c["c_in"]) + c["spatial"]).astype(dtype)
    w = rng.standard_normal((c["c_out"], c["c_in"]) + c["kernel"]).astype(dtype)
    return x, w


def _geom(c):
    return c["stride"], c["padding"], c["dilation"]


# ---------------------------------------------------------------- hand-made values
def test_conv1d_hand_computed():
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    w = np.array([[[1.0, 0.0, -1.0]]])
    # Cross-correlation: y[o] = x[o] - x[o + 2].
    np.testing.assert_array_equal(R.conv_forward(x, w, (1,), ((0, 0),), (1,)), [[[-2.0, -2.0, -2.0]]])
    # Stride 2, one zero on each side: windows [0,1,2], [2,3,4], [4,5,0].
    np.testing.assert_array_equal(R.conv_forward(x, w, (2,), ((1, 1),), (1,)), [[[-2.0, -2.0, 4.0]]])
    # Dilation 2: taps x[o], x[o + 4] -> only o = 0 fits.
    np.testing.assert_array_equal(R.conv_forward(x, w, (1,), ((0, 0),), (2,)), [[[-4.0]]])


def test_conv2d_hand_computed_backward():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    y = R.conv_forward(x, w, (1, 1), ((0, 0), (0, 0)), (1, 1))
    np.testing.assert_array_equal(y[0, 0], [[8.0, 12.0], [20.0, 24.0]])
    gy = np.ones_like(y)
    # Every input cell receives one gradient per window containing it.
    gx = R.conv_backward_input(gy, w, x.shape, (1, 1), ((0, 0), (0, 0)), (1, 1))
    np.testing.assert_array_equal(gx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    gw = R.conv_backward_weight(gy, x, w.shape, (1, 1), ((0, 0), (0, 0)), (1, 1))
    np.testing.assert_array_equal(gw[0, 0], [[8.0, 12.0], [20.0, 24.0]])


def test_pools_hand_computed():
    x = np.array([[[1.0, 3.0, 2.0, 5.0, 4.0, 0.0]]])
    y, idx = R.max_pool_forward(x, (2,), (2,), (0,))
    np.testing.assert_array_equal(y, [[[3.0, 5.0, 4.0]]])
    np.testing.assert_array_equal(idx, [[[1, 3, 4]]])
    np.testing.assert_array_equal(R.max_pool_backward(np.ones((1, 1, 3)), idx, x.shape), [[[0, 1, 0, 1, 1, 0]]])
    np.testing.assert_array_equal(R.avg_pool_forward(x, (2,), (2,), (0,)), [[[2.0, 3.5, 2.0]]])
    # Padding 1 with count_include_pad: the first window is [0, 1] -> 0.5.
    np.testing.assert_array_equal(R.avg_pool_forward(x, (2,), (2,), (1,))[0, 0, 0], 0.5)
    np.testing.assert_array_equal(R.avg_pool_forward(x, (2,), (2,), (1,), False)[0, 0, 0], 1.0)


def test_output_size_is_the_course_formula():
    for n, f, p, s in [(14, 5, 0, 1), (10, 5, 0, 1), (64, 4, 0, 2), (7, 3, 1, 2), (5, 5, 0, 3)]:
        assert R.output_size(n, f, s, p, p) == (n + 2 * p - f) // s + 1
    assert R.output_size(14, 5) == 10 and R.output_size(64, 4, stride=2) == 31
    assert R.output_size(7, 3, dilation=3) == 1  # a 3-tap filter dilated by 3 spans 7 cells


# ---------------------------------------------------------------- reference == vectorised
@settings(max_examples=60, deadline=None)
@given(c=conv_cases(), dtype=st.sampled_from([np.float32, np.float64]))
def test_conv_reference_equals_vectorized(c, dtype):
    x, w = _conv_arrays(c, dtype)
    geom = _geom(c)
    y = R.conv_forward(x, w, *geom)
    yv = V.conv_forward(x, w, *geom)
    assert y.dtype == yv.dtype == dtype
    np.testing.assert_allclose(yv, y, **_tol(dtype))
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    gx = R.conv_backward_input(gy, w, x.shape, *geom)
    gw = R.conv_backward_weight(gy, x, w.shape, *geom)
    assert gx.shape == x.shape and gw.shape == w.shape
    np.testing.assert_allclose(V.conv_backward_input(gy, w, x.shape, *geom), gx, **_tol(dtype))
    np.testing.assert_allclose(V.conv_backward_weight(gy, x, w.shape, *geom), gw, **_tol(dtype))


@settings(max_examples=60, deadline=None)
@given(c=conv_cases())
def test_conv_backward_is_the_adjoint(c):
    """The convolution is linear in x and in w, so for any gy
    <conv(x, w), gy> = <x, backward_input(gy)> = <w, backward_weight(gy)>."""
    x, w = _conv_arrays(c, np.float64)
    geom = _geom(c)
    for K in (R, V):
        y = K.conv_forward(x, w, *geom)
        gy = np.random.default_rng(2).standard_normal(y.shape)
        inner = np.vdot(y, gy)
        gx, gw = K.conv_backward_input(gy, w, x.shape, *geom), K.conv_backward_weight(gy, x, w.shape, *geom)
        np.testing.assert_allclose(np.vdot(x, gx), inner, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(np.vdot(w, gw), inner, rtol=1e-10, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(c=pool_cases(), dtype=st.sampled_from([np.float32, np.float64]), cip=st.booleans(), ties=st.booleans())
def test_pools_reference_equal_vectorized(c, dtype, cip, ties):
    rng = np.random.default_rng(3)
    shape = (c["batch"], c["channels"]) + c["spatial"]
    # ties=True: few distinct values, so most windows hold repeated maxima.
    x = (rng.integers(0, 3, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    geom = (c["kernel"], c["stride"], c["padding"])
    y, idx = R.max_pool_forward(x, *geom)
    yv, idxv = V.max_pool_forward(x, *geom)
    assert yv.dtype == dtype and idxv.dtype == np.int64
    np.testing.assert_array_equal(yv, y)
    np.testing.assert_array_equal(idxv, idx)
    # The recorded index really holds the maximum.
    picked = np.take_along_axis(x.reshape(shape[:2] + (-1,)), idx.reshape(shape[:2] + (-1,)), 2)
    np.testing.assert_array_equal(picked.reshape(y.shape), y)
    gy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(V.max_pool_backward(gy, idx, shape), R.max_pool_backward(gy, idx, shape), **_tol(dtype))

    a = R.avg_pool_forward(x, *geom, cip)
    np.testing.assert_allclose(V.avg_pool_forward(x, *geom, cip), a, **_tol(dtype))
    ga = R.avg_pool_backward(gy, shape, *geom, cip)
    np.testing.assert_allclose(V.avg_pool_backward(gy, shape, *geom, cip), ga, **_tol(dtype))
    assert ga.shape == shape and ga.dtype == dtype


# ---------------------------------------------------------------- details of the contract
@pytest.mark.parametrize("K", [R, V], ids=["reference", "vectorized"])
def test_max_pool_tie_goes_to_first_in_row_major_order(K):
    x = np.zeros((1, 1, 2, 4))
    x[0, 0] = [[1, 7, 7, 0], [7, 7, 2, 7]]
    y, idx = K.max_pool_forward(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y[0, 0], [[7, 7]])
    np.testing.assert_array_equal(idx[0, 0], [[1, 2]])  # (0, 1) and (0, 2): first row wins
    gx = K.max_pool_backward(np.array([[[[10.0, 20.0]]]]), idx, x.shape)
    np.testing.assert_array_equal(gx[0, 0], [[0, 10, 20, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("K", [R, V], ids=["reference", "vectorized"])
def test_max_pool_never_picks_padding(K):
    x = np.full((1, 1, 3), -np.inf)
    y, idx = K.max_pool_forward(x, (3,), (1,), (1,))
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(idx[0, 0], [0, 0, 1])  # first real cell of each window


@pytest.mark.parametrize("K", [R, V], ids=["reference", "vectorized"])
def test_max_pool_overlapping_windows_accumulate(K):
    x = np.array([[[0.0, 9.0, 1.0, 2.0]]])
    y, idx = K.max_pool_forward(x, (2,), (1,), (0,))
    np.testing.assert_array_equal(idx[0, 0], [1, 1, 3])
    gx = K.max_pool_backward(np.array([[[1.0, 2.0, 4.0]]]), idx, x.shape)
    np.testing.assert_array_equal(gx[0, 0], [0.0, 3.0, 0.0, 4.0])


def test_vectorized_accepts_non_contiguous_arrays():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 3, 9))[:, :, :, ::2].transpose(0, 2, 1, 3)  # (2, 3, 5, 5), strided
    w = rng.standard_normal((3, 4, 3, 2)).transpose(1, 0, 2, 3)  # (4, 3, 3, 2)
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    geom = ((2, 1), ((1, 0), (0, 2)), (1, 2))
    y = V.conv_forward(x, w, *geom)
    np.testing.assert_allclose(y, R.conv_forward(x.copy(), w.copy(), *geom), rtol=1e-12)
    gy = rng.standard_normal(y.shape)
    gy_nc = np.asfortranarray(gy)
    np.testing.assert_allclose(V.conv_backward_input(gy_nc, w, x.shape, *geom),
                               R.conv_backward_input(gy, w.copy(), x.shape, *geom), rtol=1e-12)
    np.testing.assert_allclose(V.conv_backward_weight(gy_nc, x, w.shape, *geom),
                               R.conv_backward_weight(gy, x.copy(), w.shape, *geom), rtol=1e-12)
    yv, iv = V.max_pool_forward(x, (2, 2), (1, 2), (1, 0))
    yr, ir = R.max_pool_forward(x.copy(), (2, 2), (1, 2), (1, 0))
    np.testing.assert_array_equal(yv, yr)
    np.testing.assert_array_equal(iv, ir)


def test_kernels_keep_float32():
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    geom = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    for K in (R, V):
        y = K.conv_forward(x, w, *geom)
        assert y.dtype == np.float32
        assert K.conv_backward_input(y, w, x.shape, *geom).dtype == np.float32
        assert K.conv_backward_weight(y, x, w.shape, *geom).dtype == np.float32
        assert K.max_pool_forward(x, (2, 2), (2, 2), (1, 1))[0].dtype == np.float32
        assert K.avg_pool_forward(x, (2, 2), (2, 2), (1, 1), False).dtype == np.float32
