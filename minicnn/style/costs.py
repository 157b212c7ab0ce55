"""The costs of neural style transfer (Gatys et al. 2015), written as in the course.

Notation: an activation volume ``a`` of one layer has ``n_C`` channels and
``n_H x n_W`` positions. minicnn is channels-first, so one image's volume is
``(n_C, n_H, n_W)`` and a batch is ``(N, n_C, n_H, n_W)``.

* content cost  ``J_content(C, G) = 1/(4 n_H n_W n_C) * sum (a(C) - a(G))^2``
* Gram matrix   ``G_kk' = sum_ij a_ijk a_ijk'``  (``n_C x n_C``)
* layer style   ``J_style[l](S, G) = 1/(2 n_H n_W n_C)^2 * sum_kk' (G(S) - G(G))_kk'^2``
* style cost    ``J_style(S, G) = sum_l lambda[l] J_style[l](S, G)``
* total         ``J(G) = alpha J_content(C, G) + beta J_style(S, G)``

Other normalisations (Gatys' paper, the PyTorch tutorial) are available with
``norm=``; docs/style-normalisations.md shows they only rescale ``alpha`` and
``beta`` (per layer). Every cost works on Tensors and is differentiable; a
batch of N images gives the mean of the N per-image costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..autograd import Function
from ..blas import matmul
from ..hints import ArrayLike
from ..tensor import Tensor, as_tensor

__all__ = ["gram_matrix", "content_cost", "layer_style_cost", "style_cost_from_gram", "style_cost",
           "total_variation", "total_cost", "CONTENT_NORMS", "STYLE_NORMS"]

CONTENT_NORMS = ("course", "gatys", "mse")
STYLE_NORMS = ("course", "gatys", "pytorch")


def _tensor(x, name, fn):
    t = as_tensor(x)
    if t.dtype.kind != "f":
        raise TypeError(f"{fn}: {name} must be a floating-point array or Tensor, got dtype {t.dtype} (shape {t.shape})")
    return t


def _batched(t, name, fn):
    """``(C, H, W)`` -> ``(1, C, H, W)``; returns (tensor, was_unbatched)."""
    if t.ndim == 3:
        return t.reshape(1, *t.shape), True
    if t.ndim == 4:
        return t, False
    raise ValueError(f"{fn}: {name} must be an activation volume (N, C, H, W) or (C, H, W), got shape {t.shape}")


# ----------------------------------------------------------------------------
# Gram matrix
# ----------------------------------------------------------------------------
class Gram(Function):
    """``F (N, C, M) -> F @ F^T (N, C, C)``, the unrolled activations times their transpose.

    backward: ``G = F F^T`` so ``dG = dF F^T + F dF^T`` and, for an upstream
    gradient ``gy = dL/dG``, ``dL/dF = (gy + gy^T) F`` (the two terms of the
    product rule; ``gy`` is symmetric for every cost here, giving ``2 gy F``).
    """

    def forward(self, f):
        self.f = f
        return matmul(f, self.xp.swapaxes(f, 1, 2))  # one BLAS thread: see minicnn.blas

    def backward(self, gy):
        return (matmul(gy + self.xp.swapaxes(gy, 1, 2), self.f),)


def gram_matrix(a: Tensor | ArrayLike, channels_last: bool = False) -> Tensor:
    """Style matrix ``G_kk' = sum_ij a_ijk a_ijk'`` of an activation volume.

    ``a``: ``(N, C, H, W)`` -> ``(N, C, C)`` or ``(C, H, W)`` -> ``(C, C)``
    (channels first, minicnn's layout). With ``channels_last=True`` ``a`` is
    ``(N, H, W, C)`` or ``(H, W, C)`` (the course's TensorFlow layout).

    The trap: the Gram matrix needs ``F`` of shape ``(C, H*W)`` whose row ``k``
    is channel ``k``. Channels-first data gives it with a plain reshape. For
    channels-last data, ``reshape(C, H*W)`` is wrong: it cuts the memory
    ``a_11[0..C-1], a_12[0..C-1], ...`` into rows of ``H*W`` consecutive
    numbers, so each "row" mixes all channels. Moving the channel axis in front
    first (``transpose``), then reshaping, is right -- this function does that
    for ``channels_last=True`` -- and so is the course's ``reshape(H*W, C).T``.
    """
    t = _tensor(a, "a", "gram_matrix")
    if t.ndim not in (3, 4):
        layout = "(N, H, W, C) or (H, W, C)" if channels_last else "(N, C, H, W) or (C, H, W)"
        raise ValueError(f"gram_matrix: a must be an activation volume {layout}, got shape {t.shape}")
    if channels_last:
        t = t.permute(2, 0, 1) if t.ndim == 3 else t.permute(0, 3, 1, 2)  # move C in front first
    t, single = _batched(t, "a", "gram_matrix")
    n, c = t.shape[:2]
    g = Gram()(t.reshape(n, c, -1))
    return g.reshape(c, c) if single else g


# ----------------------------------------------------------------------------
# Content cost
# ----------------------------------------------------------------------------
def content_cost(a_C: Tensor | ArrayLike, a_G: Tensor | ArrayLike, norm: str = "course") -> Tensor:
    """Content cost between two activation volumes of the same layer.

    ``a_C``, ``a_G``: ``(N, C, H, W)`` or ``(C, H, W)``, same shape. ``norm``:

    * ``"course"`` (default): ``1/(4 n_H n_W n_C) * sum (a_C - a_G)^2``
    * ``"gatys"``: ``1/2 * sum (a_C - a_G)^2`` (the paper, and the lecture)
    * ``"mse"``: ``1/(n_H n_W n_C) * sum (a_C - a_G)^2`` (PyTorch tutorial's ``mse_loss``)

    Returns a scalar Tensor (the mean over the batch of the per-image costs).
    """
    c = _tensor(a_C, "a_C", "content_cost")
    g = _tensor(a_G, "a_G", "content_cost")
    if c.shape != g.shape:
        raise ValueError(f"content_cost: a_C and a_G must have the same shape, got {c.shape} and {g.shape}")
    g, _ = _batched(g, "a_G", "content_cost")
    c = c.reshape(*g.shape)
    n, n_C, n_H, n_W = g.shape
    scale = {"course": 1.0 / (4 * n_H * n_W * n_C), "gatys": 0.5, "mse": 1.0 / (n_H * n_W * n_C)}
    if norm not in scale:
        raise ValueError(f"content_cost: norm must be one of {CONTENT_NORMS}, got {norm!r}")
    d = c - g
    return (d * d).sum() * (scale[norm] / n)


# ----------------------------------------------------------------------------
# Style cost
# ----------------------------------------------------------------------------
def _style_scale(norm, n_C, area, fn):
    """The factor in front of ``sum_kk' (G(S) - G(G))^2`` for one image."""
    if norm in ("course", "gatys"):  # 1/(2 n_H n_W n_C)^2 == 1/(4 N^2 M^2) with N = n_C, M = n_H n_W
        return 1.0 / (2.0 * area * n_C) ** 2
    if norm == "pytorch":  # Gram / (n_C n_H n_W), then the mean over the n_C^2 entries
        return 1.0 / ((area * n_C) ** 2 * n_C ** 2)
    raise ValueError(f"{fn}: norm must be one of {STYLE_NORMS}, got {norm!r}")


def style_cost_from_gram(gram_S: Tensor | ArrayLike, area_S: int, a_G: Tensor | ArrayLike,
                         norm: str = "course") -> Tensor:
    """Layer style cost against a precomputed style Gram matrix.

    ``gram_S``: ``(C, C)`` or ``(N, C, C)``, the Gram matrix of the style
    image's activations, which covered ``area_S = n_H * n_W`` positions;
    ``a_G``: ``(N, C, H, W)`` or ``(C, H, W)``.

    When the style image's layer has a different size from G's, ``gram_S``
    is first rescaled by ``area_G / area_S`` (a Gram matrix is a sum over
    positions, so it grows with the area); with equal sizes this is exactly
    the course's formula. Computing ``gram_S`` once, before the optimisation,
    saves one Gram matrix per layer and step.
    """
    fn = "layer_style_cost"
    g, _ = _batched(_tensor(a_G, "a_G", fn), "a_G", fn)
    n, n_C, n_H, n_W = g.shape
    gs = _tensor(gram_S, "gram_S", fn)
    if gs.shape[-2:] != (n_C, n_C):
        raise ValueError(f"{fn}: the style Gram matrix is {gs.shape} but a_G has {n_C} channels (shape {g.shape})")
    area = n_H * n_W
    gg = gram_matrix(g)
    target = gs if area_S == area else gs * (area / float(area_S))
    d = target - gg
    return (d * d).sum() * (_style_scale(norm, n_C, area, fn) / n)


def layer_style_cost(a_S: Tensor | ArrayLike, a_G: Tensor | ArrayLike, norm: str = "course") -> Tensor:
    """Style cost of one layer: ``1/(2 n_H n_W n_C)^2 * sum_kk' (G(S) - G(G))_kk'^2``.

    ``a_S``, ``a_G``: ``(N, C, H, W)`` or ``(C, H, W)`` with the same number of
    channels (the spatial sizes may differ, see :func:`style_cost_from_gram`).
    ``norm``: ``"course"`` / ``"gatys"`` (the same number, ``1/(4 N^2 M^2)``
    with ``N = n_C``, ``M = n_H n_W``) or ``"pytorch"`` (the tutorial's
    ``mse_loss`` of Grams divided by ``n_C n_H n_W``). Returns a scalar Tensor.
    """
    fn = "layer_style_cost"
    s, _ = _batched(_tensor(a_S, "a_S", fn), "a_S", fn)
    g, _ = _batched(_tensor(a_G, "a_G", fn), "a_G", fn)
    if s.shape[1] != g.shape[1] or s.shape[0] not in (1, g.shape[0]):
        raise ValueError(f"{fn}: a_S and a_G must have the same number of channels (and batch size, or a "
                         f"single style image), got shapes {tuple(s.shape)} and {tuple(g.shape)}")
    return style_cost_from_gram(gram_matrix(s), s.shape[2] * s.shape[3], g, norm)


def _weights(layer_weights, names, fn):
    if layer_weights is None:
        return [(name, 1.0 / len(names)) for name in names]
    pairs = list(layer_weights.items()) if isinstance(layer_weights, dict) else [tuple(p) for p in layer_weights]
    for p in pairs:
        if len(p) != 2:
            raise ValueError(f"{fn}: layer_weights must be a dict or (name, lambda) pairs, got {p!r}")
    return [(name, float(w)) for name, w in pairs]


def style_cost(features_S: Mapping[str, Tensor], features_G: Mapping[str, Tensor],
               layer_weights: Mapping[str, float] | Sequence[tuple[str, float]] | None = None,
               norm: str = "course") -> Tensor:
    """``J_style(S, G) = sum_l lambda[l] * J_style[l](S, G)`` over several layers.

    ``features_S``, ``features_G``: dicts ``{layer name: activation volume}``;
    ``layer_weights``: ``{name: lambda}`` or a list of ``(name, lambda)`` pairs
    (the course's ``STYLE_LAYERS``); default: every layer of ``features_G``
    with equal weights summing to 1. Returns a scalar Tensor.
    """
    pairs = _weights(layer_weights, list(features_G), "style_cost")
    total = None
    for name, lam in pairs:
        for which, feats in (("features_S", features_S), ("features_G", features_G)):
            if name not in feats:
                raise KeyError(f"style_cost: layer {name!r} is not in {which} (it has {sorted(feats)})")
        term = layer_style_cost(features_S[name], features_G[name], norm) * lam
        total = term if total is None else total + term
    if total is None:
        raise ValueError("style_cost: no layers given")
    return total


# ----------------------------------------------------------------------------
# Smoothness and the total
# ----------------------------------------------------------------------------
def total_variation(x: Tensor | ArrayLike) -> Tensor:
    """Squared total variation, a smoothness penalty on the generated image.

    ``x``: ``(N, C, H, W)`` or ``(C, H, W)``. Returns
    ``(sum (x[i+1, j] - x[i, j])^2 + sum (x[i, j+1] - x[i, j])^2) / (C H W)``
    averaged over the batch: dividing by the pixel count keeps its weight
    independent of the image size.
    """
    t, _ = _batched(_tensor(x, "x", "total_variation"), "x", "total_variation")
    n, c, h, w = t.shape
    if h < 2 or w < 2:
        raise ValueError(f"total_variation: x needs at least 2x2 pixels, got shape {t.shape}")
    dh = t[:, :, 1:, :] - t[:, :, :-1, :]
    dw = t[:, :, :, 1:] - t[:, :, :, :-1]
    return ((dh * dh).sum() + (dw * dw).sum()) * (1.0 / (n * c * h * w))


def total_cost(J_content: float | Tensor, J_style: float | Tensor, alpha: float = 10,
               beta: float = 40) -> float | Tensor:
    """``J = alpha * J_content + beta * J_style`` (floats or scalar Tensors).

    >>> total_cost(0.2, 0.8)
    34.0
    """
    if isinstance(J_content, Tensor) or isinstance(J_style, Tensor):
        return J_content * float(alpha) + J_style * float(beta)
    return float(alpha) * float(J_content) + float(beta) * float(J_style)


