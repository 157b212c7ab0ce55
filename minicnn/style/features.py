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

from collections.abc import Iterable

import numpy as np

from .. import functional as F
from .. import nn
from ..tensor import Tensor

__all__ = ["FeatureNetwork", "RandomMultiScale"]


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

    def forward(self, x: Tensor, layers: Iterable[str] | None = None) -> dict[str, Tensor]:
        """``x (N, 3, H, W)`` in ``[0, 1]`` -> ``{name: activation}`` for ``layers`` (default: all)."""
        layers = self.layer_names if layers is None else self.check_layers(layers)
        if getattr(x, "ndim", 0) != 4 or x.shape[1] != 3:
            raise ValueError(f"{type(self).__name__}: input must be an RGB batch (N, 3, H, W), "
                             f"got shape {getattr(x, 'shape', None)}")
        return self._run(x, set(layers))

    def _run(self, x, wanted):
        raise NotImplementedError


class RandomMultiScale(FeatureNetwork):
    """Random convolutions at five scales: the offline feature network.

    Block ``s = 1 .. len(channels)`` is ``conv -> ReLU`` producing layer
    ``"scale{s}"`` with ``channels[s-1]`` maps; blocks after the first start
    with a 2x2 average pooling, so ``scale{s}`` has ``1 / 2^(s-1)`` of the
    input's resolution. The first convolution is ``first_kernel x
    first_kernel`` (large, to see brush strokes at full resolution), the others
    ``3 x 3``. Input is centred as ``(x - 0.45) * 4``.

    Weights are drawn from ``N(0, 2 / fan_in)`` (He), biases from
    ``N(0, 0.2)``, all from ``numpy.random.default_rng(seed)``; the first
    layer's weights and biases are then multiplied by ``gain``. Every later
    block is positively homogeneous in its input up to the bias, so ``gain``
    scales all activations: the content cost grows like ``gain^2`` and the
    style cost like ``gain^4``, which sets their balance at given ``alpha,
    beta``. The default makes the course's ``alpha = 10, beta = 40`` give a
    clear transfer (docs/style.md).

    Why pool *features* and not the image: averaging the image first would
    erase thin strokes before any filter sees them; averaging rectified
    responses keeps their energy, so coarse scales still "know" about fine
    texture.
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 128, 128), first_kernel: int = 7, gain: float = 6.0,
                 seed: int = 0) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1 or first_kernel < 1 or first_kernel % 2 == 0:
            raise ValueError(f"RandomMultiScale: channels must be positive and first_kernel odd, got "
                             f"channels={channels}, first_kernel={first_kernel}")
        self.config = dict(channels=list(channels), first_kernel=first_kernel, gain=gain, seed=seed)
        rng = np.random.default_rng(seed)
        convs, c_in = [], 3
        for i, c in enumerate(channels):
            k = first_kernel if i == 0 else 3
            convs.append(_random_conv(rng, c_in, c, k, gain if i == 0 else 1.0))
            c_in = c
        self.convs = nn.ModuleList(convs)
        self.requires_grad_(False)
        self.layer_names = [f"scale{s}" for s in range(1, len(channels) + 1)]
        self.default_style_layers = [(n, 1.0 / len(channels)) for n in self.layer_names]
        self.default_content_layer = self.layer_names[min(3, len(channels) - 1)]

    def _run(self, x, wanted):
        out = {}
        h = (x - 0.45) * 4.0  # roughly zero mean, unit spread for natural images
        for i, conv in enumerate(self.convs):
            if i:
                h = F.avg_pool2d(h, 2)
            h = F.relu(conv(h))
            name = self.layer_names[i]
            if name in wanted:
                out[name] = h
                if len(out) == len(wanted):  # nothing deeper is needed
                    break
        return out


def _random_conv(rng, c_in, c_out, k, gain):
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2)
    std = np.sqrt(2.0 / (c_in * k * k))
    conv.weight.data[...] = rng.standard_normal(conv.weight.shape) * std * gain
    conv.bias.data[...] = rng.standard_normal(c_out) * 0.2 * gain
    return conv
