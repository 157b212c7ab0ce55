"""minicnn.functional convolution: gradients (central differences), PyTorch as
an oracle, the course's shapes, edge cases and error messages."""

import itertools

import numpy as np
import pytest
from conv_cases import conv_cases
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn.functional.conv import conv, conv1d, conv2d, conv3d, conv_output_shape

CONV = {1: conv1d, 2: conv2d, 3: conv3d}


# Every test here runs on the vectorised NumPy kernels and on the default Numba ones (whose
# convolution adds the bias itself); a test with a ``backend`` parameter picks its own (conftest.py).
pytestmark = pytest.mark.usefixtures("cpu_kernels")


def _tensors(c, seed=0, dtype=np.float64, bias=True):
    rng = np.random.default_rng(seed)
    x = mc.Tensor(rng.standard_normal((c["batch"], c["c_in"]) + c["spatial"]).astype(dtype), requires_grad=True)
    w = mc.Tensor(rng.standard_normal((c["c_out"], c["c_in"]) + c["kernel"]).astype(dtype), requires_grad=True)
    b = mc.Tensor(rng.standard_normal(c["c_out"]).astype(dtype), requires_grad=True) if bias else None
    return x, w, b


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("backend,examples", [("numpy", 12), ("reference", 4)])
def test_conv_gradcheck_hypothesis(backend, examples):
    @settings(max_examples=examples, deadline=None)
    @given(c=conv_cases(max_extra=1), with_bias=st.booleans())
    def check(c, with_bias):
        x, w, b = _tensors(c, bias=with_bias)
        args = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"])
        if with_bias:
            mc.gradcheck(lambda x, w, b: conv(x, w, b, **args), [x, w, b])
        else:
            mc.gradcheck(lambda x, w: CONV[c["d"]](x, w, **args), [x, w])

    with mc.use_backend(backend):
        check()


def test_backends_agree_through_the_functional_api():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 5, 4))
    w = rng.standard_normal((2, 3, 3, 2, 2))
    b = rng.standard_normal(2)
    results = {}
    for backend in ("reference", "numpy"):
        with mc.use_backend(backend):
            xt, wt, bt = (mc.Tensor(a, requires_grad=True) for a in (x, w, b))
            y = conv3d(xt, wt, bt, stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1))
            (y * y).sum().backward()
            results[backend] = (y.data, xt.grad, wt.grad, bt.grad)
    for ref, vec in zip(results["reference"], results["numpy"]):
        np.testing.assert_allclose(vec, ref, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- PyTorch oracle
def _torch_check(fn_mc, fn_torch, x, w, b, **kw):
    torch = pytest.importorskip("torch")
    xt, wt = torch.tensor(x.data, requires_grad=True), torch.tensor(w.data, requires_grad=True)
    bt = None if b is None else torch.tensor(b.data, requires_grad=True)
    yt = fn_torch(xt, wt, bt, **kw)
    y = fn_mc(x, w, b, **kw)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-9, atol=1e-10)
    gy = np.random.default_rng(7).standard_normal(y.shape)
    yt.backward(torch.tensor(gy))
    y.backward(gy)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-9, atol=1e-10)
    if b is not None:
        np.testing.assert_allclose(b.grad, bt.grad.numpy(), rtol=1e-9, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(c=conv_cases(max_extra=4), data=st.data())
def test_conv_matches_torch(c, data):
    torch = pytest.importorskip("torch")
    # PyTorch pads symmetrically: draw one p per axis that keeps the kernel inside.
    padding = tuple(
        data.draw(st.integers(max(0, -(-(dl * (k - 1) + 1 - n) // 2)), 2))
        for n, k, dl in zip(c["spatial"], c["kernel"], c["dilation"])
    )
    x, w, b = _tensors(c, bias=data.draw(st.booleans()))
    ft = getattr(torch.nn.functional, f"conv{c['d']}d")
    _torch_check(CONV[c["d"]], ft, x, w, b, stride=c["stride"], padding=padding, dilation=c["dilation"])


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("kernel,dilation", [(2, 1), (4, 1), (3, 2), (2, 3), ((2, 3, 4), (1, 2, 1))])
def test_same_padding_matches_torch(d, kernel, dilation):
    kernel = kernel[:d] if isinstance(kernel, tuple) else (kernel,) * d
    dilation = dilation[:d] if isinstance(dilation, tuple) else dilation
    c = dict(batch=2, c_in=2, c_out=3, kernel=kernel, spatial=(5, 6, 4)[:d])
    x, w, b = _tensors(c)
    torch = pytest.importorskip("torch")
    ft = getattr(torch.nn.functional, f"conv{d}d")
    _torch_check(CONV[d], ft, x, w, b, padding="same", dilation=dilation)
    assert x.shape[2:] == conv(x, w, padding="same", dilation=dilation).shape[2:]


def test_asymmetric_padding_pairs_match_torch_pad_then_conv():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((3, 2, 2, 3))
    y = conv2d(x, w, padding=((0, 2), (1, 0)), stride=(2, 1))
    padded = torch.nn.functional.pad(torch.tensor(x), (1, 0, 0, 2))
    ref = torch.nn.functional.conv2d(padded, torch.tensor(w), stride=(2, 1))
    np.testing.assert_allclose(y.data, ref.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- the course's shapes
@pytest.mark.parametrize(
    "in_shape,filters,kernel,stride,out_shape",
    [
        ((1, 14), 16, 5, 1, (16, 10)),                  # ECG: 14 x 1 -> 10 x 16
        ((16, 10), 32, 5, 1, (32, 6)),                  # then 32 filters of 5 x 16 -> 6 x 32
        ((1, 14, 14, 14), 16, 5, 1, (16, 10, 10, 10)),  # CT scan: 14^3 x 1 -> 10^3 x 16
        ((16, 10, 10, 10), 32, 5, 1, (32, 6, 6, 6)),    # then 32 filters -> 6^3 x 32
        ((16, 32, 32, 32), 32, 3, 1, (32, 30, 30, 30)),
        ((3, 64, 64, 64), 16, 4, 2, (16, 31, 31, 31)),
    ],
)
def test_course_shapes(in_shape, filters, kernel, stride, out_shape):
    d = len(in_shape) - 1
    x = np.random.default_rng(0).standard_normal((1,) + in_shape).astype(np.float32)
    w = np.full((filters, in_shape[0]) + (kernel,) * d, 0.01, np.float32)
    with mc.use_backend("numpy"):
        y = CONV[d](x, w, stride=stride)
    assert y.shape == (1,) + out_shape and y.dtype == np.float32
    assert conv_output_shape(in_shape[1:], kernel, stride) == out_shape[1:]
    # Spot-check one output against its definition: the sum over one window.
    window = x[(0, slice(None)) + tuple(slice(0, kernel) for _ in range(d))]
    np.testing.assert_allclose(y.data[(0, 0) + (0,) * d], 0.01 * window.sum(), rtol=1e-4)


def test_conv_output_shape_helper():
    assert conv_output_shape(14, 5) == 10
    assert conv_output_shape((64, 64, 64), 4, stride=2) == (31, 31, 31)
    assert conv_output_shape((7, 6), (3, 2), stride=(2, 1), padding=1, dilation=(2, 1)) == (3, 7)
    assert conv_output_shape((9, 8), 4, padding="same") == (9, 8)
    assert conv_output_shape(5, 5) == 1
    assert conv_output_shape(15, 3, stride=2, padding=1) == 8          # floor((15 + 2 - 3) / 2) + 1
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_output_shape(4, 5)
    # Against its definition: the number of window starts 0, s, 2s, ... whose dilated
    # window (last cell at start + d(k - 1)) still lies inside the padded input.
    for n, k, s, p, dl in itertools.product(range(1, 9), range(1, 4), range(1, 4), range(3), range(1, 3)):
        if dl * (k - 1) + 1 <= n + 2 * p:
            starts = [i for i in range(0, n + 2 * p, s) if i + dl * (k - 1) <= n + 2 * p - 1]
            assert conv_output_shape(n, k, s, p, dl) == len(starts), (n, k, s, p, dl)


# ---------------------------------------------------------------- edge cases
def test_kernel_equal_to_padded_input_gives_one_output():
    rng = np.random.default_rng(3)
    x = mc.Tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    w = mc.Tensor(rng.standard_normal((1, 2, 5, 4)), requires_grad=True)
    y = conv2d(x, w, padding=(1, 0))
    assert y.shape == (1, 1, 1, 1)
    np.testing.assert_allclose(y.data.item(), (np.pad(x.data, ((0, 0), (0, 0), (1, 1), (0, 0))) * w.data).sum())
    mc.gradcheck(lambda x, w: conv2d(x, w, padding=(1, 0)), [x, w])


def test_stride_larger_than_kernel_skips_cells():
    x = mc.Tensor(np.arange(10.0).reshape(1, 1, 10), requires_grad=True)
    w = mc.Tensor(np.ones((1, 1, 2)), requires_grad=True)
    y = conv1d(x, w, stride=4)
    np.testing.assert_array_equal(y.data, [[[1.0, 9.0, 17.0]]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[1, 1, 0, 0, 1, 1, 0, 0, 1, 1]]])  # cells 2, 3, 6, 7 unused


def test_non_contiguous_input_and_bias_only_grad():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((3, 2, 6, 7))
    x = base.transpose(1, 0, 3, 2)[:, :, ::2]  # (2, 3, 4, 6), not contiguous
    w = rng.standard_normal((4, 3, 2, 2))
    b = mc.Tensor(np.zeros(4), requires_grad=True)
    y = conv2d(x, w, b, padding=1)
    np.testing.assert_allclose(y.data, conv2d(np.ascontiguousarray(x), w, b, padding=1).data, rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(b.grad, np.full(4, 2 * 5 * 7.0))  # one per output position and batch item


def test_float32_stays_float32_and_mixed_dtypes_promote():
    x = mc.Tensor(np.ones((1, 1, 4, 4), np.float32), requires_grad=True)
    w = mc.Tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)
    y = conv2d(x, w)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    w64 = mc.Tensor(np.ones((2, 1, 3, 3)), requires_grad=True)
    x.grad = None
    y = conv2d(x, w64)
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32 and w64.grad.dtype == np.float64


def test_lists_and_tensors_without_grad():
    y = conv1d([[[1.0, 2.0, 3.0]]], [[[1.0, 1.0]]], [0.5])
    assert y.dtype == np.float32 and not y.requires_grad
    np.testing.assert_allclose(y.data, [[[3.5, 5.5]]])


# ---------------------------------------------------------------- errors
X2 = np.zeros((2, 3, 8, 8))
W2 = np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize(
    "call,exc,pattern",
    [
        (lambda: conv2d(np.zeros((3, 8, 8)), W2), ValueError, r"input must have shape \(N, C_in, H, W\).*\(3, 8, 8\)"),
        (lambda: conv2d(X2, np.zeros((4, 3, 3))), ValueError, r"weight must have shape.*\(4, 3, 3\)"),
        (lambda: conv3d(X2, W2), ValueError, r"conv3d: input must have shape \(N, C_in, D, H, W\)"),
        (lambda: conv2d(X2, np.zeros((4, 2, 3, 3))), ValueError,
         r"input has 3 channels but weight expects 2.*\(2, 3, 8, 8\)"),
        (lambda: conv2d(X2, np.zeros((4, 3, 9, 3))), ValueError,
         r"kernel \(9, 3\).*larger than the padded input \(8, 8\)"),
        (lambda: conv2d(X2, W2, dilation=4), ValueError, r"extent \(9, 9\).*larger than the padded input"),
        (lambda: conv2d(X2, W2, stride=0), ValueError, r"stride must be positive"),
        (lambda: conv2d(X2, W2, stride=(1, -1)), ValueError, r"stride must be positive"),
        (lambda: conv2d(X2, W2, dilation=0), ValueError, r"dilation must be positive"),
        (lambda: conv2d(X2, W2, padding=-1), ValueError, r"padding must be >= 0"),
        (lambda: conv2d(X2, W2, padding=(1, 1, 1)), ValueError, r"padding must be an int or a tuple of 2"),
        (lambda: conv2d(X2, W2, stride=1.5), TypeError, r"stride must be an int"),
        (lambda: conv2d(X2, W2, padding="full"), ValueError, r"padding must be 'valid', 'same'"),
        (lambda: conv2d(X2, W2, stride=2, padding="same"), ValueError, r"padding='same' needs stride 1"),
        (lambda: conv2d(X2.astype(np.int64), W2), TypeError, r"input must be a floating-point array, got dtype int64"),
        (lambda: conv2d(X2, W2.astype(np.int32)), TypeError, r"weight must be a floating-point.*int32"),
        (lambda: conv2d(X2.astype(object), W2), TypeError, r"conv2d: input must be a floating-point"),
        (lambda: conv2d(X2, W2, np.zeros(3)), ValueError, r"bias must have shape \(4,\).*got shape \(3,\)"),
        (lambda: conv2d(X2, W2, np.zeros((4, 1))), ValueError, r"bias must have shape \(4,\)"),
        (lambda: conv(X2, np.zeros((4, 3))), ValueError, r"conv: weight must have shape \(C_out, C_in, \*kernel\)"),
    ],
)
def test_conv_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_generic_conv_handles_any_rank():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((3, 2, 2, 2))
    np.testing.assert_allclose(conv(x, w, stride=2).data, conv2d(x, w, stride=2).data)


def test_cached_argument_normalisation_still_rejects_lookalikes():
    # 1.0 and True equal 1 as dictionary keys; the normalisation cache must not let them through
    import minicnn.functional as F

    x, w = np.zeros((1, 1, 5, 5), np.float32), np.zeros((1, 1, 3, 3), np.float32)
    F.conv2d(x, w, stride=1, padding=1, dilation=1)  # fills the cache
    for kw in (dict(stride=1.0), dict(stride=True), dict(padding=(1, 1.0)), dict(dilation=(True, 1))):
        with pytest.raises(TypeError):
            F.conv2d(x, w, **{**dict(stride=1, padding=1, dilation=1), **kw})
    assert F.conv2d(x, w, stride=[1, 1], padding=[1, 1]).shape == (1, 1, 5, 5)  # lists: not cached, still fine
