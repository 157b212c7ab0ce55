"""The 2x2 stride-2 max-pool fast path equals the general kernel and the reference loops, ties and NaN included."""

import numpy as np
import pytest

from minicnn.kernels import numba as nb
from minicnn.kernels import reference as ref
from minicnn.kernels.numba import pool2x2 as pp
from minicnn.kernels.numba import pooling as nb_pooling


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 8, 8), (3, 1, 2, 5)])
def test_equals_the_general_kernel_and_the_loops(dtype, shape):
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, size=shape).astype(dtype)  # small integers: many ties
    x.flat[::11] = np.nan
    x.flat[3::7] = np.inf
    x.flat[4::13] = -np.inf
    y, arg = nb.max_pool_forward(x, (2, 2), (2, 2), (0, 0))
    y_ref, arg_ref = ref.max_pool_forward(x, (2, 2), (2, 2), (0, 0))
    y5 = np.empty(y.shape[:2] + (1,) + y.shape[2:], dtype)
    arg5 = np.empty(y5.shape, np.int64)
    nb_pooling._maxpool_fwd(x[:, :, None], (1, 2, 2), (1, 2, 2), (0, 0, 0), y5, arg5)
    for want_y, want_arg in ((y_ref, arg_ref), (y5[:, :, 0], arg5[:, :, 0])):
        np.testing.assert_array_equal(y, want_y)  # NaN positions must match too
        np.testing.assert_array_equal(arg, want_arg)


def test_used_only_for_2x2_stride_2_without_padding(monkeypatch):
    calls = []
    real = pp.max_pool2x2_forward
    monkeypatch.setattr(pp, "max_pool2x2_forward", lambda *a: calls.append(1) or real(*a))
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    nb.max_pool_forward(x, (2, 2), (2, 2), (0, 0))
    nb.max_pool_forward(x, (2, 2), (1, 1), (0, 0))
    nb.max_pool_forward(x, (2, 2), (2, 2), (1, 1))
    nb.max_pool_forward(x, (3, 3), (2, 2), (0, 0))
    assert calls == [1]
    assert pp.applies((2, 2, 6, 6), (2, 2), (2, 2), (0, 0)) and not pp.applies((2, 2, 6), (2,), (2,), (0,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 8, 8), (3, 1, 2, 5)])
def test_average_pool_equals_the_general_kernel_and_the_loops(dtype, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::17] = np.nan
    y = nb.avg_pool_forward(x, (2, 2), (2, 2), (0, 0))
    y5 = np.empty(y.shape[:2] + (1,) + y.shape[2:], dtype)
    nb_pooling._avgpool(x[:, :, None], (1, 2, 2), (1, 2, 2), (0, 0, 0), True, dtype(0), y5, False)
    np.testing.assert_array_equal(y, y5[:, :, 0])
    np.testing.assert_allclose(y, ref.avg_pool_forward(x, (2, 2), (2, 2), (0, 0)), rtol=1e-6)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = nb.avg_pool_backward(gy, x.shape, (2, 2), (2, 2), (0, 0))
    gx5 = np.full(x.shape[:2] + (1,) + x.shape[2:], 7, dtype)
    nb_pooling._avgpool(gx5, (1, 2, 2), (1, 2, 2), (0, 0, 0), True, dtype(0), gy[:, :, None], True)
    np.testing.assert_array_equal(gx, gx5[:, :, 0])  # the odd row/column left over: 0, never stale memory
    np.testing.assert_allclose(gx, ref.avg_pool_backward(gy, x.shape, (2, 2), (2, 2), (0, 0)), rtol=1e-6)


def test_average_pool_fast_path_used_only_for_2x2_stride_2_without_padding(monkeypatch):
    calls = []
    for name in ("avg_pool2x2_forward", "avg_pool2x2_backward"):
        real = getattr(pp, name)
        monkeypatch.setattr(pp, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    layers = (((2, 2), (2, 2), (0, 0)), ((2, 2), (1, 1), (0, 0)), ((2, 2), (2, 2), (1, 1)), ((3, 3), (2, 2), (0, 0)))
    for k, s, p in layers:
        y = nb.avg_pool_forward(x, k, s, p)
        nb.avg_pool_backward(np.ones_like(y), x.shape, k, s, p)
    assert calls == ["avg_pool2x2_forward", "avg_pool2x2_backward"]
