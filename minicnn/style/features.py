"""Feature networks for style transfer: what they share, and the offline default.

A feature network maps an RGB batch ``(N, 3, H, W)`` with values in ``[0, 1]``
to the activations of named layers. Its weights stay fixed; style transfer
only differentiates with respect to the input pixels. Every network here has

* ``layer_names``: the names, in forward order;
* ``forward(x, layers=None) -> {name: (N, C, h, w) Tensor}``: runs only as
  deep as the deepest layer asked for;
* ``default_content_layer`` and ``default_style_layers`` (``[(name, lambda)]``).

:class:`RandomMultiScale` is the **offline default**: random convolution
filters applied to an image pyramid (the image at full, 1/2, 1/4, ...
resolution), each followed by ReLU. Nothing is trained or downloaded; the
filters come from a seeded generator. Ustyuzhaninov et al. (2017, "What does
it take to generate natural textures?") showed that Gram matrices of random
multi-scale filters already capture much of a texture, and He et al. (2016)
did style transfer through random-weight networks. The pyramid is a cheap
stand-in for their large filters: a 5x5 filter at 1/8 resolution sees a 40x40
patch of the full image. Its limits are in docs/style.md: it transfers
colours, contrast and stroke-like local texture well, but it has no notion of
objects, so a pretrained VGG-19 (:mod:`minicnn.style.vgg`) remains the choice
for the best pictures.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn

__all__ = ["FeatureNetwork", "RandomMultiScale", "build_network"]


class FeatureNetwork(nn.Module):
    """Base class: subclasses fill ``layer_names`` and implement ``_run``."""

    layer_names: list = []
    default_content_layer = None
    default_style_layers: list = []

    def check_layers(self, layers):
        """Validate names; ``KeyError`` lists the valid ones."""
        for name in layers:
            if name not in self.layer_names:
                raise KeyError(f"{type(self).__name__}: unknown layer {name!r}; valid layers are "
                               f"{', '.join(self.layer_names)}")
        return list(layers)

    def forward(self, x, layers=None):
        """``x (N, 3, H, W)`` in ``[0, 1]`` -> ``{name: activation}`` for ``layers`` (default: all)."""
        layers = self.layer_names if layers is None else self.check_layers(layers)
        if getattr(x, "ndim", 0) != 4 or x.shape[1] != 3:
            raise ValueError(f"{type(self).__name__}: input must be an RGB batch (N, 3, H, W), "
                             f"got shape {getattr(x, 'shape', None)}")
        return self._run(x, set(layers))

    def _run(self, x, wanted):
        raise NotImplementedError


class RandomMultiScale(FeatureNetwork):
    """Random filters on an image pyramid: the offline feature network.

    For scale ``s = 1 .. levels`` the input (centred as ``(x - 0.45) / 0.25``)
    is average-pooled ``s - 1`` times by 2, then convolved with
    ``channels`` random ``kernel_size x kernel_size`` filters (+ ReLU), giving
    layer ``"scale{s}_1"``; with ``depth=2`` a second random 3x3 layer
    ``"scale{s}_2"`` (``2 * channels`` filters) follows it. Filters are drawn
    from ``N(0, 2 / fan_in)`` (He) times ``gain``, biases from
    ``N(0, 0.2 gain)``, all from ``numpy.random.default_rng(seed)``.

    ``gain`` sets the size of the activations; because the content cost grows
    like ``gain^2`` and the style cost like ``gain^4``, it fixes the balance of
    the two at given ``alpha, beta``. The default is chosen so that the
    course's ``alpha = 10, beta = 40`` give a clear style transfer.
    """

    def __init__(self, levels=5, channels=64, kernel_size=5, depth=2, gain=2.0, seed=0):
        super().__init__()
        if levels < 1 or depth not in (1, 2) or channels < 1 or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"RandomMultiScale: need levels >= 1, depth 1 or 2, channels >= 1 and an odd "
                             f"kernel_size, got levels={levels}, depth={depth}, channels={channels}, "
                             f"kernel_size={kernel_size}")
        self.levels, self.depth, self.config = levels, depth, dict(
            levels=levels, channels=channels, kernel_size=kernel_size, depth=depth, gain=gain, seed=seed)
        rng = np.random.default_rng(seed)
        convs, names = [], []
        for s in range(1, levels + 1):
            first = _random_conv(rng, 3, channels, kernel_size, gain)
            convs.append(first)
            names.append(f"scale{s}_1")
            if depth == 2:
                convs.append(_random_conv(rng, channels, 2 * channels, 3, 1.0))
                names.append(f"scale{s}_2")
        self.convs = nn.ModuleList(convs)
        self.requires_grad_(False)
        self.layer_names = names
        style = [n for n in names if n.endswith(f"_{depth}")]  # the top layer of every scale
        self.default_style_layers = [(n, 1.0 / len(style)) for n in style]
        self.default_content_layer = f"scale{min(3, levels)}_1"

    def _run(self, x, wanted):
        out = {}
        deepest = max(self.layer_names.index(n) for n in wanted)
        h_img = (x - 0.45) * 4.0  # roughly zero mean, unit spread for natural images
        k = 0
        for s in range(1, self.levels + 1):
            if s > 1:
                h_img = F.avg_pool2d(h_img, 2)
            for _ in range(self.depth):
                conv = self.convs[k]
                inp = h_img if k % self.depth == 0 else h
                h = F.relu(conv(inp))
                if self.layer_names[k] in wanted:
                    out[self.layer_names[k]] = h
                if k == deepest:
                    return out
                k += 1
        return out


def _random_conv(rng, c_in, c_out, k, gain):
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2)
    std = gain * np.sqrt(2.0 / (c_in * k * k))
    conv.weight.data[...] = rng.standard_normal(conv.weight.shape) * std
    conv.bias.data[...] = rng.standard_normal(c_out) * 0.2 * gain
    return conv


def build_network(name="random", weights=None, width=None, pool="avg", seed=0):
    """The feature network for the command line.

    ``name``: ``"random"`` (:class:`RandomMultiScale`, offline default) or
    ``"vgg19"`` (:class:`~minicnn.style.vgg.VGG19`). ``weights``: a minicnn
    ``.npz`` for VGG-19 (implies ``"vgg19"``; without it VGG-19 keeps random
    weights, seeded). ``width``: VGG-19 channel multiplier (default 1 with
    weights, else 0.25).
    """
    if weights is not None:
        name = "vgg19"
    if name == "random":
        return RandomMultiScale(seed=seed)
    if name == "vgg19":
        from .vgg import VGG19

        if weights is not None:
            return VGG19.from_npz(weights, pool=pool)
        from ..random import seed as mc_seed

        mc_seed(seed)
        return VGG19(pool=pool, width=0.25 if width is None else width)
    raise ValueError(f"build_network: name must be 'random' or 'vgg19', got {name!r}")
