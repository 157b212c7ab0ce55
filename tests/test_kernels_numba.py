"""The Numba kernels equal the reference loops (and PyTorch, where installed).

Every convolution runs through each formulation of the dispatch rule (thin
implicit GEMM and flat direct for stride 1, im2col + BLAS; named as in minicnn/kernels/numba/conv.py) by moving the
module's thresholds, so a drawn geometry tests every code path, in float32 and float64.
"""

import contextlib
import warnings

import numpy as np
import pytest
from conv_cases import conv_cases, pool_cases
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn.kernels import numba as nb
from minicnn.kernels import reference as ref
from minicnn.kernels.numba import conv as nb_conv
from minicnn.kernels.numba import im2col as nb_im2col

METHODS = ("auto", "thin", "flat", "gemm")
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


@contextlib.contextmanager
def forced(method="auto", tile_bytes=None, threads=None):
    """Force one formulation (and optionally tiny im2col tiles / a thread count)."""
    saved = (nb_conv.DIRECT_MAX_FILTER, nb_conv.FLAT_MAX_COUT, nb_im2col.TILE_BYTES, nb.get_num_threads(),
             nb_conv.THIN_MAX_COUT)
    if method == "thin":  # every forward with stride 1 in H and W; the gradients keep the rule
        nb_conv.THIN_MAX_COUT = 10 ** 9
    elif method == "flat":
        nb_conv.DIRECT_MAX_FILTER = 10 ** 9
    elif method == "gemm":
        nb_conv.DIRECT_MAX_FILTER, nb_conv.FLAT_MAX_COUT, nb_conv.THIN_MAX_COUT = 0, 0, 0
    if tile_bytes is not None:
        nb_im2col.TILE_BYTES = tile_bytes
    if threads is not None:
        nb.set_num_threads(threads)
    try:
        yield
    finally:
        nb_conv.DIRECT_MAX_FILTER, nb_conv.FLAT_MAX_COUT, nb_im2col.TILE_BYTES = saved[:3]
        nb.set_num_threads(saved[3])
        nb_conv.THIN_MAX_COUT = saved[4]


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels():
    """Compile (or load from Numba's cache) every kernel once per session, both dtypes,
    so no single test pays the JIT and Hypothesis never sees a slow first example."""
    nb.warm_up()


def _conv_arrays(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["batch"], case["c_in"]) + case["spatial"]).astype(dtype)
    w = rng.standard_normal((case["c_out"], case["c_in"]) + case["kernel"]).astype(dtype)
    return x, w


def _check_conv(case, dtype, method, **kw):
    x, w = _conv_arrays(case, dtype)
    args = (case["stride"], case["padding"], case["dilation"])
    y_ref = ref.conv_forward(x, w, *args)
    gy = np.random.default_rng(1).standard_normal(y_ref.shape).astype(dtype)
    with forced(method, **kw):
        y = nb.conv_forward(x, w, *args)
        gx = nb.conv_backward_input(gy, w, x.shape, *args)
        gw = nb.conv_backward_weight(gy, x, w.shape, *args)
    for got, want in ((y, y_ref), (gx, ref.conv_backward_input(gy, w, x.shape, *args)),
                      (gw, ref.conv_backward_weight(gy, x, w.shape, *args))):
        assert got.shape == want.shape and got.dtype == dtype
        np.testing.assert_allclose(got, want, **TOL[dtype])


@settings(max_examples=12, deadline=None)
@given(case=conv_cases(), dtype=st.sampled_from([np.float32, np.float64]), method=st.sampled_from(METHODS))
def test_conv_matches_reference(case, dtype, method):
    _check_conv(case, dtype, method)


@settings(max_examples=6, deadline=None)
@given(case=conv_cases(dims=(2, 3)), dtype=st.sampled_from([np.float32, np.float64]))
def test_conv_gemm_tiles_and_bands_match_reference(case, dtype):
    """Tiles of a few bytes force row bands, several tiles per sample, and (batch 1) shared bands."""
    _check_conv(case, dtype, "gemm", tile_bytes=64)


@pytest.mark.parametrize("tile_bytes", [None, 700, 1500])
@pytest.mark.parametrize("x_shape,w_shape,stride,padding", [
    ((2, 20, 9, 8), (5, 20, 3, 3), (1, 1), ((1, 1), (1, 1))),  # "same": im2col copies whole planes
    ((2, 20, 9, 8), (5, 20, 3, 3), (1, 1), ((0, 2), (1, 1))),
    ((1, 20, 6, 7, 8), (5, 20, 3, 3, 3), (2, 1, 1), ((1, 1), (1, 1), (1, 1))),
])
def test_conv_gemm_same_padding_planes(tile_bytes, x_shape, w_shape, stride, padding):
    case = dict(batch=x_shape[0], c_in=x_shape[1], c_out=w_shape[0], spatial=x_shape[2:], kernel=w_shape[2:],
                stride=stride, padding=padding, dilation=(1,) * len(stride), d=len(stride))
    _check_conv(case, np.float64, "gemm", tile_bytes=tile_bytes)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name,x_shape,w_shape,stride,padding,dilation", [
    # kernel equal to the padded input: a single output position
    ("kernel == padded input", (2, 3, 5, 4), (2, 3, 7, 6), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ("stride larger than kernel", (2, 2, 9, 8), (3, 2, 2, 2), (4, 3), ((0, 1), (1, 0)), (1, 1)),
    ("output of size 1 (1D)", (3, 4, 5), (2, 4, 5), (1,), ((0, 0),), (1,)),
    ("batch of 1, 3D, dilation", (1, 2, 6, 5, 7), (3, 2, 2, 2, 3), (1, 1, 1), ((1, 0), (0, 1), (2, 2)), (2, 1, 2)),
    ("wide layer, many channels", (2, 40, 6, 6), (5, 40, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ("one input channel, long 1D", (3, 1, 60), (4, 1, 5), (1,), ((2, 2),), (3,)),
])
def test_conv_edge_cases(method, name, x_shape, w_shape, stride, padding, dilation):
    d = len(x_shape) - 2
    case = dict(batch=x_shape[0], c_in=x_shape[1], c_out=w_shape[0], spatial=x_shape[2:], kernel=w_shape[2:],
                stride=stride, padding=padding, dilation=dilation, d=d)
    _check_conv(case, np.float64, method)


@pytest.mark.parametrize("method", METHODS)
def test_conv_non_contiguous_inputs(method):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6, 3, 2)).transpose(3, 2, 1, 0)  # (2, 3, 6, 5), Fortran order
    w = rng.standard_normal((4, 3, 3, 2))[:, :, ::-1]  # negative strides
    args = ((1, 2), ((1, 0), (0, 1)), (1, 1))
    gy_shape = ref.conv_forward(np.ascontiguousarray(x), np.ascontiguousarray(w), *args).shape
    gy = rng.standard_normal(gy_shape[::-1]).T  # non-contiguous too
    with forced(method):
        got = (nb.conv_forward(x, w, *args), nb.conv_backward_input(gy, w, x.shape, *args),
               nb.conv_backward_weight(gy, x, w.shape, *args))
    want = (ref.conv_forward(x, w, *args), ref.conv_backward_input(gy, w, x.shape, *args),
            ref.conv_backward_weight(gy, x, w.shape, *args))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_conv_same_result_for_any_thread_count(threads):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 20, 7, 6))
    w = rng.standard_normal((6, 20, 3, 3))
    gy = rng.standard_normal((3, 6, 7, 6))
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    with forced("gemm", tile_bytes=2000, threads=min(threads, nb.numba.config.NUMBA_NUM_THREADS)):
        gx = nb.conv_backward_input(gy, w, x.shape, *args)
        gw = nb.conv_backward_weight(gy, x, w.shape, *args)
    np.testing.assert_allclose(gx, ref.conv_backward_input(gy, w, x.shape, *args), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, ref.conv_backward_weight(gy, x, w.shape, *args), rtol=1e-10, atol=1e-12)


@settings(max_examples=12, deadline=None)
@given(case=pool_cases(), dtype=st.sampled_from([np.float32, np.float64]), include=st.booleans())
def test_pooling_matches_reference(case, dtype, include):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((case["batch"], case["channels"]) + case["spatial"]).astype(dtype)
    args = (case["kernel"], case["stride"], case["padding"])
    y, arg = nb.max_pool_forward(x, *args)
    y_ref, arg_ref = ref.max_pool_forward(x, *args)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    assert arg.dtype == np.int64 and y.dtype == dtype
    gy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(nb.max_pool_backward(gy, arg, x.shape), ref.max_pool_backward(gy, arg_ref, x.shape),
                               **TOL[dtype])
    a = nb.avg_pool_forward(x, *args, count_include_pad=include)
    np.testing.assert_allclose(a, ref.avg_pool_forward(x, *args, count_include_pad=include), **TOL[dtype])
    np.testing.assert_allclose(nb.avg_pool_backward(gy, x.shape, *args, count_include_pad=include),
                               ref.avg_pool_backward(gy, x.shape, *args, count_include_pad=include), **TOL[dtype])


@pytest.mark.parametrize("method", METHODS)
def test_conv_propagates_inf_like_numpy(method):
    """fastmath may reorder sums but must not invent NaN (e.g. 0 * inf from padding taps)."""
    from minicnn.kernels import numpy_im2col as vectorized

    x = np.ones((2, 3, 6, 6))
    x[0, 0, 2, 2] = np.inf
    w = np.ones((2, 3, 3, 3))
    gy = np.ones((2, 2, 6, 6))
    gy[1, 1, 3, 3] = np.inf
    args = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    with forced(method):
        got = (nb.conv_forward(x, w, *args), nb.conv_backward_input(gy, w, x.shape, *args))
    want = (vectorized.conv_forward(x, w, *args), vectorized.conv_backward_input(gy, w, x.shape, *args))
    for g, r in zip(got, want):
        np.testing.assert_array_equal(np.isposinf(g), np.isposinf(r))
        np.testing.assert_array_equal(np.isnan(g), np.isnan(r))


def test_max_pool_ties_and_infinities_follow_the_contract():
    x = np.array([[[[1.0, 1.0, -np.inf], [1.0, 0.0, -np.inf]]]])  # (1, 1, 2, 3)
    y, arg = nb.max_pool_forward(x, (2, 2), (1, 1), (0, 0))
    np.testing.assert_array_equal(y.ravel(), [1.0, 1.0])
    np.testing.assert_array_equal(arg.ravel(), [0, 1])  # first maximum in row-major window order
    y, arg = nb.max_pool_forward(np.full((1, 1, 2, 2), -np.inf), (2, 2), (2, 2), (1, 1))
    assert np.all(np.isneginf(y)) and np.all((arg >= 0) & (arg < 4))  # never a padded cell


def test_matches_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(6)
    for d, x_shape, w_shape, stride, pad, dil in [(1, (4, 1, 30), (5, 1, 5), 1, 2, 1),
                                                  (2, (2, 3, 9, 8), (4, 3, 3, 3), 2, 1, 1),
                                                  (2, (2, 40, 6, 6), (8, 40, 3, 3), 1, 1, 2),
                                                  (3, (1, 2, 6, 6, 6), (3, 2, 3, 3, 3), 1, 1, 1)]:
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = rng.standard_normal(w_shape).astype(np.float32)
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        ty = getattr(tf, f"conv{d}d")(tx, tw, stride=stride, padding=pad, dilation=dil)
        gy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
        ty.backward(torch.tensor(gy))
        args = ((stride,) * d, ((pad, pad),) * d, (dil,) * d)
        np.testing.assert_allclose(nb.conv_forward(x, w, *args), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(nb.conv_backward_input(gy, w, x.shape, *args), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
        gw = nb.conv_backward_weight(gy, x, w.shape, *args)
        np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-4, atol=1e-3)
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty, tidx = tf.max_pool2d(tx, 3, 2, 1, return_indices=True)
    y, arg = nb.max_pool_forward(x, (3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(arg, tidx.numpy())


@pytest.mark.parametrize("method", METHODS)
def test_conv_forward_fused_bias(method):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 20, 7, 6)).astype(np.float32)
    w = rng.standard_normal((5, 20, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    args = ((1, 1), ((1, 1), (0, 2)), (1, 1))
    with forced(method):
        y = nb.conv_forward(x, w, *args, bias=b)
    np.testing.assert_allclose(y, ref.conv_forward(x, w, *args) + b[:, None, None], rtol=2e-4, atol=2e-4)


def test_compile_error_falls_back_to_numpy_with_one_warning(monkeypatch):
    from numba.core.errors import TypingError

    from minicnn.kernels import numpy_im2col as vectorized

    def broken(*args, **kwargs):
        raise TypingError("simulated compile failure")

    monkeypatch.setattr(nb, "_fallback", {"module": None})
    kernel = nb._guarded(broken, "conv_forward")
    x, w = np.ones((1, 1, 4)), np.ones((1, 1, 2))
    args = ((1,), ((0, 0),), (1,))
    with pytest.warns(RuntimeWarning, match="Numba could not compile conv_forward.*NumPy"):
        y = kernel(x, w, *args)
    np.testing.assert_array_equal(y, vectorized.conv_forward(x, w, *args))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning comes once; later calls go straight to NumPy
        np.testing.assert_array_equal(kernel(x, w, *args, bias=np.array([2.0])), y + 2.0)


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 2.0, True, "2"):
        with pytest.raises(ValueError, match="set_num_threads: n must be a positive int"):
            nb.set_num_threads(bad)
    with pytest.raises(ValueError, match="NUMBA_NUM_THREADS"):
        nb.set_num_threads(nb.numba.config.NUMBA_NUM_THREADS + 1)
    before = nb.get_num_threads()
    nb.set_num_threads(1)
    assert nb.get_num_threads() == 1
    nb.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c_out", [1, 3, 4, 5, 8, 9])
def test_flat_forward_groups_of_four_output_channels(dtype, c_out):
    # the flat forward runs four output channels per task; the last group may be partial
    rng = np.random.default_rng(c_out)
    x = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    w = rng.standard_normal((c_out, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    args = ((1, 1), ((1, 1), (1, 0)), (1, 1))
    with forced("flat"):
        y = nb.conv_forward(x, w, *args, bias=b)
    np.testing.assert_allclose(y, ref.conv_forward(x, w, *args, bias=b), **TOL[dtype])


@pytest.mark.parametrize("outside", [1, 2])
def test_blas_is_held_to_one_thread_and_restored(outside):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from minicnn.kernels.numba import threads

    if not threads._blas_libraries():
        pytest.skip("threadpoolctl finds no BLAS library")
    with threadpoolctl.threadpool_limits(outside, user_api="blas"):
        before = threads.get_blas_num_threads()
        with threads.blas_single_thread():
            assert threads.get_blas_num_threads() == 1
        assert threads.get_blas_num_threads() == before


_RUNTIME_PROBE = """
import os
from minicnn.kernels.numba import threads
settings = threads.runtime_settings()
import numba
print(settings["omp_wait_policy"], numba.threading_layer(), "GOMP_SPINCOUNT" in os.environ, sep="|")
"""


@pytest.mark.parametrize("user", [None, "PASSIVE"])
def test_openmp_threads_spin_briefly_unless_the_user_chose(user):
    """minicnn starts Numba's OpenMP team with a short spin (GOMP_SPINCOUNT=10000), sets the variables
    only while the team starts, and never over the user's own OMP_WAIT_POLICY."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    if user:
        env["OMP_WAIT_POLICY"] = user
    out = subprocess.run([sys.executable, "-c", _RUNTIME_PROBE], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout.strip().splitlines()[-1]
    policy, layer, left_set = out.split("|")
    assert left_set == "False"  # removed again once the team started
    if user:
        assert policy == "OMP_WAIT_POLICY=PASSIVE (yours)"
    elif layer == "omp":
        assert policy.startswith("spin GOMP_SPINCOUNT=10000")


@pytest.mark.parametrize("x_shape,w_shape,stride,pad", [
    ((8, 32, 16, 16), (32, 32, 3, 3), (1, 1), 1),  # Winograd: the weight gradient sums blocks
    ((8, 16, 20, 20), (32, 16, 5, 5), (2, 2), 2),  # im2col: the weight gradient sums tiles
    ((1, 16, 40, 40), (16, 16, 5, 5), (1, 1), 2),  # batch 1: bands of one sample share input cells
])
def test_gradients_are_the_same_in_every_run_whatever_thread_ran_what(x_shape, w_shape, stride, pad):
    """Two threads pull work as they finish, so which thread adds which part changes from run to
    run; the sums must not, or two identical trainings drift apart in the last bits."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two Numba threads")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    args = (stride, ((pad, pad),) * 2, (1, 1))
    with forced(threads=2):
        gy = rng.standard_normal(nb.conv_forward(x, w, *args).shape).astype(np.float32)
        first = nb.conv_backward_input(gy, w, x.shape, *args), nb.conv_backward_weight(gy, x, w.shape, *args)
        for _ in range(12):
            np.testing.assert_array_equal(nb.conv_backward_input(gy, w, x.shape, *args), first[0])
            np.testing.assert_array_equal(nb.conv_backward_weight(gy, x, w.shape, *args), first[1])
