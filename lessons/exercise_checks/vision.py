"""Checks of lessons 08-10: style transfer, receptive fields and top-k, 1D and 3D convolutions."""

from __future__ import annotations

import numpy as np

from ._common import _close, _gradcheck, _numeric_grad, _own_work  # noqa: F401


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
        assert np.isclose(got, _style_cost(a_S, a_G), rtol=1e-8), (
            f"shape {shape}: expected {_style_cost(a_S, a_G):.8g}, got {got:.8g}")
    return "correct"


def check_style_cost_grad(fn):
    _own_work(fn, "style_cost_grad")
    # by hand, one channel and one position: J = (s^2 - g^2)^2 / 4, dJ/dg = -g (s^2 - g^2) = -3 at s = 2, g = 1
    _close(fn(np.full((1, 1, 1), 2.0), np.ones((1, 1, 1))), [[[-3]]], "a_S = 2, a_G = 1")
    rng = np.random.default_rng(89)
    for shape in [(2, 2, 3), (4, 3, 3)]:
        a_S, a_G = rng.standard_normal(shape), rng.standard_normal(shape)
        grad = np.asarray(fn(a_S, a_G), dtype=float)
        _close(grad, _numeric_grad(lambda v, a_S=a_S: _style_cost(a_S, v), a_G), f"shape {shape}: finite differences",
               atol=1e-7, rtol=1e-4)
        _gradcheck(lambda g, a_S=a_S: _style_cost(a_S, g), lambda gy, g, a_S=a_S: (gy * fn(a_S, g),), [a_G])
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
        assert np.allclose(got, want), (
            f"trial {trial}: expected (Se, PPV) = {np.round(want, 4)}, got {np.round(got, 4)}")
    return "correct"


# ----------------------------------------------------------------- lesson 12
class _Counted(float):
    """A float that counts the multiplications between two counted values (not by constants)."""

    products = 0

    def __mul__(self, other):
        if isinstance(other, _Counted):
            _Counted.products += 1
        return _Counted(float(self) * float(other))

    __rmul__ = __mul__

    def __add__(self, other):
        return _Counted(float(self) + float(other))

    __radd__ = __add__

    def __sub__(self, other):
        return _Counted(float(self) - float(other))

    def __rsub__(self, other):
        return _Counted(float(other) - float(self))

    def __truediv__(self, other):
        return _Counted(float(self) / float(other))

    def __neg__(self):
        return _Counted(-float(self))


def check_f23(fn):
    """Compares with the direct correlation, and counts input-by-filter multiplications (must be 4)."""
    _own_work(fn, "f23")
    rng = np.random.default_rng(12)
    for _ in range(5):
        d, g = rng.standard_normal(4), rng.standard_normal(3)
        want = np.array([d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]])
        _Counted.products = 0
        got = np.asarray([float(v) for v in fn([_Counted(v) for v in d], [_Counted(v) for v in g])])
        assert got.shape == (2,), f"expected 2 outputs, got shape {got.shape}"
        assert np.allclose(got, want), f"d={d}, g={g}: expected {want}, got {got}"
        assert _Counted.products == 4, (
            f"expected 4 multiplications of an input by a filter value, counted {_Counted.products}")
    return "correct"


def check_winograd_multiplies(fn):
    _own_work(fn, "winograd_multiplies")
    cases = [((1, 1, 1, 2, 2, None), 36), ((1, 1, 1, 2, 2, 2), 16), ((1, 1, 1, 4, 4, 4), 36),
             ((1, 1, 1, 3, 3, 2), 64), ((8, 64, 64, 56, 56, None), 9 * 8 * 64 * 64 * 56 * 56),
             ((8, 64, 64, 56, 56, 4), 36 * 8 * 64 * 64 * 14 * 14), ((2, 3, 5, 7, 9, 4), 36 * 2 * 3 * 5 * 2 * 3)]
    for args, want in cases:
        got = int(fn(*args))
        assert got == want, f"multiplies{args}: expected {want}, got {got}"
    return "correct"
