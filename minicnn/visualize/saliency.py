"""Saliency maps: which input pixels would change a score most.

For a score ``S(x)`` (a class logit, or a unit of some layer), the gradient
``dS/dx`` has the shape of the image; its size per pixel (the largest
absolute value over colour channels) is the saliency map of Simonyan et al.
(2013).  It is a first-order, local answer: "if this pixel changed a little,
the score would move this much".
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..nn import Module
from .layers import check_units, forward_to, model_input, to_array
from .sheet import display_range, to_rgb


@contextlib.contextmanager
def inspecting(model):
    """Eval mode, and parameter ``.grad`` left exactly as it was (the views only want input gradients)."""
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    saved = [p.grad for p in params]
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        for p, g in zip(params, saved):
            p.grad = g
        if was_training:
            model.train()


def unit_score(y, unit, layer, position=None, reduce="max"):
    """The scalar Tensor to explain, from a layer output ``y`` of shape ``(1, U)`` or ``(1, U, *S)``.

    For a feature map: its value at ``position``, else its ``max`` (where the
    unit fires most) or ``mean`` over positions.
    """
    (unit,) = check_units([unit], y.shape[1], layer)
    m = y[0, unit]
    if y.ndim == 2:
        return m
    if position is not None:
        position = tuple(int(p) for p in np.atleast_1d(position))
        if len(position) != y.ndim - 2 or any(not 0 <= p < n for p, n in zip(position, y.shape[2:])):
            raise ValueError(f"position {position} is outside layer {layer!r}'s map of shape {tuple(y.shape[2:])}")
        return m[position]
    if reduce == "max":
        return m.max()
    if reduce == "mean":
        return m.mean()
    raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")


def input_gradient(model: Module | Sequence[Module], image: np.ndarray, unit: int, layer: str | None = None,
                   position: int | tuple[int, ...] | None = None, reduce: str = "max") -> np.ndarray:
    """``dS/dx`` for one image ``(C, *S)``: an array of the image's shape and float dtype.

    ``layer`` None means the model output (``unit`` is then a class index).
    """
    import minicnn as mc

    image = to_array(image)
    with inspecting(model):
        # float64 images stay float64 (gradient checks); anything else becomes float32.
        dtype = image.dtype if image.dtype.kind == "f" else np.float32
        x = model_input(model, image[None].astype(dtype, copy=False), requires_grad=True)
        with mc.enable_grad():
            score = unit_score(forward_to(model, x, layer), unit, layer or "output", position, reduce)
            score.backward()
    if x.grad is None:
        raise RuntimeError("input_gradient: no gradient reached the input")
    return to_array(x.grad)[0]


def saliency(model: Module | Sequence[Module], image: np.ndarray, unit: int, layer: str | None = None,
             position: int | tuple[int, ...] | None = None, reduce: str = "max") -> np.ndarray:
    """Saliency map ``max_c |dS/dx_c|`` of shape ``image.shape[1:]``."""
    return np.abs(input_gradient(model, image, unit, layer, position, reduce)).max(axis=0)


def saliency_figure(model: Module | Sequence[Module], image: np.ndarray, unit: int, layer: str | None = None,
                    position: int | tuple[int, ...] | None = None, reduce: str = "max", cell: float = 2.0,
                    dpi: int = 100, title: str | None = None) -> Figure:
    """Input, saliency map, and the image shown only where it is salient: ``(3*cell, cell+0.3)`` inches.

    ``title`` replaces the default one ("class 3", "layer 6 unit 2").
    """
    image = to_array(image)
    sal = saliency(model, image, unit, layer, position, reduce)
    fig = Figure(figsize=(3 * cell, cell + 0.3), dpi=dpi)
    axes = fig.subplots(1, 3)
    if image.ndim == 2:  # 1-D signal
        axes[0].plot(image.T, lw=0.8)
        axes[1].plot(sal, lw=0.8, color="C3")
        axes[2].plot(image.mean(axis=0), lw=0.8)
        axes[2].fill_between(np.arange(sal.size), 0, sal / (sal.max() or 1), alpha=0.4, color="C3")
    else:
        if image.ndim == 4:  # 3-D volume: middle slice
            image, sal = image[:, image.shape[1] // 2], sal[sal.shape[0] // 2]
        rgb = to_rgb(image, *display_range(image))
        weight = sal / (sal.max() or 1.0)
        axes[0].imshow(rgb, interpolation="nearest")
        axes[1].imshow(sal, cmap="hot", interpolation="nearest")
        axes[2].imshow(rgb * weight[..., None] + (1 - weight[..., None]) * 0.1, interpolation="nearest")
    for ax, t in zip(axes, ("input", "saliency |dS/dx|", "input x saliency")):
        ax.set_title(t, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    what = f"class {unit}" if layer is None else f"layer {layer} unit {unit}"
    fig.suptitle(title or what, fontsize=9)
    return fig
