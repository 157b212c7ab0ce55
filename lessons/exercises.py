"""Checks for the lesson exercises, and reference solutions.

Each lesson ends with exercises. An exercise cell starts out calling the
solution from this file so that the notebook runs from top to bottom; delete
that line, write your own code, and run the check cell below it: the check
tests your answer against values worked out independently (finite
differences, PyTorch-free hand computations).
"""

from __future__ import annotations

import numpy as np

import minicnn as mc


# ----------------------------------------------------------------- lesson 00
def solution_sigmoid_backward(y, gy):
    """sigmoid'(x) = sigmoid(x) (1 - sigmoid(x)) = y (1 - y)."""
    return gy * y * (1 - y)


def check_sigmoid_backward(fn):
    """``fn(y, gy)`` must return dL/dx for y = sigmoid(x)."""
    x = np.linspace(-3, 3, 7)
    y = 1 / (1 + np.exp(-x))
    gy = np.arange(1.0, 8.0)
    eps = 1e-6
    numeric = gy * (1 / (1 + np.exp(-(x + eps))) - 1 / (1 + np.exp(-(x - eps)))) / (2 * eps)
    got = np.asarray(fn(y, gy), dtype=float)
    assert got.shape == x.shape, f"expected shape {x.shape}, got {got.shape}"
    assert np.allclose(got, numeric, atol=1e-6), f"expected {numeric}, got {got}"
    return "correct"


def solution_softplus_grad(x):
    """d/dx log(1 + e^x) = sigmoid(x)."""
    return 1 / (1 + np.exp(-x))


def check_softplus_grad(fn):
    x = np.linspace(-4, 4, 9)
    t = mc.Tensor(x.copy(), requires_grad=True)
    (mc.log(1 + mc.exp(t))).sum().backward()
    got = np.asarray(fn(x), dtype=float)
    assert np.allclose(got, t.grad, atol=1e-8), f"expected {t.grad}, got {got}"
    return "correct"


# ----------------------------------------------------------------- lesson 01
def solution_conv_output_size(n, f, p, s):
    """floor((n + 2p - f) / s) + 1"""
    return (n + 2 * p - f) // s + 1


def check_conv_output_size(fn):
    cases = [((6, 3, 0, 1), 4), ((14, 5, 0, 1), 10), ((7, 3, 1, 2), 4), ((64, 4, 0, 2), 31), ((5, 5, 0, 1), 1)]
    for args, want in cases:
        got = fn(*args)
        assert got == want, f"n, f, p, s = {args}: expected {want}, got {got}"
    return "correct"


def solution_conv1d_loop(x, w):
    """Valid 1D convolution of one signal x (L,) with one filter w (K,)."""
    k = len(w)
    return np.array([np.sum(x[i:i + k] * w) for i in range(len(x) - k + 1)])


def check_conv1d_loop(fn):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(12), rng.standard_normal(4)
    want = mc.functional.conv1d(mc.Tensor(x[None, None]), mc.Tensor(w[None, None])).numpy()[0, 0]
    got = np.asarray(fn(x, w), dtype=float)
    assert got.shape == want.shape, f"expected shape {want.shape}, got {got.shape}"
    assert np.allclose(got, want), f"expected {want}, got {got}"
    return "correct"


# ----------------------------------------------------------------- lesson 02
def solution_max_pool_2x2(a):
    """2x2 max pooling with stride 2 of a (H, W) array with even H and W."""
    h, w = a.shape
    return a.reshape(h // 2, 2, w // 2, 2).max(axis=(1, 3))


def check_max_pool_2x2(fn):
    a = np.array([[1, 3, 2, 1], [4, 6, 5, 0], [7, 2, 9, 8], [1, 0, 3, 4]], dtype=float)
    want = np.array([[6, 5], [7, 9]], dtype=float)
    got = np.asarray(fn(a), dtype=float)
    assert got.shape == want.shape and np.allclose(got, want), f"expected\n{want}\ngot\n{got}"
    return "correct"


def solution_conv_param_count(c_in, c_out, k, d=2):
    """Each of the c_out filters has c_in * k^d weights and one bias."""
    return c_out * (c_in * k ** d + 1)


def check_conv_param_count(fn):
    from minicnn import nn

    for c_in, c_out, k, d in [(1, 8, 3, 2), (8, 16, 5, 2), (3, 16, 5, 3), (1, 16, 5, 1)]:
        layer = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[d](c_in, c_out, k)
        want = sum(p.size for p in layer.parameters())
        got = fn(c_in, c_out, k, d)
        assert got == want, f"c_in={c_in}, c_out={c_out}, k={k}, {d}D: expected {want}, got {got}"
    return "correct"


# ----------------------------------------------------------------- lesson 03
def solution_false_accept_probability(far, K):
    """1 - P(no false accept in K independent comparisons) = 1 - (1 - far)^K."""
    return 1.0 - (1.0 - far) ** np.asarray(K, dtype=float)


def check_false_accept_probability(fn):
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


def solution_identify(gallery, names, query, tau):
    """Nearest enrolled encoding by squared distance; None ("not recognised") above tau."""
    d = ((np.asarray(gallery, float) - np.asarray(query, float)) ** 2).sum(axis=1)
    k = int(np.argmin(d))
    return names[k] if d[k] <= tau else None


def check_identify(fn):
    from minicnn.face import FaceDatabase

    rng = np.random.default_rng(4)
    gallery = rng.standard_normal((6, 8))
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    names = [f"person{k}" for k in range(6)]
    db = FaceDatabase(embedding_dim=8, tau=0.5)
    for n, g in zip(names, gallery):
        db.enroll_encodings(n, g)
    for t in range(20):
        q = gallery[t % 6] + rng.normal(0, 0.05 + 0.05 * t, 8)
        dist = db.distances(q)
        best = min(dist, key=dist.get)
        want = best if dist[best] <= db.tau else None
        got = fn(gallery, names, q, db.tau)
        assert got == want, f"query {t}: expected {want!r} (distances {dist}), got {got!r}"
    return "correct"


# ----------------------------------------------------------------- lesson 04
def solution_roc_point(d, same, tau):
    """far = share of different pairs with d <= tau; tar = share of same pairs with d <= tau."""
    d, same = np.asarray(d), np.asarray(same, dtype=bool)
    accept = d <= tau
    return float(accept[~same].mean()), float(accept[same].mean())


def check_roc_point(fn):
    from minicnn.face.metrics import roc_curve

    rng = np.random.default_rng(40)
    same = rng.random(300) < 0.5
    d = np.where(same, rng.gamma(2.0, 0.3, 300), rng.gamma(4.0, 0.3, 300)).round(2)   # rounding makes ties
    far, tar, thr = roc_curve(d, same)
    for k in (0, 5, len(thr) // 2, len(thr) - 1):
        got = tuple(float(v) for v in fn(d, same, thr[k]))
        assert np.allclose(got, (far[k], tar[k])), (
            f"tau={thr[k]:.3f}: expected (far, tar) = ({far[k]:.4f}, {tar[k]:.4f}), got {got}")
    return "correct"


def solution_auc_by_counting(d, same):
    """P(d_different > d_same) + 0.5 P(tie), over all (same pair, different pair) couples."""
    d, same = np.asarray(d, float), np.asarray(same, dtype=bool)
    pos, neg = d[same][:, None], d[~same][None, :]
    return float(np.mean(neg > pos) + 0.5 * np.mean(neg == pos))


def check_auc_by_counting(fn):
    from minicnn.face.metrics import roc_auc

    rng = np.random.default_rng(41)
    for n, scale in [(50, 0.3), (200, 1.0), (31, 3.0)]:
        same = rng.random(n) < 0.4
        same[:2] = [True, False]
        d = (rng.standard_normal(n) * scale + np.where(same, 0.0, 1.0)).round(1)
        want = roc_auc(d, same)
        got = float(fn(d, same))
        assert np.isclose(got, want), f"n={n}: expected AUC {want:.6f}, got {got:.6f} (did you count ties as 1/2?)"
    return "correct"


# ----------------------------------------------------------------- lesson 05
def solution_distance_grads(f1, f2):
    """d = ||f1 - f2||^2: dd/df1 = 2 (f1 - f2), dd/df2 = -2 (f1 - f2)."""
    g = 2.0 * (np.asarray(f1, float) - np.asarray(f2, float))
    return g, -g


def check_distance_grads(fn):
    from minicnn.face.losses import sq_distance

    rng = np.random.default_rng(50)
    for dim in (2, 5, 128):
        a = mc.Tensor(rng.standard_normal(dim), requires_grad=True)
        b = mc.Tensor(rng.standard_normal(dim), requires_grad=True)
        sq_distance(a, b).backward()
        g1, g2 = (np.asarray(g, dtype=float) for g in fn(a.numpy(), b.numpy()))
        assert np.allclose(g1, a.grad), f"D={dim}: dd/df1 expected {a.grad[:4]}..., got {g1[:4]}..."
        assert np.allclose(g2, b.grad), f"D={dim}: dd/df2 expected {b.grad[:4]}..., got {g2[:4]}..."
    return "correct"


def solution_contrastive(x1, x2, same, m=1.0):
    """mean of y D^2 + (1 - y) max(m - D, 0)^2 with the plain (not squared) distance D."""
    dist = np.sqrt(((np.asarray(x1, float) - np.asarray(x2, float)) ** 2).sum(axis=1))
    y = np.asarray(same, dtype=float)
    return float(np.mean(y * dist ** 2 + (1 - y) * np.maximum(m - dist, 0) ** 2))


def check_contrastive(fn):
    from minicnn.face import contrastive_loss

    rng = np.random.default_rng(51)
    for n, dim, m in [(6, 4, 1.0), (20, 16, 0.5), (3, 2, 2.0)]:
        x1, x2 = rng.standard_normal((n, dim)) * 0.4, rng.standard_normal((n, dim)) * 0.4
        same = rng.random(n) < 0.5
        want = contrastive_loss(mc.Tensor(x1), mc.Tensor(x2), same, margin=m).item()
        got = float(fn(x1, x2, same, m))
        assert np.isclose(got, want, rtol=1e-6), f"n={n}, D={dim}, m={m}: expected {want:.6f}, got {got:.6f}"
    return "correct"


# ----------------------------------------------------------------- lesson 06
def solution_triplet_cost(A, P, N, alpha=0.2):
    """sum over triplets of max(||A - P||^2 - ||A - N||^2 + alpha, 0), distances summed on axis -1."""
    A, P, N = (np.asarray(v, dtype=float) for v in (A, P, N))
    pos = ((A - P) ** 2).sum(axis=-1)
    neg = ((A - N) ** 2).sum(axis=-1)
    return float(np.maximum(pos - neg + alpha, 0.0).sum())


def check_triplet_cost(fn):
    from minicnn.face import triplet_loss

    course = [([1., 1.], [1., 1.], [1., 1.], 5, 5.0), ([1., 1.], [1., 1.], [0., 0.], 3, 1.0),
              ([1., 1.], [0., 0.], [1., 1.], 0, 2.0), ([0., 0.], [0., 0.], [0., 0.], -2, 0.0),
              ([[1., 0.], [1., 0.]], [[1., 0.], [1., 0.]], [[0., 1.], [0., 1.]], 3, 2.0),
              ([[1., 1.], [2., 0.]], [[0., 3.], [1., 1.]], [[1., 0.], [0., 1.]], 1, 5.0)]
    for A, P, N, alpha, want in course:
        got = float(fn(np.array(A), np.array(P), np.array(N), alpha))
        hint = " (sum the squares per triplet, axis=-1, before the max)" if np.ndim(A) == 2 else ""
        assert np.isclose(got, want), f"A={A}, P={P}, N={N}, alpha={alpha}: expected {want}, got {got}{hint}"
    rng = np.random.default_rng(60)
    for m, dim in [(5, 8), (30, 128)]:
        A, P, N = (rng.standard_normal((m, dim)) * 0.1 for _ in range(3))
        want = triplet_loss(mc.Tensor(A), mc.Tensor(P), mc.Tensor(N), alpha=0.2).item()
        got = float(fn(A, P, N, 0.2))
        assert np.isclose(got, want), f"random encodings ({m}, {dim}): expected {want:.6f}, got {got:.6f}"
    return "correct"


def solution_triplet_shares(dist, labels, alpha=0.2):
    """All (a, p, n): a != p same label, n another label; classify by d(a,n) against d(a,p)."""
    dist, y = np.asarray(dist, float), np.asarray(labels)
    same = y[:, None] == y[None, :]
    pos = same & ~np.eye(len(y), dtype=bool)
    a, p, n = np.nonzero(pos[:, :, None] & ~same[:, None, :])
    dap, dan = dist[a, p], dist[a, n]
    easy = np.mean(dan >= dap + alpha)
    hard = np.mean(dan <= dap)
    return float(easy), float(1.0 - easy - hard), float(hard)


def check_triplet_shares(fn):
    from minicnn.face.metrics import pairwise_sq_dists
    from minicnn.face.mining import triplet_types

    rng = np.random.default_rng(61)
    for P, K, spread in [(4, 3, 0.3), (6, 4, 1.0), (3, 2, 0.1)]:
        labels = np.repeat(np.arange(P), K)
        centres = rng.standard_normal((P, 16))
        emb = centres[labels] * spread + rng.standard_normal((P * K, 16)) * 0.3
        dist = pairwise_sq_dists(emb)
        want = triplet_types(dist, labels, 0.2)
        got = tuple(float(v) for v in fn(dist, labels, 0.2))
        exp = (want["easy"], want["semihard"], want["hard"])
        assert np.allclose(got, exp), (
            f"P={P}, K={K}: expected (easy, semihard, hard) = {np.round(exp, 4)}, got {np.round(got, 4)}")
    return "correct"


# ----------------------------------------------------------------- lesson 07
def solution_chi2_features(a, b, eps=1e-6):
    """(a - b)^2 / (|a| + |b| + eps), element-wise."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return (a - b) ** 2 / (np.abs(a) + np.abs(b) + eps)


def check_chi2_features(fn):
    from minicnn.face.losses import pair_features

    rng = np.random.default_rng(70)
    for shape in [(3, 4), (10, 128)]:
        a, b = rng.standard_normal(shape), rng.standard_normal(shape)
        a[0, 0] = b[0, 0] = 0.0                   # both zero: the eps keeps it finite
        want = pair_features(mc.Tensor(a), mc.Tensor(b), "chi2").numpy()
        got = np.asarray(fn(a, b), dtype=float)
        assert got.shape == want.shape, f"expected shape {want.shape}, got {got.shape}"
        assert np.allclose(got, want), f"shape {shape}: expected {want.ravel()[:3]}..., got {got.ravel()[:3]}..."
    return "correct"


def solution_head_probability(f1, f2, w, b):
    """sigmoid(sum_k w_k |f1_k - f2_k| + b) per row."""
    z = (np.abs(np.asarray(f1, float) - np.asarray(f2, float)) * np.asarray(w, float)).sum(axis=1) + b
    return 1.0 / (1.0 + np.exp(-z))


def check_head_probability(fn):
    from minicnn.face import PairHead

    rng = np.random.default_rng(71)
    for n, dim in [(5, 8), (20, 128)]:
        head = PairHead(dim=dim, kind="abs")
        head.weight.data[...] = rng.standard_normal(dim).astype(np.float32)
        head.bias.data[...] = np.float32(rng.standard_normal())
        f1, f2 = rng.standard_normal((n, dim)) * 0.1, rng.standard_normal((n, dim)) * 0.1
        want = head.probability(mc.Tensor(f1), mc.Tensor(f2))
        got = np.asarray(fn(f1, f2, head.weight.numpy(), float(head.bias.numpy()[0])), dtype=float)
        assert np.allclose(got, want, atol=1e-6), f"n={n}, D={dim}: expected {want[:3]}..., got {got[:3]}..."
    return "correct"


# ----------------------------------------------------------------- lesson 08
def solution_gram_channels_last(a):
    """Move the channel axis to the front first, then unroll: F (n_C, n_H n_W), G = F F^T."""
    f = np.moveaxis(a, -1, 0).reshape(a.shape[-1], -1)
    return f @ f.T


def check_gram_channels_last(fn):
    from minicnn.style import gram_matrix

    rng = np.random.default_rng(8)
    for shape in [(4, 5, 3), (2, 7, 6), (1, 1, 2)]:
        a = rng.standard_normal(shape)
        want = gram_matrix(mc.Tensor(a), channels_last=True).numpy()
        got = np.asarray(fn(a), dtype=float)
        assert got.shape == want.shape, (
            f"a of shape {shape}: expected a ({shape[-1]}, {shape[-1]}) matrix, got {got.shape}")
        assert np.allclose(got, want), (f"a of shape {shape}: wrong values -- did you reshape before "
                                        f"moving the channel axis to the front?")
    return "correct"


def solution_style_cost_layer(a_S, a_G):
    """1 / (2 n_H n_W n_C)^2 * sum (G(S) - G(G))^2 for channels-first (n_C, n_H, n_W) volumes."""
    n_c, n_h, n_w = a_G.shape
    fs, fg = a_S.reshape(n_c, -1), a_G.reshape(n_c, -1)
    return ((fs @ fs.T - fg @ fg.T) ** 2).sum() / (2 * n_h * n_w * n_c) ** 2


def check_style_cost_layer(fn):
    from minicnn.style import layer_style_cost

    rng = np.random.default_rng(88)
    for shape in [(3, 4, 4), (8, 5, 7), (1, 2, 3)]:
        a_S, a_G = rng.standard_normal(shape), rng.standard_normal(shape)
        want = layer_style_cost(mc.Tensor(a_S), mc.Tensor(a_G)).item()
        got = float(fn(a_S, a_G))
        assert np.isclose(got, want, rtol=1e-8), f"shape {shape}: expected {want:.8g}, got {got:.8g}"
    return "correct"


# ----------------------------------------------------------------- lesson 09
def solution_receptive_field_size(layers):
    """r_l = r_{l-1} + (k - 1) j_{l-1}, j_l = j_{l-1} s, starting from r = j = 1."""
    r, j = 1, 1
    for k, s in layers:
        r, j = r + (k - 1) * j, j * s
    return r, j


def check_receptive_field_size(fn):
    from minicnn import nn
    from minicnn.visualize import receptive_fields

    chains = [[(3, 1)], [(3, 1), (2, 2), (3, 1)], [(5, 1), (2, 2), (5, 1), (2, 2), (3, 1)],
              [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1)], [(3, 2), (3, 2), (3, 2)]]
    for chain in chains:
        layers = [nn.Conv2d(1, 1, k, stride=s) if i % 2 == 0 else nn.MaxPool2d(k, s)
                  for i, (k, s) in enumerate(chain)]
        rf = receptive_fields(layers, ndim=2)[-1]
        want = (rf.size[0], rf.jump[0])
        got = tuple(int(v) for v in fn(chain))
        assert got == want, f"layers (k, s) = {chain}: expected (r, j) = {want}, got {got}"
    return "correct"


def solution_top_k_images(acts, k):
    """Rank images by their largest activation (stable sort keeps the smaller index first)."""
    best = acts.reshape(len(acts), -1).max(axis=1)
    return np.argsort(-best, kind="stable")[:k]


def check_top_k_images(fn):
    from minicnn.visualize.top_patches import exhaustive_top_patches

    rng = np.random.default_rng(9)
    acts = rng.standard_normal((40, 5, 5))
    acts[7] = acts[3]                          # a tie: image 3 must come before image 7
    for k in (1, 9, 40):
        _, want, _ = exhaustive_top_patches(acts[:, None], k)
        got = np.asarray(fn(acts, k)).astype(int)
        assert got.shape == (k,), f"k={k}: expected {k} indices, got shape {got.shape}"
        assert np.array_equal(got, want[0]), f"k={k}: expected {want[0][:10]}..., got {got[:10]}..."
    return "correct"


# ----------------------------------------------------------------- lesson 10
def solution_conv_output_shape(in_shape, c_out, f, p=0, s=1):
    """(C_in, *spatial) -> (c_out, *[floor((n + 2p - f) / s) + 1 for n in spatial])."""
    return (c_out,) + tuple((n + 2 * p - f) // s + 1 for n in in_shape[1:])


def check_conv_output_shape(fn):
    from minicnn import nn

    layers = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
    cases = [((1, 14), 16, 5, 0, 1), ((16, 10), 32, 5, 0, 1), ((1, 14, 14, 14), 16, 5, 0, 1),
             ((3, 9, 7), 4, 3, 1, 2), ((2, 8, 9, 10), 3, 3, 1, 2), ((1, 20), 2, 4, 0, 3)]
    for in_shape, c_out, f, p, s in cases:
        conv = layers[len(in_shape) - 1](in_shape[0], c_out, f, stride=s, padding=p)
        want = tuple(conv(mc.Tensor(np.zeros((1,) + in_shape, np.float32))).shape[1:])
        got = tuple(int(v) for v in fn(in_shape, c_out, f, p, s))
        assert got == want, f"in_shape={in_shape}, c_out={c_out}, f={f}, p={p}, s={s}: expected {want}, got {got}"
    return "correct"


def solution_se_ppv(reference, detected, tolerance):
    """Greedy one-to-one matching in time order, then Se = TP/(TP+FN), PPV = TP/(TP+FP)."""
    ref, det = np.sort(np.asarray(reference)), np.sort(np.asarray(detected))
    tp, j = 0, 0
    for r in ref:
        while j < len(det) and det[j] < r - tolerance:   # too early for this beat and every later one
            j += 1
        if j < len(det) and det[j] <= r + tolerance:
            tp += 1
            j += 1
    se = tp / len(ref) if len(ref) else 1.0
    ppv = tp / len(det) if len(det) else 1.0
    return se, ppv


def check_se_ppv(fn):
    from minicnn.signal import score_beats

    rng = np.random.default_rng(10)
    fs = 360.0
    tol = int(round(0.05 * fs))
    for trial in range(8):
        ref = np.sort(rng.choice(np.arange(100, 20000), size=30, replace=False))
        det = ref + rng.integers(-2 * tol, 2 * tol + 1, size=len(ref))
        keep = rng.random(len(det)) > 0.15                      # some beats missed
        extra = rng.integers(0, 20100, size=trial)              # some false detections
        det = np.sort(np.concatenate([det[keep], extra]))
        want = score_beats(ref, det, fs, tolerance_s=tol / fs)
        se, ppv = (float(v) for v in fn(ref, det, tol))
        assert np.isclose(se, want.sensitivity) and np.isclose(ppv, want.ppv), (
            f"trial {trial}: expected (Se, PPV) = ({want.sensitivity:.4f}, {want.ppv:.4f}), got ({se:.4f}, {ppv:.4f})")
    return "correct"


# ----------------------------------------------------------------- lesson 12
def solution_f23(d, g):
    """Winograd's F(2, 3): m1..m4, then y0 = m1 + m2 + m3, y1 = m2 - m3 - m4."""
    m1 = (d[0] - d[2]) * g[0]
    m2 = (d[1] + d[2]) * ((g[0] + g[1] + g[2]) / 2)
    m3 = (d[2] - d[1]) * ((g[0] - g[1] + g[2]) / 2)
    m4 = (d[1] - d[3]) * g[2]
    return np.array([m1 + m2 + m3, m2 - m3 - m4])


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
    rng = np.random.default_rng(12)
    for _ in range(5):
        d, g = rng.standard_normal(4), rng.standard_normal(3)
        want = np.correlate(d, g, "valid")
        _Counted.products = 0
        got = np.asarray([float(v) for v in fn([_Counted(v) for v in d], [_Counted(v) for v in g])])
        assert got.shape == (2,), f"expected 2 outputs, got shape {got.shape}"
        assert np.allclose(got, want), f"d={d}, g={g}: expected {want}, got {got}"
        assert _Counted.products == 4, f"expected 4 multiplications of an input by a filter value, counted {_Counted.products}"
    return "correct"


def solution_winograd_multiplies(n, c_in, c_out, h, w, m=None):
    """direct: 9 N C_in C_out H W; F(m x m, 3 x 3): (m + 2)^2 multiplies per tile and channel pair."""
    if m is None:
        return 9 * n * c_in * c_out * h * w
    return (m + 2) ** 2 * n * c_in * c_out * -(-h // m) * -(-w // m)


def check_winograd_multiplies(fn):
    cases = [((1, 1, 1, 2, 2, None), 36), ((1, 1, 1, 2, 2, 2), 16), ((1, 1, 1, 4, 4, 4), 36),
             ((1, 1, 1, 3, 3, 2), 64), ((8, 64, 64, 56, 56, None), 9 * 8 * 64 * 64 * 56 * 56),
             ((8, 64, 64, 56, 56, 4), 36 * 8 * 64 * 64 * 14 * 14), ((2, 3, 5, 7, 9, 4), 36 * 2 * 3 * 5 * 2 * 3)]
    for args, want in cases:
        got = int(fn(*args))
        assert got == want, f"multiplies{args}: expected {want}, got {got}"
    return "correct"
