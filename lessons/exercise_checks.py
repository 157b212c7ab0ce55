"""The checks of the lesson exercises.

Each ``check_<name>(fn)`` tests a learner's ``fn`` against values worked out by hand, central
finite differences, identities (the adjoint identity of a linear map, Euler's identity of a
piecewise-linear one) or a deliberately plain loop written here -- never against the minicnn
function that the exercise re-derives. A function whose code refers to minicnn, or to the
published solutions, is refused: the point is to write it.
It returns "correct", or raises with the first case that fails.
"""

from __future__ import annotations

import os
import types

import numpy as np

import minicnn as mc

SWITCH = "MINICNN_SOLUTIONS"


def solutions_enabled() -> bool:
    """True when ``MINICNN_SOLUTIONS=1``: the notebooks then run on the published solutions."""
    return os.environ.get(SWITCH, "") == "1"


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _is_forbidden(obj) -> bool:
    name = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None) or ""
    return isinstance(name, str) and name.split(".")[0] in ("minicnn", "solutions")


def _own_work(fn, exercise):
    """Refuse ``fn`` when it is the published solution or calls minicnn / the solutions."""
    assert callable(fn), f"{exercise}: expected a function, got {type(fn).__name__}"
    home = (getattr(fn, "__module__", None) or "").split(".")[0]
    if home == "solutions":
        assert solutions_enabled(), f"{exercise}: that is the published solution -- write your own"
        return
    code = getattr(fn, "__code__", None)
    if code is None:
        return
    scope = dict(getattr(fn, "__globals__", {}))
    for cell, var in zip(fn.__closure__ or (), code.co_freevars):
        try:
            scope[var] = cell.cell_contents
        except ValueError:                         # an empty cell
            pass
    for c in _code_objects(code):
        for name in c.co_names + c.co_freevars:
            top = name.split(".")[0]
            if top in ("minicnn", "solutions") or (name in scope and _is_forbidden(scope[name])):
                raise AssertionError(f"{exercise}: your function uses {name!r}, which is minicnn or the "
                                     f"published solution; write the computation with NumPy")


def _close(got, want, what, atol=1e-8, rtol=1e-6):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: expected shape {want.shape}, got {got.shape}"
    assert np.allclose(got, want, atol=atol, rtol=rtol), f"{what}: expected\n{want}\ngot\n{got}"


def _numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64), one element at a time."""
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        hi = f(x)
        x[i] = old - eps
        lo = f(x)
        x[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


class _Wrapped(mc.Function):
    """A Function whose forward is written here and whose backward is the learner's."""

    def __init__(self, forward, backward):
        self._forward, self._backward = forward, backward

    def forward(self, *arrays):
        self.arrays = arrays
        return np.asarray(self._forward(*arrays), dtype=float)

    def backward(self, gy):
        return tuple(None if g is None else np.asarray(g, dtype=float) for g in self._backward(gy, *self.arrays))


def _gradcheck(forward, backward, arrays, check=None):
    """``mc.gradcheck`` of the learner's backward; ``check`` marks which arrays are differentiated."""
    check = check or [True] * len(arrays)
    tensors = [mc.Tensor(np.asarray(a, dtype=float), requires_grad=c) for a, c in zip(arrays, check)]
    mc.gradcheck(lambda *t: _Wrapped(forward, backward)(*t), tensors)


# ----------------------------------------------------------------- lesson 00
def check_sigmoid_backward(fn):
    _own_work(fn, "sigmoid_backward")
    sig = lambda v: 1 / (1 + np.exp(-v))
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
        assert np.isclose(np.sum(gy * _conv1d(x, w)), np.sum(gx * x)), "the adjoint identity <gy, Wx> = <W^T gy, x> fails"
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


# ----------------------------------------------------------------- lesson 03
def check_false_accept_probability(fn):
    _own_work(fn, "false_accept_probability")
    cases = [((0.01, 1), 0.01), ((0.01, 100), 0.6339676587), ((0.0, 50), 0.0), ((0.5, 2), 0.75)]
    for (far, k), want in cases:
        got = float(np.asarray(fn(far, k)))
        assert np.isclose(got, want, atol=1e-8), f"far={far}, K={k}: expected {want:.6f}, got {got}"
    ks = np.array([1, 10, 100])
    got = np.asarray(fn(0.02, ks), dtype=float)
    assert got.shape == ks.shape, f"K as an array {ks}: expected shape {ks.shape}, got {got.shape}"
    # Monte-Carlo: K independent comparisons, each a false accept with probability far
    rng = np.random.default_rng(3)
    sim = (rng.random((200_000, 10)) < 0.05).any(axis=1).mean()
    assert abs(float(np.asarray(fn(0.05, 10))) - sim) < 0.01, f"simulation says {sim:.3f}"
    return "correct"


def check_identify(fn):
    _own_work(fn, "identify")
    gallery, names = np.array([[0.0, 0], [1, 0], [0, 2]]), ["ann", "bob", "cy"]
    for q, tau, want in [([0.9, 0.1], 0.5, "bob"), ([0.1, 1.9], 0.5, "cy"), ([0.5, 1.0], 0.5, None),
                         ([0.5, 1.0], 1.5, "ann")]:
        got = fn(gallery, names, np.array(q), tau)
        assert got == want, f"gallery {gallery.tolist()}, query {q}, tau {tau}: expected {want!r}, got {got!r}"
    rng = np.random.default_rng(4)
    gallery = rng.standard_normal((6, 8))
    names = [f"person{k}" for k in range(6)]
    for t in range(20):
        q = gallery[t % 6] + rng.normal(0, 0.1 + 0.1 * t, 8)
        d = [sum((g_i - q_i) ** 2 for g_i, q_i in zip(g, q)) for g in gallery]
        best = min(range(6), key=lambda k: d[k])
        want = names[best] if d[best] <= 2.0 else None
        got = fn(gallery, names, q, 2.0)
        assert got == want, f"query {t}: expected {want!r} (distances {np.round(d, 3)}), got {got!r}"
    return "correct"


# ----------------------------------------------------------------- lesson 04
def check_roc_point(fn):
    _own_work(fn, "roc_point")
    d, same = np.array([0.1, 0.5, 0.9, 0.3]), np.array([True, True, False, False])
    for tau, want in [(0.4, (0.5, 0.5)), (0.5, (0.5, 1.0)), (0.05, (0.0, 0.0)), (1.0, (1.0, 1.0))]:
        got = tuple(float(v) for v in fn(d, same, tau))
        assert np.allclose(got, want), f"d={d}, same={same}, tau={tau}: expected (far, tar) = {want}, got {got}"
    rng = np.random.default_rng(40)
    same = rng.random(300) < 0.5
    d = np.where(same, rng.gamma(2.0, 0.3, 300), rng.gamma(4.0, 0.3, 300)).round(2)   # rounding makes ties
    for tau in (0.3, 0.6, 1.11, 2.0):
        accepted_diff = sum(1 for v, s in zip(d, same) if not s and v <= tau)
        accepted_same = sum(1 for v, s in zip(d, same) if s and v <= tau)
        want = (accepted_diff / np.sum(~same), accepted_same / np.sum(same))
        got = tuple(float(v) for v in fn(d, same, tau))
        assert np.allclose(got, want), f"tau={tau}: expected (far, tar) = {np.round(want, 4)}, got {got}"
    return "correct"


def _auc_by_ranks(d, same):
    """Mann-Whitney: AUC = (rank sum of the different pairs - n(n+1)/2) / (n_same n_diff), ties averaged."""
    order = np.argsort(d, kind="stable")
    ranks = np.empty(len(d))
    ranks[order] = np.arange(1, len(d) + 1)
    for v in np.unique(d):                      # tied values share their mean rank
        ranks[d == v] = ranks[d == v].mean()
    n_diff = np.sum(~same)
    return (ranks[~same].sum() - n_diff * (n_diff + 1) / 2) / (n_diff * np.sum(same))


def check_auc_by_counting(fn):
    _own_work(fn, "auc_by_counting")
    got = float(fn(np.array([0.1, 0.4, 0.4, 0.9]), np.array([True, True, False, False])))
    assert np.isclose(got, 0.875), f"d = (0.1, 0.4 | 0.4, 0.9): 3 wins and a tie of 4 couples = 0.875, got {got}"
    rng = np.random.default_rng(41)
    for n, scale in [(50, 0.3), (200, 1.0), (31, 3.0)]:
        same = rng.random(n) < 0.4
        same[:2] = [True, False]
        d = (rng.standard_normal(n) * scale + np.where(same, 0.0, 1.0)).round(1)
        want = _auc_by_ranks(d, same)
        got = float(fn(d, same))
        assert np.isclose(got, want), f"n={n}: expected AUC {want:.6f}, got {got:.6f} (did you count ties as 1/2?)"
    return "correct"


# ----------------------------------------------------------------- lesson 05
def check_distance_grads(fn):
    _own_work(fn, "distance_grads")
    g1, g2 = fn(np.array([1.0, 2.0]), np.array([0.0, 4.0]))
    _close(g1, [2, -4], "f1 = (1, 2), f2 = (0, 4): dd/df1")
    _close(g2, [-2, 4], "f1 = (1, 2), f2 = (0, 4): dd/df2")
    rng = np.random.default_rng(50)
    for dim in (2, 5, 16):
        a, b = rng.standard_normal(dim), rng.standard_normal(dim)
        g1, g2 = fn(a, b)
        _close(g1, _numeric_grad(lambda v: np.sum((v - b) ** 2), a), f"D={dim}: dd/df1", atol=1e-6)
        _close(g2, _numeric_grad(lambda v: np.sum((a - v) ** 2), b), f"D={dim}: dd/df2", atol=1e-6)
    return "correct"


def check_contrastive(fn):
    _own_work(fn, "contrastive")
    # by hand: D = 5 (same: 25), D = 0.5 (different: (1 - 0.5)^2), D = 5 (different, beyond m: 0)
    x1, x2 = np.zeros((3, 2)), np.array([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]])
    got = float(fn(x1, x2, np.array([True, False, False]), 1.0))
    assert np.isclose(got, 25.25 / 3), f"the hand-worked case: expected {25.25 / 3:.6f}, got {got:.6f}"
    rng = np.random.default_rng(51)
    for n, dim, m in [(6, 4, 1.0), (20, 16, 0.5), (3, 2, 2.0)]:
        x1, x2 = rng.standard_normal((n, dim)) * 0.4, rng.standard_normal((n, dim)) * 0.4
        same = rng.random(n) < 0.5
        terms = []
        for u, v, s in zip(x1, x2, same):
            dist = np.sqrt(np.sum((u - v) ** 2))
            terms.append(dist ** 2 if s else max(m - dist, 0.0) ** 2)
        got = float(fn(x1, x2, same, m))
        assert np.isclose(got, np.mean(terms)), f"n={n}, D={dim}, m={m}: expected {np.mean(terms):.6f}, got {got:.6f}"
    return "correct"


# ----------------------------------------------------------------- lesson 06
def check_triplet_cost(fn):
    _own_work(fn, "triplet_cost")
    course = [([1., 1.], [1., 1.], [1., 1.], 5, 5.0), ([1., 1.], [1., 1.], [0., 0.], 3, 1.0),
              ([1., 1.], [0., 0.], [1., 1.], 0, 2.0), ([0., 0.], [0., 0.], [0., 0.], -2, 0.0),
              ([[1., 0.], [1., 0.]], [[1., 0.], [1., 0.]], [[0., 1.], [0., 1.]], 3, 2.0),
              ([[1., 1.], [2., 0.]], [[0., 3.], [1., 1.]], [[1., 0.], [0., 1.]], 1, 5.0)]
    for A, P, N, alpha, want in course:
        got = float(fn(np.array(A), np.array(P), np.array(N), alpha))
        hint = " (sum the squares per triplet, axis=-1, before the max)" if np.ndim(A) == 2 else ""
        assert np.isclose(got, want), f"A={A}, P={P}, N={N}, alpha={alpha}: expected {want}, got {got}{hint}"
    rng = np.random.default_rng(60)
    for m, dim in [(5, 8), (30, 16)]:
        A, P, N = (rng.standard_normal((m, dim)) * 0.3 for _ in range(3))
        want = sum(max(np.sum((a - p) ** 2) - np.sum((a - n) ** 2) + 0.2, 0.0) for a, p, n in zip(A, P, N))
        got = float(fn(A, P, N, 0.2))
        assert np.isclose(got, want), f"random encodings ({m}, {dim}): expected {want:.6f}, got {got:.6f}"
    return "correct"


def _batch(rng, P, K, spread):
    labels = np.repeat(np.arange(P), K)
    emb = rng.standard_normal((P, 8))[labels] * spread + rng.standard_normal((P * K, 8)) * 0.3
    return ((emb[:, None] - emb[None]) ** 2).sum(-1), labels


def check_triplet_shares(fn):
    _own_work(fn, "triplet_shares")
    dist = np.array([[0, 1.0, 1.1, 3.0], [1.0, 0, 0.5, 3.0], [1.1, 0.5, 0, 1], [3.0, 3.0, 1, 0]])
    # triplets (a,p,n): (0,1,2) semi-hard, (0,1,3) easy, (1,0,2) hard, (1,0,3) easy
    got = tuple(float(v) for v in fn(dist, np.array([0, 0, 1, 2]), 0.2))
    assert np.allclose(got, (0.5, 0.25, 0.25)), f"the hand-worked 4x4 case: expected (0.5, 0.25, 0.25), got {got}"
    rng = np.random.default_rng(61)
    for P, K, spread in [(4, 3, 0.3), (3, 4, 1.0), (3, 2, 0.1)]:
        dist, labels = _batch(rng, P, K, spread)
        kinds = []
        for a in range(len(labels)):
            for p in range(len(labels)):
                for n in range(len(labels)):
                    if a != p and labels[a] == labels[p] and labels[n] != labels[a]:
                        dap, dan = dist[a, p], dist[a, n]
                        kinds.append("easy" if dan >= dap + 0.2 else "hard" if dan <= dap else "semi")
        want = tuple(kinds.count(k) / len(kinds) for k in ("easy", "semi", "hard"))
        got = tuple(float(v) for v in fn(dist, labels, 0.2))
        assert np.allclose(got, want), (f"P={P}, K={K}: expected (easy, semihard, hard) = {np.round(want, 4)}, "
                                        f"got {np.round(got, 4)}")
    return "correct"


def check_semi_hard(fn):
    _own_work(fn, "semi_hard")
    labels = np.array([0, 0, 1, 2])
    dist = np.array([[0, 1.0, 1.5, 0.5], [1.0, 0, 0.8, 2.0], [1.5, 0.8, 0, 1], [0.5, 2.0, 1, 0]])
    got = [tuple(int(v) for v in t) for t in zip(*fn(dist, labels))]
    assert got == [(0, 1, 2), (1, 0, 3)], (
        f"hand-worked case: (0,1): negatives at 1.5 and 0.5, nearest farther than 1.0 is 2; (1,0): 0.8 and 2.0 "
        f"-> 3. Expected [(0, 1, 2), (1, 0, 3)], got {got}")
    dist = dist.copy()
    dist[0, 1] = dist[1, 0] = 3.0                # now no negative of anchor 0 is farther than its positive
    got = [tuple(int(v) for v in t) for t in zip(*fn(dist, labels))]
    assert got == [(0, 1, 2), (1, 0, 3)], (f"d(0, 1) = 3: no negative is farther than the positive, so take the "
                                           f"farthest negative (the least hard). Expected [(0, 1, 2), (1, 0, 3)], "
                                           f"got {got}")
    rng = np.random.default_rng(62)
    for P, K, spread in [(4, 3, 0.3), (5, 4, 1.0)]:
        dist, labels = _batch(rng, P, K, spread)
        a, p, n = (np.asarray(v).astype(int) for v in fn(dist, labels))
        pairs = [(i, j) for i in range(len(labels)) for j in range(len(labels)) if i != j and labels[i] == labels[j]]
        assert sorted(zip(a.tolist(), p.tolist())) == pairs, "expected one triplet per (anchor, positive) pair"
        for i, j, k in zip(a, p, n):
            negs = [m for m in range(len(labels)) if labels[m] != labels[i]]
            farther = [m for m in negs if dist[i, m] > dist[i, j]]
            want = min(farther, key=lambda m: dist[i, m]) if farther else max(negs, key=lambda m: dist[i, m])
            assert k == want, f"anchor {i}, positive {j}: expected negative {want}, got {k}"
    return "correct"


# ----------------------------------------------------------------- lesson 07
def check_chi2_features(fn):
    _own_work(fn, "chi2_features")
    a, b = np.array([[0.2, 0.5, 0.0, 0.9, -1.0, 0.0]]), np.array([[0.1, 0.5, 0.3, 0.4, 1.0, 0.0]])
    _close(fn(a, b, 1e-6), [[0.01 / 0.3, 0, 0.09 / 0.3, 0.25 / 1.3, 4 / 2, 0]],
           "hand-worked entries (the last: a = b = 0 gives 0)", atol=1e-5)
    rng = np.random.default_rng(70)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    want = [[(u - v) ** 2 / (abs(u) + abs(v) + 1e-6) for u, v in zip(ra, rb)] for ra, rb in zip(a, b)]
    _close(fn(a, b, 1e-6), want, "random (3, 4) encodings")
    return "correct"


def check_head_probability(fn):
    _own_work(fn, "head_probability")
    got = np.asarray(fn(np.array([[1.0, 2.0]]), np.zeros((1, 2)), np.array([1.0, -1.0]), 0.5), dtype=float)
    _close(got, [1 / (1 + np.exp(0.5))], "f1 = (1, 2), f2 = 0, w = (1, -1), b = 0.5: z = -0.5")
    rng = np.random.default_rng(71)
    f1, f2, w = rng.standard_normal((5, 8)), rng.standard_normal((5, 8)), rng.standard_normal(8)
    want = [1 / (1 + np.exp(-(sum(wk * abs(u - v) for wk, u, v in zip(w, r1, r2)) - 0.3))) for r1, r2 in zip(f1, f2)]
    _close(fn(f1, f2, w, -0.3), want, "random (5, 8) encodings")
    return "correct"


# ----------------------------------------------------------------- lesson 08
def check_gram_channels_last(fn):
    _own_work(fn, "gram_channels_last")
    a = np.array([[[1.0, 2.0], [3.0, 4.0]]])          # (n_H, n_W, n_C) = (1, 2, 2)
    _close(fn(a), [[10, 14], [14, 20]], "a[0, 0] = (1, 2), a[0, 1] = (3, 4): G = [[1+9, 2+12], [2+12, 4+16]]")
    rng = np.random.default_rng(8)
    for shape in [(4, 5, 3), (2, 7, 6)]:
        a = rng.standard_normal(shape)
        want = np.zeros((shape[2], shape[2]))
        for i in range(shape[0]):
            for j in range(shape[1]):
                want += np.outer(a[i, j], a[i, j])       # sum over positions of a_ijk a_ijk'
        got = np.asarray(fn(a), dtype=float)
        assert got.shape == want.shape, f"a of shape {shape}: expected a {want.shape} matrix, got {got.shape}"
        assert np.allclose(got, want), (f"a of shape {shape}: wrong values -- did you reshape(n_C, -1) the "
                                        f"channels-last volume?")
    return "correct"


def _style_cost(a_S, a_G):
    n_c, n_h, n_w = a_G.shape
    gs, gg = np.einsum("chw,khw->ck", a_S, a_S), np.einsum("chw,khw->ck", a_G, a_G)
    return np.sum((gs - gg) ** 2) / (2 * n_h * n_w * n_c) ** 2


def check_style_cost_layer(fn):
    _own_work(fn, "style_cost_layer")
    got = float(fn(np.full((1, 1, 1), 2.0), np.ones((1, 1, 1))))
    assert np.isclose(got, 2.25), f"one channel, one position, a_S = 2, a_G = 1: (4 - 1)^2 / 2^2 = 2.25, got {got}"
    rng = np.random.default_rng(88)
    for shape in [(3, 4, 4), (8, 5, 7), (1, 2, 3)]:
        a_S, a_G = rng.standard_normal(shape), rng.standard_normal(shape)
        got = float(fn(a_S, a_G))
        assert np.isclose(got, _style_cost(a_S, a_G), rtol=1e-8), f"shape {shape}: expected {_style_cost(a_S, a_G):.8g}, got {got:.8g}"
    return "correct"


def check_style_cost_grad(fn):
    _own_work(fn, "style_cost_grad")
    # by hand, one channel and one position: J = (s^2 - g^2)^2 / 4, dJ/dg = -g (s^2 - g^2) = -3 at s = 2, g = 1
    _close(fn(np.full((1, 1, 1), 2.0), np.ones((1, 1, 1))), [[[-3]]], "a_S = 2, a_G = 1")
    rng = np.random.default_rng(89)
    for shape in [(2, 2, 3), (4, 3, 3)]:
        a_S, a_G = rng.standard_normal(shape), rng.standard_normal(shape)
        grad = np.asarray(fn(a_S, a_G), dtype=float)
        _close(grad, _numeric_grad(lambda v: _style_cost(a_S, v), a_G), f"shape {shape}: finite differences",
               atol=1e-7, rtol=1e-4)
        _gradcheck(lambda g: _style_cost(a_S, g), lambda gy, g: (gy * fn(a_S, g),), [a_G])
    return "correct"


# ----------------------------------------------------------------- lesson 09
def check_receptive_field_size(fn):
    _own_work(fn, "receptive_field_size")
    chains = [([(3, 1)], (3, 1)), ([(3, 1), (2, 2), (3, 1)], (8, 2)),
              ([(5, 1), (2, 2), (5, 1), (2, 2), (3, 1)], (24, 4)),
              ([(11, 4), (3, 2), (5, 1), (3, 2), (3, 1)], (99, 16)), ([(3, 2), (3, 2), (3, 2)], (15, 8)),
              ([(3, 1, 2)], (5, 1)), ([(3, 1, 1), (3, 1, 2), (3, 1, 4)], (15, 1)), ([(3, 2, 1), (3, 1, 2)], (11, 2))]
    for chain, want in chains:
        got = tuple(int(v) for v in fn(chain))
        assert got == want, f"layers (k, s[, d]) = {chain}: expected (r, j) = {want}, got {got}"
    return "correct"


def check_top_k_images(fn):
    _own_work(fn, "top_k_images")
    acts = np.array([[[0.0, 1]], [[3, 0]], [[2, 2]], [[3, -1]]])
    got = np.asarray(fn(acts, 3)).astype(int).tolist()
    assert got == [1, 3, 2], f"maxima (1, 3, 2, 3): expected [1, 3, 2] (the tie: smaller index first), got {got}"
    rng = np.random.default_rng(9)
    acts = rng.standard_normal((40, 5, 5))
    acts[7] = acts[3]                          # a tie: image 3 must come before image 7
    ranked = sorted(range(40), key=lambda i: (-acts[i].max(), i))
    for k in (1, 9, 40):
        got = np.asarray(fn(acts, k)).astype(int)
        assert got.shape == (k,), f"k={k}: expected {k} indices, got shape {got.shape}"
        assert got.tolist() == ranked[:k], f"k={k}: expected {ranked[:10]}..., got {got[:10]}..."
    return "correct"


# ----------------------------------------------------------------- lesson 10
def check_conv_output_shape(fn):
    _own_work(fn, "conv_output_shape")
    cases = [(((1, 14), 16, 5, 0, 1), (16, 10)), (((16, 10), 32, 5, 0, 1), (32, 6)),
             (((1, 14, 14, 14), 16, 5, 0, 1), (16, 10, 10, 10)), (((3, 9, 7), 4, 3, 1, 2), (4, 5, 4)),
             (((2, 8, 9, 10), 3, 3, 1, 2), (3, 4, 5, 5)), (((1, 20), 2, 4, 0, 3), (2, 6))]
    for args, want in cases:
        got = tuple(int(v) for v in fn(*args))
        assert got == want, f"in_shape, c_out, f, p, s = {args}: expected {want}, got {got}"
    return "correct"


def check_se_ppv(fn):
    _own_work(fn, "se_ppv")
    for ref, det, tol, want in [([100, 200, 300], [95, 210, 260, 305], 10, (1.0, 0.75)),
                                ([100, 110], [105], 10, (0.5, 1.0)), ([100, 200], [150], 10, (0.0, 0.0))]:
        got = tuple(float(v) for v in fn(np.array(ref), np.array(det), tol))
        assert np.allclose(got, want), f"reference {ref}, detections {det}, tolerance {tol}: expected {want}, got {got}"
    rng = np.random.default_rng(10)
    tol = 18
    for trial in range(6):
        ref = np.sort(rng.choice(np.arange(100, 20000), size=30, replace=False))
        det = ref + rng.integers(-2 * tol, 2 * tol + 1, size=len(ref))
        det = np.sort(np.concatenate([det[rng.random(len(det)) > 0.15], rng.integers(0, 20100, size=trial)]))
        free, tp = list(det), 0
        for r in ref:                          # each beat takes the earliest free detection within tol
            near = [d for d in free if abs(d - r) <= tol]
            if near:
                free.remove(min(near))
                tp += 1
        want = (tp / len(ref), tp / len(det))
        got = tuple(float(v) for v in fn(ref, det, tol))
        assert np.allclose(got, want), f"trial {trial}: expected (Se, PPV) = {np.round(want, 4)}, got {np.round(got, 4)}"
    return "correct"
