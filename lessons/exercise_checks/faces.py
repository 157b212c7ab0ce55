"""Checks of lessons 03-07: verification, recognition, Siamese networks, triplets, the pair head."""

from __future__ import annotations

import numpy as np

from ._common import _close, _gradcheck, _numeric_grad, _own_work  # noqa: F401


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
        _close(g1, _numeric_grad(lambda v, b=b: np.sum((v - b) ** 2), a), f"D={dim}: dd/df1", atol=1e-6)
        _close(g2, _numeric_grad(lambda v, a=a: np.sum((a - v) ** 2), b), f"D={dim}: dd/df2", atol=1e-6)
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
