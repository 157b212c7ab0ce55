"""Checks of lessons 00-02: autograd, convolution, pooling, batch norm."""

from __future__ import annotations

import numpy as np

from ._common import _close, _gradcheck, _numeric_grad, _own_work  # noqa: F401


# ----------------------------------------------------------------- lesson 00
def check_sigmoid_backward(fn):
    _own_work(fn, "sigmoid_backward")

    def sig(v):
        return 1 / (1 + np.exp(-v))

    _close(fn(np.array([0.5]), np.array([1.0])), [0.25], "y = 0.5, gy = 1 (sigma'(0) = 1/4)")
    x = np.linspace(-3, 3, 7)
    gy = np.arange(1.0, 8.0)
    numeric = gy * np.array([(sig(v + 1e-6) - sig(v - 1e-6)) / 2e-6 for v in x])
    _close(fn(sig(x), gy), numeric, "finite differences", atol=1e-6)
    return "correct"


def check_softplus_grad(fn):
    _own_work(fn, "softplus_grad")
    _close(fn(np.array([0.0])), [0.5], "x = 0 (log(1 + e^x) has slope 1/2 there)")
    x = np.linspace(-4, 4, 9)
    numeric = np.array([(np.log1p(np.exp(v + 1e-6)) - np.log1p(np.exp(v - 1e-6))) / 2e-6 for v in x])
    _close(fn(x), numeric, "finite differences", atol=1e-6)
    return "correct"


# ----------------------------------------------------------------- lesson 01
def check_conv_output_size(fn):
    _own_work(fn, "conv_output_size")
    cases = [((6, 3, 0, 1), 4), ((14, 5, 0, 1), 10), ((7, 3, 1, 2), 4), ((64, 4, 0, 2), 31), ((5, 5, 0, 1), 1)]
    for args, want in cases:
        got = fn(*args)
        assert got == want, f"n, f, p, s = {args}: expected {want}, got {got}"
    return "correct"


def check_conv1d_loop(fn):
    _own_work(fn, "conv1d_loop")
    _close(fn(np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 0, -1])), [-2, -2, -2], "x = 1..5, w = (1, 0, -1)")
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(12), rng.standard_normal(4)
    _close(fn(x, w), np.correlate(x, w, mode="valid"), "random x (12,), w (4,) (NumPy's np.correlate)")
    return "correct"


def _conv1d(x, w):
    """Valid stride-1 1D convolution written out: x (C_in, L), w (C_out, C_in, K) -> (C_out, L-K+1)."""
    c_out, _, n_taps = w.shape
    out = np.zeros((c_out, x.shape[1] - n_taps + 1))
    for co in range(c_out):
        for o in range(out.shape[1]):
            out[co, o] = np.sum(w[co] * x[:, o:o + n_taps])
    return out


def check_conv1d_backward_input(fn):
    _own_work(fn, "conv1d_backward_input")
    # by hand: x of length 4, w = (1, -1), gy = (1, 1, 1): windows scatter (1,-1) at 0, 1, 2
    _close(fn(np.ones((1, 3)), np.array([[[1.0, -1.0]]]), 4), [[1, 0, 0, -1]], "gy = (1,1,1), w = (1,-1), L = 4")
    rng = np.random.default_rng(11)
    for c_in, c_out, length, n_taps in [(1, 1, 7, 3), (2, 3, 9, 4), (3, 2, 5, 5)]:
        x, w = rng.standard_normal((c_in, length)), rng.standard_normal((c_out, c_in, n_taps))
        gy = rng.standard_normal((c_out, length - n_taps + 1))
        gx = np.asarray(fn(gy, w, length), dtype=float)
        assert gx.shape == x.shape, f"C_in={c_in}, L={length}: expected gx of shape {x.shape}, got {gx.shape}"
        # adjoint identity: <gy, conv(x, w)> = <conv^T(gy), x> for every x and gy
        assert np.isclose(np.sum(gy * _conv1d(x, w)), np.sum(gx * x)), (
            "the adjoint identity <gy, Wx> = <W^T gy, x> fails")
        _gradcheck(_conv1d, lambda g, x, w: (fn(g, w, x.shape[1]), None), [x, w], [True, False])
    return "correct"


def check_conv1d_backward_weight(fn):
    _own_work(fn, "conv1d_backward_weight")
    # by hand: x = (1, 2, 3, 4), gy = (1, 1, 1): gw = (1,2) + (2,3) + (3,4)
    _close(fn(np.array([[1.0, 2, 3, 4]]), np.ones((1, 3)), 2), [[[6, 9]]], "x = (1,2,3,4), gy = (1,1,1), K = 2")
    rng = np.random.default_rng(12)
    for c_in, c_out, length, n_taps in [(1, 1, 7, 3), (2, 3, 9, 4), (3, 2, 5, 5)]:
        x, w = rng.standard_normal((c_in, length)), rng.standard_normal((c_out, c_in, n_taps))
        gy = rng.standard_normal((c_out, length - n_taps + 1))
        gw = np.asarray(fn(x, gy, n_taps), dtype=float)
        assert gw.shape == w.shape, f"expected gw of shape {w.shape}, got {gw.shape}"
        assert np.isclose(np.sum(gy * _conv1d(x, w)), np.sum(gw * w)), "the identity <gy, conv(x, w)> = <gw, w> fails"
        _gradcheck(_conv1d, lambda g, x, w: (None, fn(x, g, w.shape[2])), [x, w], [False, True])
    return "correct"


# ----------------------------------------------------------------- lesson 02
_POOL_A = np.array([[1, 3, 2, 1], [4, 6, 5, 0], [7, 2, 9, 8], [1, 0, 3, 4]], dtype=float)


def check_max_pool_2x2(fn):
    _own_work(fn, "max_pool_2x2")
    _close(fn(_POOL_A), [[6, 5], [7, 9]], "the 4x4 example")
    _close(fn(np.arange(24.0).reshape(4, 6)), [[7, 9, 11], [19, 21, 23]], "np.arange(24).reshape(4, 6)")
    return "correct"


def _pool(a):
    h, w = a.shape
    return np.array([[a[i:i + 2, j:j + 2].max() for j in range(0, w, 2)] for i in range(0, h, 2)])


def check_max_pool_2x2_backward(fn):
    _own_work(fn, "max_pool_2x2_backward")
    want = np.zeros((4, 4))
    want[1, 1], want[1, 2], want[2, 0], want[2, 2] = 1, 2, 3, 4
    _close(fn(_POOL_A, np.array([[1.0, 2], [3, 4]])), want, "the 4x4 example, gy = [[1, 2], [3, 4]]")
    _close(fn(np.array([[5.0, 5], [5, 1]]), np.array([[2.0]])), [[2, 0], [0, 0]],
           "a three-way tie: everything goes to the first maximum in row-major order")
    rng = np.random.default_rng(20)
    for shape in [(2, 2), (4, 6), (6, 4)]:
        a, gy = rng.standard_normal(shape), rng.standard_normal((shape[0] // 2, shape[1] // 2))
        ga = np.asarray(fn(a, gy), dtype=float)
        # max pooling is positively homogeneous (pool(t a) = t pool(a)), so <gy, pool(a)> = <ga, a>
        assert np.isclose(np.sum(gy * _pool(a)), np.sum(ga * a)), f"{shape}: <gy, pool(a)> != <ga, a>"
        _gradcheck(_pool, lambda g, a: (fn(a, g),), [a])
    return "correct"


def check_conv_param_count(fn):
    _own_work(fn, "conv_param_count")
    for (c_in, c_out, k, d), want in [((1, 8, 3, 2), 80), ((8, 16, 5, 2), 3216), ((3, 16, 5, 3), 6016),
                                      ((1, 16, 5, 1), 96)]:
        got = fn(c_in, c_out, k, d)
        assert got == want, f"c_in={c_in}, c_out={c_out}, k={k}, {d}D: expected {want}, got {got}"
    return "correct"


def _bn(x, gamma, beta, eps):
    return gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + beta


def check_batch_norm_forward(fn):
    _own_work(fn, "batch_norm_forward")
    # by hand: the column (1, 3) has mean 2 and (biased) variance 1
    _close(fn(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), 0.0), [[-1], [1]], "x = [[1], [3]], eps = 0")
    _close(fn(np.array([[1.0], [3.0]]), np.array([2.0]), np.array([0.5]), 0.0), [[-1.5], [2.5]],
           "x = [[1], [3]], gamma = 2, beta = 0.5, eps = 0")
    rng = np.random.default_rng(21)
    x = rng.standard_normal((16, 5)) * 3 + 7
    gamma, beta = rng.uniform(0.5, 2, 5), rng.standard_normal(5)
    y = np.asarray(fn(x, gamma, beta, 0.0), dtype=float)
    _close(y.mean(0), beta, "the mean of each output column (must be beta)")
    _close(y.std(0), gamma, "the standard deviation of each output column (must be gamma; divide by N)")
    return "correct"


def check_batch_norm_backward(fn):
    _own_work(fn, "batch_norm_backward")
    rng = np.random.default_rng(22)
    for n, c in [(4, 1), (8, 3)]:
        x, gamma, beta = rng.standard_normal((n, c)), rng.uniform(0.5, 2, c), rng.standard_normal(c)
        gy = rng.standard_normal((n, c))
        gx, g_gamma, g_beta = (np.asarray(v, dtype=float) for v in fn(gy, x, gamma, 1e-5))
        _close(g_beta, gy.sum(0), "dL/dbeta (beta is added to every row)")
        _close(gx.sum(0), np.zeros(c), "the column sums of dL/dx (shifting a column leaves the output unchanged)",
               atol=1e-8)
        _gradcheck(lambda x, g, b: _bn(x, g, b, 1e-5), lambda gy, x, g, b: fn(gy, x, g, 1e-5), [x, gamma, beta])
    return "correct"
