"""minicnn.functional pooling: gradients, PyTorch as an oracle, the max-pool
tie rule, global/adaptive average pooling and error messages."""

import numpy as np
import pytest
from conv_cases import pool_cases
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn.functional.pool import (
    adaptive_avg_pool,
    avg_pool,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    global_avg_pool,
    max_pool,
    max_pool1d,
    max_pool2d,
    max_pool3d,
)

MAX = {1: max_pool1d, 2: max_pool2d, 3: max_pool3d}
AVG = {1: avg_pool1d, 2: avg_pool2d, 3: avg_pool3d}


# Every test here runs on the vectorised NumPy kernels and on the default Numba ones (whose
# convolution adds the bias itself); a test with a ``backend`` parameter picks its own (conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_kernels")


def _input(c, seed=0, dtype=np.float64):
    shape = (c["batch"], c["channels"]) + c["spatial"]
    return mc.Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("backend,examples", [("numpy", 12), ("reference", 4)])
def test_pool_gradcheck_hypothesis(backend, examples):
    @settings(max_examples=examples, deadline=None)
    @given(c=pool_cases(max_extra=2), cip=st.booleans())
    def check(c, cip):
        x = _input(c)  # continuous random values: no ties, so max pooling is differentiable here
        args = (c["kernel"], c["stride"], c["padding"])
        mc.gradcheck(lambda x: MAX[c["d"]](x, *args), [x])
        mc.gradcheck(lambda x: AVG[c["d"]](x, *args, count_include_pad=cip), [x])

    with mc.use_backend(backend):
        check()


# ---------------------------------------------------------------- PyTorch oracle
@settings(max_examples=25, deadline=None)
@given(c=pool_cases(max_extra=4), cip=st.booleans(), default_stride=st.booleans())
def test_pools_match_torch(c, cip, default_stride):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    d = c["d"]
    # PyTorch's 3D pools also demand kernel <= *unpadded* input (its 1D/2D pools and minicnn do not).
    assume(d < 3 or all(k <= n for k, n in zip(c["kernel"], c["spatial"])))
    stride = None if default_stride else c["stride"]
    x = _input(c)
    gy = np.random.default_rng(1).standard_normal
    for ours, theirs, kw in [
        (MAX[d], getattr(tf, f"max_pool{d}d"), {}),
        (AVG[d], getattr(tf, f"avg_pool{d}d"), {"count_include_pad": cip}),
    ]:
        x.grad = None
        xt = torch.tensor(x.data, requires_grad=True)
        yt = theirs(xt, c["kernel"], stride, c["padding"], **kw)
        y = ours(x, c["kernel"], stride, c["padding"], **kw)
        assert y.shape == tuple(yt.shape)
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        g = gy(y.shape)
        yt.backward(torch.tensor(g))
        y.backward(g)
        np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_max_pool_ties_match_torch(d):
    """Integer-valued input: nearly every window has several maxima, and the
    gradient must go to exactly the cell PyTorch's CPU kernel picks."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).integers(0, 2, (2, 2) + (6,) * d).astype(np.float64)
    for kernel, stride, padding in [(2, 2, 0), (3, 1, 1), (3, 2, 0)]:
        xm = mc.Tensor(x, requires_grad=True)
        xt = torch.tensor(x, requires_grad=True)
        y = MAX[d](xm, kernel, stride, padding)
        yt = getattr(torch.nn.functional, f"max_pool{d}d")(xt, kernel, stride, padding)
        g = np.random.default_rng(3).standard_normal(y.shape)
        y.backward(g)
        yt.backward(torch.tensor(g))
        np.testing.assert_array_equal(y.data, yt.detach().numpy())
        np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("output_size", [1, 2, (3, 2), (5, 4), (7, None)])
def test_adaptive_avg_pool_matches_torch(output_size):
    torch = pytest.importorskip("torch")
    x = mc.Tensor(np.random.default_rng(4).standard_normal((2, 3, 7, 5)), requires_grad=True)
    xt = torch.tensor(x.data, requires_grad=True)
    y = adaptive_avg_pool(x, output_size)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, output_size)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(5).standard_normal(y.shape)
    y.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- behaviour
@pytest.mark.parametrize("backend", ["reference", "numpy"])
def test_max_pool_tie_gradient_goes_to_first_maximum(backend):
    x = mc.Tensor(np.array([[[[3.0, 3.0], [3.0, 1.0]]]]), requires_grad=True)
    with mc.use_backend(backend):
        y = max_pool2d(x, 2)
        y.backward(np.array([[[[5.0]]]]))
    np.testing.assert_array_equal(x.grad[0, 0], [[5.0, 0.0], [0.0, 0.0]])


def test_max_pool_overlapping_windows_add_gradients():
    x = mc.Tensor(np.array([[[1.0, 8.0, 2.0, 0.0]]]), requires_grad=True)
    max_pool1d(x, 3, stride=1).sum().backward()  # 8 is the maximum of both windows
    np.testing.assert_array_equal(x.grad, [[[0.0, 2.0, 0.0, 0.0]]])


def test_defaults_stride_is_kernel_and_count_include_pad():
    x = mc.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    assert max_pool2d(x, 2).shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(max_pool2d(x, 2).data[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(avg_pool2d(x, 2).data[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    # Padding 1: the corner window holds one real cell (0) and three padding zeros.
    assert avg_pool2d(x, 2, padding=1).data[0, 0, 0, 0] == 0.0
    assert avg_pool2d(x, 2, padding=1).data[0, 0, 0, 1] == (1 + 2) / 4
    assert avg_pool2d(x, 2, padding=1, count_include_pad=False).data[0, 0, 0, 1] == (1 + 2) / 2


def test_generic_pools_follow_input_rank():
    x = np.random.default_rng(6).standard_normal((1, 2, 4, 6, 2))
    np.testing.assert_array_equal(max_pool(x, 2).data, max_pool3d(x, 2).data)
    np.testing.assert_array_equal(avg_pool(x, (2, 3, 1)).data, avg_pool3d(x, (2, 3, 1)).data)


def test_global_avg_pool_and_dtype():
    x = mc.Tensor(np.random.default_rng(7).standard_normal((2, 3, 4, 5, 6)).astype(np.float32), requires_grad=True)
    y = global_avg_pool(x)
    assert y.shape == (2, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y.data, x.data.mean(axis=(2, 3, 4)), rtol=1e-6)
    assert global_avg_pool(x, keepdims=True).shape == (2, 3, 1, 1, 1)
    assert adaptive_avg_pool(x).shape == (2, 3, 1, 1, 1)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(x.shape, 1 / 120), rtol=1e-6)
    for f in (lambda t: max_pool3d(t, 2), lambda t: avg_pool3d(t, 2, padding=1)):
        assert f(x).dtype == np.float32


def test_adaptive_and_global_gradcheck():
    x = mc.Tensor(np.random.default_rng(8).standard_normal((1, 2, 5, 3)), requires_grad=True)
    mc.gradcheck(lambda t: adaptive_avg_pool(t, (3, 2)), [x])
    mc.gradcheck(lambda t: global_avg_pool(t), [x])


def test_pool_output_size_one_and_non_contiguous_input():
    base = np.random.default_rng(9).standard_normal((3, 1, 6, 4))
    x = base.transpose(1, 0, 3, 2)  # (1, 3, 4, 6), not contiguous
    assert max_pool2d(x, (4, 6)).shape == (1, 3, 1, 1)
    np.testing.assert_allclose(max_pool2d(x, (4, 6)).data[0, :, 0, 0], x.max(axis=(2, 3))[0])
    np.testing.assert_allclose(avg_pool2d(x, (2, 3), stride=(1, 3)).data,
                               avg_pool2d(np.ascontiguousarray(x), (2, 3), stride=(1, 3)).data)


# ---------------------------------------------------------------- errors
X = np.zeros((2, 3, 6, 6))


@pytest.mark.parametrize(
    "call,exc,pattern",
    [
        (lambda: max_pool2d(np.zeros((3, 6, 6)), 2), ValueError,
         r"max_pool2d: input must have shape \(N, C, H, W\).*\(3, 6, 6\)"),
        (lambda: avg_pool1d(X, 2), ValueError, r"avg_pool1d: input must have shape \(N, C, L\).*\(2, 3, 6, 6\)"),
        (lambda: max_pool2d(X, 3, padding=2), ValueError,
         r"padding \(2, 2\) must be at most half of kernel_size \(3, 3\)"),
        (lambda: avg_pool2d(X, 7), ValueError, r"kernel_size \(7, 7\) is larger than the padded input \(6, 6\)"),
        (lambda: max_pool2d(X, 0), ValueError, r"kernel_size must be positive"),
        (lambda: max_pool2d(X, 2, stride=0), ValueError, r"stride must be positive"),
        (lambda: avg_pool2d(X, 2, padding=-1), ValueError, r"padding must be >= 0"),
        (lambda: max_pool3d(X[..., None], (2, 2)), ValueError, r"kernel_size must be an int or a tuple of 3"),
        (lambda: max_pool2d(X.astype(np.int32), 2), TypeError,
         r"input must be a floating-point array, got dtype int32"),
        (lambda: global_avg_pool(np.zeros((2, 3))), ValueError,
         r"global_avg_pool: input must have shape \(N, C, \*spatial\)"),
        (lambda: adaptive_avg_pool(X, 0), ValueError, r"output_size must be positive"),
        (lambda: max_pool(np.zeros(4), 2), ValueError, r"max_pool: input must have shape"),
    ],
)
def test_pool_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
