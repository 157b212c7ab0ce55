"""VGG-19 (Simonyan and Zisserman, 2015) as a feature network, from minicnn layers.

The layers sit in ``self.features``, an ``nn.Sequential`` with **the same
indices as torchvision's** ``vgg19().features``, so a converted torchvision
``state_dict`` (keys ``features.0.weight`` ... ``features.34.bias``) loads
directly. Index -> name::

     0 conv1_1   1 relu1_1   2 conv1_2   3 relu1_2   4 pool1
     5 conv2_1   6 relu2_1   7 conv2_2   8 relu2_2   9 pool2
    10 conv3_1  ...         16 conv3_4  17 relu3_4  18 pool3
    19 conv4_1  ...         25 conv4_4  26 relu4_4  27 pool4
    28 conv5_1  ...         34 conv5_4  35 relu5_4  36 pool5

``convB_L`` is the convolution's output and ``reluB_L`` the same after ReLU
(PyTorch's tutorial reads ``conv`` outputs; Gatys et al. and the course's
TensorFlow VGG use the rectified ones, which are the defaults here:
content ``relu4_2``, style ``relu1_1 .. relu5_1`` with ``lambda = 0.2`` each).

Options: ``pool="max"`` (as trained) or ``"avg"`` (Gatys et al. found average
pooling gives smoother results); ``width`` multiplies every channel count
(``width=0.25``: 16, 32, 64, 128, 128 channels), for fast experiments with
random weights. Pretrained weights need ``width=1``.

Weights: :meth:`VGG19.from_npz` reads a minicnn ``.npz``; make one from a
torchvision file with ``python -m minicnn.style.convert_vgg19 vgg19.pth vgg19.npz``.
Inputs are RGB in ``[0, 1]``; the ImageNet normalisation torchvision's
weights expect (``(x - mean) / std``) happens inside ``forward``.
"""

from __future__ import annotations

import numpy as np

from .. import io, nn
from ..backend import get_array_module
from ..tensor import Tensor
from .features import FeatureNetwork

__all__ = ["VGG19", "VGG19_CONFIG", "vgg19_layer_names", "IMAGENET_MEAN", "IMAGENET_STD"]

# channel counts per conv, "M" = pooling (torchvision's configuration "E")
VGG19_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def vgg19_layer_names():
    """Names of ``features[0] .. features[36]`` in order (see the module docstring)."""
    names, block, conv = [], 1, 1
    for c in VGG19_CONFIG:
        if c == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


class VGG19(FeatureNetwork):
    """VGG-19's convolutional part; ``forward(x, layers)`` returns named activations.

    x ``(N, 3, H, W)`` in ``[0, 1]``; an activation of block ``B`` has shape
    ``(N, C_B, H / 2^(B-1), W / 2^(B-1))`` with ``C_B = 64, 128, 256, 512, 512``
    times ``width``. The weights are frozen (``requires_grad=False``).
    """

    default_content_layer = "relu4_2"
    default_style_layers = [(f"relu{b}_1", 0.2) for b in range(1, 6)]

    def __init__(self, pool: str = "max", width: float = 1.0, normalize_input: bool = True) -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"VGG19: pool must be 'max' or 'avg', got {pool!r}")
        if not width > 0:
            raise ValueError(f"VGG19: width must be positive, got {width!r}")
        self.pool, self.width, self.normalize_input = pool, float(width), normalize_input
        layers, c_in = [], 3
        for c in VGG19_CONFIG:
            if c == "M":
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
            else:
                c_out = max(1, int(round(c * width)))
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU()]
                c_in = c_out
        self.features = nn.Sequential(*layers)
        self.layer_names = vgg19_layer_names()
        self.requires_grad_(False)

    def _run(self, x, wanted):
        h = x if isinstance(x, Tensor) else Tensor(x)
        if self.normalize_input:
            xp = get_array_module(h.data)  # the constants go where the image is (CPU or GPU)
            mean = xp.asarray(IMAGENET_MEAN.reshape(1, 3, 1, 1), dtype=h.dtype)
            std = xp.asarray(IMAGENET_STD.reshape(1, 3, 1, 1), dtype=h.dtype)
            h = (h - mean) / std
        deepest = max(self.layer_names.index(n) for n in wanted)
        out = {}
        for i, layer in enumerate(self.features):
            h = layer(h)
            if self.layer_names[i] in wanted:
                out[self.layer_names[i]] = h
            if i == deepest:
                break
        return out

    @classmethod
    def from_npz(cls, path, pool="max", normalize_input=True):
        """Build a VGG19 from a minicnn ``.npz`` (keys ``features.<i>.weight/bias``).

        The width is read from the file; keys outside ``features.`` (e.g. a
        classifier) are ignored. A missing key or a wrong shape raises an
        error naming it.
        """
        state, meta = io.load(path)
        first = state.get("features.0.weight")
        if first is None:
            raise KeyError(f"VGG19.from_npz: {path} has no 'features.0.weight'; is it a VGG-19 state_dict "
                           f"converted with python -m minicnn.style.convert_vgg19? (keys: {sorted(state)[:6]}...)")
        net = cls(pool=pool, width=first.shape[0] / 64.0, normalize_input=normalize_input)
        net.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")}, strict=True)
        return net

