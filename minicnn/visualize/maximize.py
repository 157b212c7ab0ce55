"""Activation maximisation: draw the input a unit likes best.

Start from faint noise ``x_0`` and climb the unit's score by gradient ascent
on the *input* (the weights stay fixed)::

    x <- x + lr * g / (mean|g| + eps),   g = dS/dx            (normalised step)
    x <- (1 - l2) * x                                        (L2 decay)
    every ``blur_every`` steps: x <- GaussianBlur_sigma(x)    (kills pixel noise)
    before each step: shift x by a random jitter, undo after (no pixel-exact tricks)

Without the regularisers the ascent finds high-frequency patterns that
excite the unit but look like noise (Simonyan et al. 2013; Yosinski et al.
2015 added blur and jitter).  The score is the unit at the centre of its
feature map by default, so the picture lies inside that unit's receptive
field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.ndimage import gaussian_filter

from ..nn import Module
from .layers import forward_to, model_input, to_array
from .saliency import inspecting, unit_score
from .sheet import to_rgb


def maximize_activation(model: Module | Sequence[Module], layer: str | None, unit: int, input_shape: tuple[int, ...],
                        steps: int = 120, lr: float = 0.03, l2: float = 2e-3, blur_every: int = 4,
                        blur_sigma: float = 1.0, jitter: int = 2, position: str | tuple[int, ...] = "center",
                        value_range: tuple[float, float] | None = (0.0, 1.0), seed: int = 0,
                        init: np.ndarray | None = None) -> tuple[np.ndarray, list[float]]:
    """Gradient ascent on the input to maximise one unit.

    Parameters
    ----------
    layer, unit : the layer name (None: the model output, ``unit`` a class) and the channel.
    input_shape : (C, *S) of one input.
    steps, lr : number and size of ascent steps (the step is normalised by mean |g|).
    l2 : weight decay of the image towards 0 per step (0 turns it off).
    blur_every, blur_sigma : Gaussian blur of the spatial axes every so many steps (0: never).
    jitter : largest random shift in pixels per step (0: none).
    position : "center", "max", "mean" or a tuple: which value of the feature map is the score.
    value_range : (lo, hi) the image is clipped to after each step (None: no clipping).
    init : starting image (C, *S); faint noise about the middle of value_range by default.

    Returns
    -------
    image : float32 array (C, *S)
    scores : list of the score at each step (before the update); for a ReLU
        layer, of its input (see :func:`climb_layer`)
    """
    import minicnn as mc

    shape = tuple(int(n) for n in input_shape)
    rng = np.random.default_rng(seed)
    lo, hi = value_range if value_range is not None else (-np.inf, np.inf)
    mid = 0.5 * (lo + hi) if value_range is not None else 0.0
    x = (np.full(shape, mid) + 0.01 * rng.standard_normal(shape)) if init is None else to_array(init).copy()
    x = x.astype(np.float64)
    if x.shape != shape:
        raise ValueError(f"maximize_activation: init has shape {x.shape}, input_shape is {shape}")
    axes = tuple(range(1, x.ndim))
    scores = []
    layer = climb_layer(model, layer)
    with inspecting(model):
        for step in range(steps):
            shift = tuple(int(s) for s in rng.integers(-jitter, jitter + 1, len(axes))) if jitter else ()
            xs = np.roll(x, shift, axis=axes) if jitter else x
            xt = model_input(model, xs[None].astype(np.float32), requires_grad=True)
            with mc.enable_grad():
                y = forward_to(model, xt, layer)
                s = unit_score(y, unit, layer or "output", *_where(position, y))
                s.backward()
            scores.append(float(to_array(s)))
            g = to_array(xt.grad)[0].astype(np.float64)
            if jitter:
                g = np.roll(g, tuple(-v for v in shift), axis=axes)
            x += lr * g / (np.abs(g).mean() + 1e-12)
            x = mid + (1 - l2) * (x - mid)  # decay towards the neutral grey, not towards black
            if blur_every and (step + 1) % blur_every == 0:
                x = gaussian_filter(x, sigma=(0,) + (blur_sigma,) * len(axes))
            if value_range is not None:
                x = np.clip(x, lo, hi)
    return x.astype(np.float32), scores


def climb_layer(model, layer):
    """The layer whose output is climbed: the input of a ReLU-like ``layer``, else ``layer`` itself.

    A ReLU unit that is off for the starting image has zero gradient, and the
    ascent would never start.  Its input (the pre-activation) has the same
    channels and positions, and raising it raises the ReLU's output as soon
    as it turns positive.
    """
    from .layers import get_layer
    from .receptive_field import leaf_layers

    if layer is None or type(get_layer(model, layer)).__name__ not in ("ReLU", "LeakyReLU"):
        return layer
    names = [n for n, _ in leaf_layers(model)]
    i = names.index(str(layer)) if str(layer) in names else 0
    return names[i - 1] if i > 0 else layer


def _where(position, y):
    """(position, reduce) arguments of unit_score for the ``position`` option."""
    if y.ndim == 2 or position in ("max", "mean"):
        return None, position if position in ("max", "mean") else "max"
    if isinstance(position, str):
        if position != "center":
            raise ValueError(f"position must be 'center', 'max', 'mean' or a tuple, got {position!r}")
        return tuple(n // 2 for n in y.shape[2:]), "max"
    return position, "max"


def maximize_figure(model: Module | Sequence[Module], layer: str | None, units: int | Sequence[int],
                    input_shape: tuple[int, ...], cell: float = 1.2, dpi: int = 100, crop: bool = True,
                    **kw: object) -> Figure:
    """One picture per unit from :func:`maximize_activation`: ``(cell * len(units), cell + 0.3)`` inches.

    With ``crop`` (and a spatial layer), each picture is cut to the receptive
    field of the centre unit, the only pixels that can influence the score.
    """
    from .receptive_field import receptive_field
    from .top_patches import _chain_to

    units = list(np.atleast_1d(units))
    fig = Figure(figsize=(cell * len(units), cell + 0.3), dpi=dpi)
    axes = fig.subplots(1, len(units), squeeze=False)[0]
    box = None
    if crop and layer is not None:
        try:
            rf = receptive_field(_chain_to(model, layer), input_shape=(1,) + tuple(input_shape))
            if not rf.is_global and rf.out_shape is not None and kw.get("position", "center") == "center":
                box = rf.slices(tuple(n // 2 for n in rf.out_shape), tuple(input_shape))
        except (TypeError, ValueError):
            box = None
    for ax, u in zip(axes, units):
        img, scores = maximize_activation(model, layer, int(u), input_shape, **kw)
        if box is not None:
            img = img[(slice(None),) + box]
        if img.ndim == 2:
            ax.plot(img.T, lw=0.8)
        else:
            if img.ndim == 4:
                img = img[:, img.shape[1] // 2]
            lo, hi = float(img.min()), float(img.max())  # stretch: the pattern, not its faint contrast
            ax.imshow(to_rgb(img, lo, hi if hi > lo else lo + 1.0), interpolation="nearest")
        ax.set_title(f"unit {u}: {scores[-1]:.2g}", fontsize=7, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"activation maximisation, layer {layer or 'output'}", fontsize=8)
    return fig
