"""Reference solutions of the lesson exercises.

Not imported by the notebooks: ``lessons/exercises.py`` holds the stubs a learner fills in.
The tests, and CI's run of every notebook (``MINICNN_SOLUTIONS=1``), use these instead, so
that the notebooks execute from top to bottom without showing a learner any answer.
Plain NumPy only: a solution never calls minicnn (the checks refuse code that does).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "sigmoid_backward", "softplus_grad",
    "conv_output_size", "conv1d_loop", "conv1d_backward_input", "conv1d_backward_weight",
    "max_pool_2x2", "max_pool_2x2_backward", "conv_param_count", "batch_norm_forward", "batch_norm_backward",
    "false_accept_probability", "identify",
    "roc_point", "auc_by_counting",
    "distance_grads", "contrastive",
    "triplet_cost", "triplet_shares", "semi_hard",
    "chi2_features", "head_probability",
    "gram_channels_last", "style_cost_layer", "style_cost_grad",
    "receptive_field_size", "top_k_images",
    "conv_output_shape", "se_ppv",
    "f23", "winograd_multiplies",
]


# ----------------------------------------------------------------- lesson 00
def sigmoid_backward(y, gy):
    # sigma'(x) = sigma(x) (1 - sigma(x)) = y (1 - y)
    return gy * y * (1 - y)


def softplus_grad(x):
    # d/dx log(1 + e^x) = e^x / (1 + e^x) = sigmoid(x)
    return 1 / (1 + np.exp(-x))


# ----------------------------------------------------------------- lesson 01
def conv_output_size(n, f, p, s):
    return (n + 2 * p - f) // s + 1


def conv1d_loop(x, w):
    n_taps = len(w)
    return np.array([np.sum(x[i:i + n_taps] * w) for i in range(len(x) - n_taps + 1)])


def conv1d_backward_input(gy, w, length):
    # y[co, o] = sum_{ci, k} w[co, ci, k] x[ci, o + k]: each output scatters gy * w into its window
    c_out, c_in, n_taps = w.shape
    gx = np.zeros((c_in, length))
    for o in range(gy.shape[1]):
        for co in range(c_out):
            gx[:, o:o + n_taps] += gy[co, o] * w[co]
    return gx


def conv1d_backward_weight(x, gy, n_taps):
    # dL/dw[co, ci, k] = sum_o gy[co, o] x[ci, o + k]: every window the filter saw, weighted
    c_in, c_out = x.shape[0], gy.shape[0]
    gw = np.zeros((c_out, c_in, n_taps))
    for o in range(gy.shape[1]):
        for co in range(c_out):
            gw[co] += gy[co, o] * x[:, o:o + n_taps]
    return gw


# ----------------------------------------------------------------- lesson 02
def max_pool_2x2(a):
    h, w = a.shape
    return a.reshape(h // 2, 2, w // 2, 2).max(axis=(1, 3))


def max_pool_2x2_backward(a, gy):
    # each window's gradient goes to its first maximum in row-major order (the tie rule)
    ga = np.zeros_like(a, dtype=float)
    for i in range(gy.shape[0]):
        for j in range(gy.shape[1]):
            win = a[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            r, c = np.unravel_index(np.argmax(win), win.shape)   # argmax returns the first maximum
            ga[2 * i + r, 2 * j + c] += gy[i, j]
    return ga


def conv_param_count(c_in, c_out, k, d=2):
    return c_out * (c_in * k ** d + 1)


def batch_norm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    var = x.var(axis=0)                       # biased (divide by N), as in training mode
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def batch_norm_backward(gy, x, gamma, eps=1e-5):
    std = np.sqrt(x.var(axis=0) + eps)
    x_hat = (x - x.mean(axis=0)) / std
    g_hat = gy * gamma
    # x_hat depends on x directly and through the batch mean and the batch variance
    gx = (g_hat - g_hat.mean(axis=0) - x_hat * (g_hat * x_hat).mean(axis=0)) / std
    return gx, (gy * x_hat).sum(axis=0), gy.sum(axis=0)


# ----------------------------------------------------------------- lesson 03
def false_accept_probability(far, K):
    return 1.0 - (1.0 - far) ** np.asarray(K, dtype=float)


def identify(gallery, names, query, tau):
    d = ((np.asarray(gallery, float) - np.asarray(query, float)) ** 2).sum(axis=1)
    k = int(np.argmin(d))
    return names[k] if d[k] <= tau else None


# ----------------------------------------------------------------- lesson 04
def roc_point(d, same, tau):
    d, same = np.asarray(d), np.asarray(same, dtype=bool)
    accept = d <= tau
    return float(accept[~same].mean()), float(accept[same].mean())


def auc_by_counting(d, same):
    d, same = np.asarray(d, float), np.asarray(same, dtype=bool)
    pos, neg = d[same][:, None], d[~same][None, :]
    return float(np.mean(neg > pos) + 0.5 * np.mean(neg == pos))


# ----------------------------------------------------------------- lesson 05
def distance_grads(f1, f2):
    g = 2.0 * (np.asarray(f1, float) - np.asarray(f2, float))
    return g, -g


def contrastive(x1, x2, same, m=1.0):
    dist = np.sqrt(((np.asarray(x1, float) - np.asarray(x2, float)) ** 2).sum(axis=1))
    y = np.asarray(same, dtype=float)
    return float(np.mean(y * dist ** 2 + (1 - y) * np.maximum(m - dist, 0) ** 2))


# ----------------------------------------------------------------- lesson 06
def triplet_cost(A, P, N, alpha=0.2):
    A, P, N = (np.asarray(v, dtype=float) for v in (A, P, N))
    pos = ((A - P) ** 2).sum(axis=-1)
    neg = ((A - N) ** 2).sum(axis=-1)
    return float(np.maximum(pos - neg + alpha, 0.0).sum())


def triplet_shares(dist, labels, alpha=0.2):
    dist, y = np.asarray(dist, float), np.asarray(labels)
    same = y[:, None] == y[None, :]
    pos = same & ~np.eye(len(y), dtype=bool)
    a, p, n = np.nonzero(pos[:, :, None] & ~same[:, None, :])
    dap, dan = dist[a, p], dist[a, n]
    easy = np.mean(dan >= dap + alpha)
    hard = np.mean(dan <= dap)
    return float(easy), float(1.0 - easy - hard), float(hard)


def semi_hard(dist, labels):
    dist, y = np.asarray(dist, float), np.asarray(labels)
    a_out, p_out, n_out = [], [], []
    for a in range(len(y)):
        negatives = np.flatnonzero(y != y[a])
        if len(negatives) == 0:
            continue
        for p in np.flatnonzero(y == y[a]):
            if p == a:
                continue
            d_neg = dist[a, negatives]
            farther = d_neg > dist[a, p]
            if farther.any():                 # the nearest negative that is still farther than P
                n = negatives[farther][np.argmin(d_neg[farther])]
            else:                             # all closer than P: the farthest (least hard) of them
                n = negatives[np.argmax(d_neg)]
            a_out.append(a)
            p_out.append(p)
            n_out.append(n)
    return np.array(a_out, int), np.array(p_out, int), np.array(n_out, int)


# ----------------------------------------------------------------- lesson 07
def chi2_features(a, b, eps=1e-6):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return (a - b) ** 2 / (np.abs(a) + np.abs(b) + eps)


def head_probability(f1, f2, w, b):
    z = (np.abs(np.asarray(f1, float) - np.asarray(f2, float)) * np.asarray(w, float)).sum(axis=1) + b
    return 1.0 / (1.0 + np.exp(-z))


# ----------------------------------------------------------------- lesson 08
def gram_channels_last(a):
    f = np.moveaxis(a, -1, 0).reshape(a.shape[-1], -1)     # channel axis to the front, then unroll
    return f @ f.T


def style_cost_layer(a_S, a_G):
    n_c, n_h, n_w = a_G.shape
    fs, fg = a_S.reshape(n_c, -1), a_G.reshape(n_c, -1)
    return ((fs @ fs.T - fg @ fg.T) ** 2).sum() / (2 * n_h * n_w * n_c) ** 2


def style_cost_grad(a_S, a_G):
    # J = c ||G_S - G_G||^2 with G_G = F F^T: dJ/dG_G = -2c (G_S - G_G), dJ/dF = (g + g^T) F
    n_c, n_h, n_w = a_G.shape
    c = 1.0 / (2 * n_h * n_w * n_c) ** 2
    fs, fg = a_S.reshape(n_c, -1), a_G.reshape(n_c, -1)
    g = -2 * c * (fs @ fs.T - fg @ fg.T)
    return ((g + g.T) @ fg).reshape(a_G.shape)


# ----------------------------------------------------------------- lesson 09
def receptive_field_size(layers):
    r, j = 1, 1
    for layer in layers:
        k, s, d = (tuple(layer) + (1,))[:3]
        r, j = r + d * (k - 1) * j, j * s
    return r, j


def top_k_images(acts, k):
    best = acts.reshape(len(acts), -1).max(axis=1)
    return np.argsort(-best, kind="stable")[:k]


# ----------------------------------------------------------------- lesson 10
def conv_output_shape(in_shape, c_out, f, p=0, s=1):
    return (c_out,) + tuple((n + 2 * p - f) // s + 1 for n in in_shape[1:])


def se_ppv(reference, detected, tolerance):
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


# ----------------------------------------------------------------- lesson 12
def f23(d, g):
    # m1..m4 as in Lavin & Gray (2016); the filter factors (g0 + g1 + g2) / 2 and
    # (g0 - g1 + g2) / 2 are computed once per filter in a real kernel
    m1 = (d[0] - d[2]) * g[0]
    m2 = (d[1] + d[2]) * ((g[0] + g[1] + g[2]) / 2)
    m3 = (d[2] - d[1]) * ((g[0] - g[1] + g[2]) / 2)
    m4 = (d[1] - d[3]) * g[2]
    return np.array([m1 + m2 + m3, m2 - m3 - m4])


def winograd_multiplies(n, c_in, c_out, h, w, m=None):
    # direct: 9 per output value and input channel; F(m x m, 3 x 3): (m + 2)^2 per tile and channel pair
    if m is None:
        return 9 * n * c_in * c_out * h * w
    return (m + 2) ** 2 * n * c_in * c_out * -(-h // m) * -(-w // m)
