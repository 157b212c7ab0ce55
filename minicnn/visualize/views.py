"""Two direct views of a network: its first-layer filters, and one layer's activation maps.

The first layer's weights live in pixel space (``C_in`` is the image's
colour channels), so they can be drawn as small pictures: typically
oriented edges and colour opponents.  Deeper weights mix feature channels
and mean little as pictures; for those, look at activation maps,
top patches, saliency or activation maximisation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..nn import Module
from .layers import check_units, forward_to, model_input, named_layers, to_array
from .sheet import to_rgb


def first_conv(model):
    """``(name, layer)`` of the first layer that has a convolution weight ``(C_out, C_in, *K)``."""
    for name, m in named_layers(model):
        w = getattr(m, "weight", None)
        if w is not None and np.ndim(to_array(w)) >= 3 and hasattr(m, "kernel_size"):
            return name, m
    names = [n for n, _ in named_layers(model)]
    raise ValueError(f"first_conv: the model has no convolution layer; its layers are {names}")


def _grid(n, ncols=None):
    ncols = ncols or math.ceil(math.sqrt(n))
    return math.ceil(n / ncols), ncols


def filters_figure(model: Module | Sequence[Module], layer: str | None = None, ncols: int | None = None,
                   cell: float = 0.8, dpi: int = 100) -> Figure:
    """The filters of a convolution layer (the first one by default) as pictures.

    Each filter ``(C_in, *K)`` is scaled to [0, 1] on its own, symmetric
    about 0 so that grey means zero weight.  3 input channels are shown as
    colour, 1 as grey, others averaged; 1-D filters are drawn as curves and
    3-D filters by their middle slice.  Figure: ``(cell*ncols, cell*nrows)``
    inches.
    """
    if layer is None:
        layer, conv = first_conv(model)
    else:
        from .layers import get_layer
        conv = get_layer(model, layer)
    w = getattr(conv, "weight", None)
    w = None if w is None else to_array(w)
    if w is None or w.ndim < 3:
        raise ValueError(f"filters_figure: layer {layer!r} ({type(conv).__name__}) has no convolution weight")
    nrows, ncols = _grid(w.shape[0], ncols)
    fig = Figure(figsize=(cell * ncols, cell * nrows + 0.3), dpi=dpi)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= w.shape[0]:
            ax.set_axis_off()
            continue
        f = w[i].astype(np.float64)
        if f.ndim == 2:  # 1-D filter (C_in, K): one curve per input channel
            for c in f:
                ax.plot(c, lw=0.8)
            continue
        if f.ndim == 4:
            f = f[:, f.shape[1] // 2]
        s = np.abs(f).max() or 1.0
        ax.imshow(to_rgb(f, -s, s), interpolation="nearest")
    fig.suptitle(f"filters of layer {layer} {tuple(w.shape)}", fontsize=8)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.3 / (cell * nrows + 0.3),
                        wspace=0.1, hspace=0.1)
    return fig


def activations(model: Module | Sequence[Module], image: np.ndarray, layer: str | None) -> np.ndarray:
    """Activations of ``layer`` for one ``image`` ``(C, *S)``: an array ``(C_layer, *S_layer)``."""
    import minicnn as mc

    image = to_array(image)
    was_training = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with mc.no_grad():
            y = forward_to(model, model_input(model, image[None]), layer)
    finally:
        if was_training:
            model.train()
    return to_array(y)[0]


def activation_maps_figure(model: Module | Sequence[Module], image: np.ndarray, layer: str | None,
                           units: Sequence[int] | None = None, ncols: int | None = None, cell: float = 1.0,
                           dpi: int = 100) -> Figure:
    """The input image followed by the feature maps of ``layer`` (all units, or ``units``).

    Each map has its own colour scale (viridis); its maximum is written above it.
    """
    a = activations(model, image, layer)
    if a.ndim == 1:
        raise ValueError(f"activation_maps_figure: layer {layer!r} has no spatial maps (output {a.shape})")
    units = check_units(units, a.shape[0], layer)
    nrows, ncols = _grid(len(units) + 1, ncols)
    fig = Figure(figsize=(cell * ncols, cell * nrows + 0.3), dpi=dpi)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = to_array(image)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            _show(ax, image, rgb=True)
            ax.set_title("input", fontsize=6, pad=2)
        elif i <= len(units):
            _show(ax, a[units[i - 1]][None], rgb=False)
            ax.set_title(f"{units[i - 1]}: {a[units[i - 1]].max():.2g}", fontsize=6, pad=2)
        else:
            ax.set_axis_off()
    fig.suptitle(f"activations of layer {layer} {tuple(a.shape)}", fontsize=8)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.3 / (cell * nrows + 0.3),
                        wspace=0.1, hspace=0.3)
    return fig


def _show(ax, x, rgb):
    """Draw ``(C, *S)``: a curve for 1-D, the middle slice for 3-D, a picture for 2-D."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        for c in x:
            ax.plot(c, lw=0.8)
        return
    if x.ndim == 4:
        x = x[:, x.shape[1] // 2]
    if rgb:
        from .sheet import display_range
        ax.imshow(to_rgb(x, *display_range(x)), interpolation="nearest")
    else:
        ax.imshow(x.mean(axis=0), cmap="viridis", interpolation="nearest")
