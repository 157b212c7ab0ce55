"""The lesson exercises: write each function below, then run its check cell in the notebook.

Every function here is a stub: it raises ``NotImplementedError`` until you replace its body.
Write plain NumPy (the checks refuse a function that calls minicnn, or the published
solutions, instead of doing the work). A notebook cell such as

    exercises.check_sigmoid_backward(exercises.sigmoid_backward)

tests yours against hand-worked values, finite differences or identities (see
``exercise_checks/``). You may also define the function in the notebook and pass it to
the check. After editing this file, re-run the notebook's ``import`` cell or restart the
kernel (``importlib.reload(exercises)`` also works).

With ``MINICNN_SOLUTIONS=1`` in the environment (CI and the tests set it, so that the
notebooks run from top to bottom) the stubs are replaced by ``lessons/solutions/``.
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (for your code)
from exercise_checks import *  # noqa: F401,F403  (the check_* functions)
from exercise_checks import solutions_enabled


def _todo(exercise):
    raise NotImplementedError(f"{exercise}: not written yet -- replace the body of `{exercise}` "
                              "in lessons/exercises.py with your code")


# ----------------------------------------------------------------- lesson 00
def sigmoid_backward(y, gy):
    """dL/dx for y = sigmoid(x), given y and gy = dL/dy (arrays of one shape) -> array of that shape.

    Hint: sigma'(x) = sigma(x) (1 - sigma(x)), and sigma(x) is y.
    """
    _todo("sigmoid_backward")


def softplus_grad(x):
    """d/dx log(1 + e^x), element-wise, for an array x -> array of x's shape.

    Hint: differentiate, then divide numerator and denominator by e^x.
    """
    _todo("softplus_grad")


# ----------------------------------------------------------------- lesson 01
def conv_output_size(n, f, p, s):
    """Output length of a convolution: input n, filter f, padding p, stride s -> int."""
    _todo("conv_output_size")


def conv1d_loop(x, w):
    """Valid 1D convolution (cross-correlation) of x (L,) with w (K,) -> (L - K + 1,).

    Hint: output i is the sum of x[i:i + K] * w.
    """
    _todo("conv1d_loop")


def conv1d_backward_input(gy, w, length):
    """dL/dx of y = conv1d(x, w), valid, stride 1.

    gy (C_out, L - K + 1), w (C_out, C_in, K), length L  ->  gx (C_in, L).
    Forward: y[co, o] = sum over ci, k of w[co, ci, k] x[ci, o + k].
    Hint: each output o scatters gy[co, o] * w[co] back into its window x[:, o:o + K]; windows overlap.
    """
    _todo("conv1d_backward_input")


def conv1d_backward_weight(x, gy, n_taps):
    """dL/dw of y = conv1d(x, w), valid, stride 1.

    x (C_in, L), gy (C_out, L - K + 1), n_taps K  ->  gw (C_out, C_in, K).
    Hint: w[co] is used at every output position o, on the window x[:, o:o + K].
    """
    _todo("conv1d_backward_weight")


# ----------------------------------------------------------------- lesson 02
def max_pool_2x2(a):
    """2x2 max pooling with stride 2 of a (H, W) array with even H and W -> (H/2, W/2).

    Hint: a reshape to (H/2, 2, W/2, 2), then a max over two axes.
    """
    _todo("max_pool_2x2")


def max_pool_2x2_backward(a, gy):
    """dL/da for y = max_pool_2x2(a): a (H, W), gy (H/2, W/2) -> (H, W).

    Each window sends its gradient to its maximum; when several cells tie, all of it goes to the
    first of them in row-major order (minicnn's and PyTorch's CPU rule). Hint: np.argmax returns
    the first maximum of a flattened window; np.unravel_index turns it into (row, column).
    """
    _todo("max_pool_2x2_backward")


def conv_param_count(c_in, c_out, k, d=2):
    """Parameters of a convolution layer: c_in channels in, c_out filters of size k^d, with biases."""
    _todo("conv_param_count")


def batch_norm_forward(x, gamma, beta, eps=1e-5):
    """Batch norm in training mode over a batch x (N, C), per column c -> (N, C).

    x_hat = (x - mean) / sqrt(var + eps), with the batch mean and the biased variance (divide by
    N); the output is gamma * x_hat + beta (gamma, beta of shape (C,)).
    """
    _todo("batch_norm_forward")


def batch_norm_backward(gy, x, gamma, eps=1e-5):
    """Gradients of batch_norm_forward: gy, x (N, C), gamma (C,) -> (gx (N, C), ggamma (C,), gbeta (C,)).

    Hint: write g = gy * gamma (the gradient reaching x_hat). The mean and the variance depend on
    every row, so gx has three terms; they combine to (g - mean(g) - x_hat mean(g x_hat)) / sqrt(var + eps).
    Derive it (the chain rule through mean and var), don't copy it.
    """
    _todo("batch_norm_backward")


# ----------------------------------------------------------------- lesson 03
def false_accept_probability(far, K):
    """P(a stranger is falsely accepted by at least one of K enrolled people), comparisons independent.

    far: false-accept rate of one comparison; K: int or array of ints -> float or array like K.
    """
    _todo("false_accept_probability")


def identify(gallery, names, query, tau):
    """Open-set identification: gallery (K, D), names (K,), query (D,) -> a name, or None.

    The name of the nearest encoding by squared distance if that distance is <= tau, else None.
    """
    _todo("identify")


# ----------------------------------------------------------------- lesson 04
def roc_point(d, same, tau):
    """One ROC point of the rule "same iff d <= tau": d (M,), same (M,) bool -> (far, tar)."""
    _todo("roc_point")


def auc_by_counting(d, same):
    """AUC as a probability: the share of (same pair, different pair) couples in which the
    different pair is farther apart, a tie counting 1/2. d (M,), same (M,) bool -> float."""
    _todo("auc_by_counting")


# ----------------------------------------------------------------- lesson 05
def distance_grads(f1, f2):
    """Gradients of d = ||f1 - f2||^2 with respect to f1 and to f2: (D,), (D,) -> ((D,), (D,))."""
    _todo("distance_grads")


def contrastive(x1, x2, same, m=1.0):
    """Mean over the N pairs of y D^2 + (1 - y) max(m - D, 0)^2, with D = ||x1 - x2|| (not squared).

    x1, x2 (N, D), same (N,) bool (y = 1 for the same person), margin m -> float.
    """
    _todo("contrastive")


# ----------------------------------------------------------------- lesson 06
def triplet_cost(A, P, N, alpha=0.2):
    """J = sum over triplets of max(||A - P||^2 - ||A - N||^2 + alpha, 0); A, P, N (m, D) or (D,).

    Hint: sum the squares per triplet (axis=-1) before the max.
    """
    _todo("triplet_cost")


def triplet_shares(dist, labels, alpha=0.2):
    """Shares (easy, semihard, hard) among all valid triplets of a batch.

    dist (B, B) squared distances, labels (B,). A triplet: a != p with one label, n another label.
    easy: d_an >= d_ap + alpha; hard: d_an <= d_ap; semi-hard: in between.
    """
    _todo("triplet_shares")


def semi_hard(dist, labels):
    """Semi-hard mining: one triplet per (anchor, positive) pair whose anchor has a negative.

    dist (B, B), labels (B,) -> arrays (a, p, n), pairs in row-major order of (a, p).
    n: the nearest negative that is still farther from the anchor than the positive; when no
    negative is farther, the farthest negative (the least hard one). Ties: the smaller index.
    """
    _todo("semi_hard")


# ----------------------------------------------------------------- lesson 07
def chi2_features(a, b, eps=1e-6):
    """Chi-square pair features with a safe denominator: (a - b)^2 / (|a| + |b| + eps), element-wise."""
    _todo("chi2_features")


def head_probability(f1, f2, w, b):
    """sigmoid(sum_k w_k |f1_k - f2_k| + b) per row: f1, f2 (N, D), w (D,), b float -> (N,)."""
    _todo("head_probability")


# ----------------------------------------------------------------- lesson 08
def gram_channels_last(a):
    """Gram matrix of a channels-last volume a (n_H, n_W, n_C) -> (n_C, n_C). Mind the trap."""
    _todo("gram_channels_last")


def style_cost_layer(a_S, a_G):
    """The course's layer style cost of two channels-first volumes (n_C, n_H, n_W) -> float:
    sum over k, k' of (G(S) - G(G))^2 / (2 n_H n_W n_C)^2."""
    _todo("style_cost_layer")


def style_cost_grad(a_S, a_G):
    """dJ/da_G of style_cost_layer(a_S, a_G): (n_C, n_H, n_W) twice -> (n_C, n_H, n_W).

    Hint: with F the unrolled a_G and G = F F^T, first find g = dJ/dG, then use dJ/dF = (g + g^T) F.
    """
    _todo("style_cost_grad")


# ----------------------------------------------------------------- lesson 09
def receptive_field_size(layers):
    """Receptive-field size r and jump j of the last of a chain of layers, from r = j = 1.

    layers: a list of (k, s) or (k, s, d) tuples -- kernel, stride and dilation (d = 1 if absent).
    Padding doesn't change the size (it only shifts the field); dilation does.
    """
    _todo("receptive_field_size")


def top_k_images(acts, k):
    """Indices of the k images whose largest activation is highest, best first (ties: the
    smaller index first). acts (N, H, W): one unit's activations over a data set -> (k,)."""
    _todo("top_k_images")


# ----------------------------------------------------------------- lesson 10
def conv_output_shape(in_shape, c_out, f, p=0, s=1):
    """Output shape of an N-d convolution: (C_in, *spatial) -> (c_out, *spatial_out)."""
    _todo("conv_output_shape")


def se_ppv(reference, detected, tolerance):
    """Score a beat detector: sorted sample positions, tolerance in samples -> (sensitivity, ppv).

    Match one-to-one: each reference beat, in time order, takes the earliest free detection within
    the tolerance. Se = TP / (TP + FN), PPV = TP / (TP + FP).
    """
    _todo("se_ppv")


# ----------------------------------------------------------------- lesson 12
def f23(d, g):
    """Winograd's F(2, 3): the two outputs of the correlation of 4 inputs d with 3 taps g -> (2,).

    Use exactly four multiplications of an input expression by a filter expression (divisions
    and sums of filter values, which a real kernel precomputes once, are free).
    Hint: m1 = (d0 - d2) g0 and m4 = (d1 - d3) g2; find m2 and m3 on (d1 + d2) and (d2 - d1).
    """
    _todo("f23")


def winograd_multiplies(n, c_in, c_out, h, w, m=None):
    """Multiplications of a 3x3, stride-1, 'same' conv layer on (n, c_in, h, w) -> c_out maps:
    the direct method when m is None, else Winograd F(m x m, 3 x 3) over ceil(h/m) x ceil(w/m)
    tiles -> int."""
    _todo("winograd_multiplies")


if solutions_enabled():
    from solutions import *  # noqa: F401,F403,E402  (MINICNN_SOLUTIONS=1: the notebooks run on the solutions)
