"""Receptive fields of a chain of convolution and pooling layers.

A unit deep in a ConvNet looks at a box of input pixels: its *receptive
field*.  For a chain of layers l = 1..L, each with kernel size ``k_l``,
stride ``s_l``, padding ``p_l`` and dilation ``d_l`` (one value per spatial
axis), three numbers per axis describe every layer's output grid in input
coordinates:

``r_l``  size of the receptive field (pixels),
``j_l``  jump: how many input pixels apart two neighbouring outputs are,
``start_l``  input coordinate of the *centre* of output 0's field.

They start at ``r_0 = 1, j_0 = 1, start_0 = 0`` (the input itself) and follow
the recurrences, with the effective kernel ``k'_l = d_l (k_l - 1) + 1``::

    r_l     = r_{l-1} + (k'_l - 1) * j_{l-1}
    j_l     = j_{l-1} * s_l
    start_l = start_{l-1} + ((k'_l - 1) / 2 - p_l) * j_{l-1}

Output position ``i`` of layer l then sees the input pixels
``[start_l + i j_l - (r_l - 1)/2,  start_l + i j_l + (r_l - 1)/2]``; its left
edge ``start_l - (r_l - 1)/2`` simplifies to ``left_{l-1} - p_l j_{l-1}``,
which is always an integer.  Near the border the box hangs over the input
(into the zero padding) and is clipped.

Layers are read by their attributes (``kernel_size``, ``stride``,
``padding``, ``dilation``), so any minicnn ``Conv1d/2d/3d``,
``MaxPool*``/``AvgPool*`` works, and so does anything shaped like them.
Activations, normalisation and dropout do not move pixels and pass through.
A global pooling, ``Flatten`` or ``Linear`` layer mixes every position: from
there on the field is the whole input (``is_global``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..functional import conv_output_shape
from ..functional._args import ntuple
from ..nn import Module

# Layers that keep every position where it is (element-wise or per-channel).
PASSTHROUGH = (
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "GELU", "Softplus", "Identity",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Dropout", "Dropout2d", "Dropout3d",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm",
    "ChannelAffine", "InputScale",  # per-channel maps of the pretrained face networks (face/dlib_models)
)
# Layers after which a unit depends on every input position.
GLOBAL = ("AdaptiveAvgPool", "AdaptiveMaxPool", "GlobalAvgPool", "GlobalMaxPool",
          "Flatten", "Linear")
CONTAINERS = ("Sequential", "ModuleList")


@dataclass(frozen=True)
class LayerRF:
    """Geometry of one layer's output grid in input pixels (tuples: one entry per spatial axis).

    ``kernel/stride/padding/dilation`` are the layer's own settings (kernel 1,
    stride 1 for pass-through layers); ``size``, ``jump``, ``start`` and
    ``left`` are the accumulated r_l, j_l, start_l and left edge of output 0.
    ``out_shape`` is the output's spatial shape when an input shape was given.
    """

    name: str
    kind: str  # "conv", "pool", "pass", "global" or "input"
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    size: tuple
    jump: tuple
    start: tuple
    left: tuple
    out_shape: tuple | None = None

    @property
    def is_global(self) -> bool:
        return self.kind == "global"

    def box(self, position, input_shape=None, clip=True):
        """Input box seen by output ``position`` (one int per axis): a tuple of (lo, hi), hi exclusive.

        With ``clip`` (and an ``input_shape``), the box is cut to the image; a
        box hanging over the border therefore is smaller than ``size``.  For a
        global layer the box is the whole input (``input_shape`` needed).
        """
        nd = len(self.size)
        if self.is_global:
            if input_shape is None:
                raise ValueError(f"box: layer {self.name!r} sees the whole input; pass input_shape")
            return tuple((0, int(n)) for n in _spatial(input_shape, nd))
        # an int, a tuple, or an array such as a row of np.argwhere (.tolist(): Python ints)
        pos = ntuple(position.tolist() if isinstance(position, np.ndarray) else position, nd, "position", "box",
                     minimum=0)
        box = []
        for i in range(nd):
            lo = self.left[i] + pos[i] * self.jump[i]
            box.append([lo, lo + self.size[i]])
        if clip and input_shape is not None:
            for (b, n) in zip(box, _spatial(input_shape, nd)):
                b[0], b[1] = max(b[0], 0), min(b[1], int(n))
        return tuple((int(lo), int(hi)) for lo, hi in box)

    def slices(self, position, input_shape):
        """The clipped box as a tuple of slices, ready to index ``image[..., *slices]``."""
        return tuple(slice(lo, hi) for lo, hi in self.box(position, input_shape))


def _spatial(input_shape, nd):
    shape = tuple(int(n) for n in input_shape)
    if len(shape) < nd:
        raise ValueError(f"input_shape {shape} has fewer than {nd} spatial axes")
    return shape[-nd:]


def _class_dim(layer):
    """1, 2 or 3 from a class name ending in ``1d/2d/3d``; None otherwise."""
    m = re.search(r"([123])[dD]$", type(layer).__name__)
    return int(m.group(1)) if m else None


def _kind(layer):
    name = type(layer).__name__
    if name.startswith(GLOBAL):
        return "global"
    if name.startswith("ConvTranspose"):
        return "unsupported"
    if hasattr(layer, "kernel_size"):
        return "conv" if name.startswith("Conv") or hasattr(layer, "weight") else "pool"
    if name in PASSTHROUGH:
        return "pass"
    return "unknown"


def _geometry(layer, nd):
    """(kernel, stride, padding, dilation) of a conv/pool layer, as nd-tuples."""
    where = f"receptive_fields: {type(layer).__name__}"
    k = ntuple(layer.kernel_size, nd, "kernel_size", where)
    stride = getattr(layer, "stride", None)
    s = k if stride is None else ntuple(stride, nd, "stride", where)  # pools default stride=kernel
    d = ntuple(getattr(layer, "dilation", 1) or 1, nd, "dilation", where)
    pad = getattr(layer, "padding", 0)
    if isinstance(pad, str):
        if pad == "valid":
            p = (0,) * nd
        elif pad == "same":
            # 'same' pads d(k-1) in total; the extra pixel of an odd total goes to the end.
            p = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        else:
            raise ValueError(f"{type(layer).__name__}.padding={pad!r}: expected an int, a tuple, 'same' or 'valid'")
    else:
        p = ntuple(pad, nd, "padding", where, minimum=0)
    return k, s, p, d


def leaf_layers(model):
    """``[(name, layer), ...]`` in forward order for a Sequential, a Module or a list of layers.

    Names are those of ``named_modules()`` ("0", "3", "features.2", "conv1").
    Containers themselves are skipped.  For a custom Module the registration
    order of its sub-modules is taken to be the order of the forward pass.
    """
    from .layers import named_layers  # local: layers.py imports this module

    return [(n, m) for n, m in named_layers(model) if not _has_children(m)]


def _has_children(m):
    if type(m).__name__ in CONTAINERS:
        return True
    children = getattr(m, "named_children", None)
    if callable(children):
        return any(True for _ in children())
    return False


def receptive_fields(layers: Module | Sequence[Module] | Sequence[tuple[str, Module]],
                     input_shape: tuple[int, ...] | None = None, ndim: int | None = None,
                     passthrough: tuple[type, ...] = ()) -> list[LayerRF]:
    """Receptive field of every layer of a chain.

    Parameters
    ----------
    layers : Sequential, Module or list of layers (or of ``(name, layer)`` pairs)
        The chain, in forward order.
    input_shape : tuple, optional
        Shape of the input, ``(N, C, *spatial)``, ``(C, *spatial)`` or just
        the spatial shape; its last ``ndim`` entries give each layer's output
        size ``floor((n + 2p - d(k-1) - 1) / s) + 1``.
    ndim : int, optional
        Number of spatial axes (1, 2 or 3); read from the layer class names
        (``Conv2d`` -> 2) or kernel tuples when not given.
    passthrough : tuple of types
        Extra layer classes that keep positions (custom activations).

    Returns
    -------
    list of LayerRF, the input first (named ``""``, kind "input"), then one per layer.
    """
    pairs = _pairs(layers)
    nd = ndim or _infer_ndim([m for _, m in pairs])
    if nd not in (1, 2, 3):
        raise ValueError(f"ndim must be 1, 2 or 3, got {nd}")
    one, zero = (1,) * nd, (0,) * nd
    spatial = _spatial(input_shape, nd) if input_shape is not None else None
    r, j, start, left = one, one, (0.0,) * nd, zero
    out = [LayerRF("", "input", one, one, zero, one, r, j, start, left, spatial)]
    is_global = False
    for name, layer in pairs:
        kind = "pass" if isinstance(layer, tuple(passthrough)) else _kind(layer)
        if is_global:  # whatever comes after a global layer sees everything too (Softmax, Dropout...)
            out.append(LayerRF(name, "global", one, one, zero, one, r, j, start, left, None))
            continue
        if kind in ("unknown", "unsupported"):
            raise TypeError(
                f"receptive_fields: layer {name!r} ({type(layer).__name__}) has no known geometry; "
                f"supported: Conv1d/2d/3d, MaxPool*/AvgPool*, global pools, Flatten, Linear and "
                f"pass-through layers {PASSTHROUGH}; pass passthrough=(YourLayer,) if it keeps positions")
        if kind == "global":
            is_global = True
            out.append(LayerRF(name, "global", one, one, zero, one, r, j, start, left, None))
            continue
        if kind == "pass":
            out.append(LayerRF(name, kind, one, one, zero, one, r, j, start, left, spatial))
            continue
        k, s, p, d = _geometry(layer, nd)
        keff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
        new_r = tuple(ri + (ke - 1) * ji for ri, ke, ji in zip(r, keff, j))
        new_start = tuple(st + ((ke - 1) / 2 - pi) * ji for st, ke, pi, ji in zip(start, keff, p, j))
        new_left = tuple(le - pi * ji for le, pi, ji in zip(left, p, j))
        j = tuple(ji * si for ji, si in zip(j, s))
        r, start, left = new_r, new_start, new_left
        if spatial is not None:
            try:
                spatial = conv_output_shape(spatial, k, s, p, d)
            except ValueError:
                raise ValueError(f"receptive_fields: layer {name!r} gets an empty output (kernel {k}, "
                                 f"dilation {d}, padding {p}, input {spatial}) for input_shape "
                                 f"{tuple(input_shape)}") from None
        out.append(LayerRF(name, kind, k, s, p, d, r, j, start, left, spatial))
    return out


def receptive_field(layers: Module | Sequence[Module] | Sequence[tuple[str, Module]], layer: str | None = None,
                    input_shape: tuple[int, ...] | None = None, ndim: int | None = None,
                    passthrough: tuple[type, ...] = ()) -> LayerRF:
    """The :class:`LayerRF` of one layer (by name; the last layer when ``layer`` is None)."""
    rfs = receptive_fields(layers, input_shape=input_shape, ndim=ndim, passthrough=passthrough)
    if layer is None:
        return rfs[-1]
    layer = str(layer)
    for rf in rfs[1:]:
        if rf.name == layer:
            return rf
    names = [rf.name for rf in rfs[1:]]
    raise KeyError(f"receptive_field: no layer named {layer!r}; the chain has {names}")


def _pairs(layers):
    if isinstance(layers, (list, tuple)):
        if all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in layers):
            return list(layers)
        pairs = []
        for i, m in enumerate(layers):
            if _has_children(m):
                pairs += [(f"{i}.{n}", c) for n, c in leaf_layers(m)]
            else:
                pairs.append((str(i), m))
        return pairs
    return leaf_layers(layers)


def _infer_ndim(layers):
    for m in layers:
        if _kind(m) in ("conv", "pool"):
            d = _class_dim(m)
            if d is None and np.ndim(m.kernel_size) == 1 and len(m.kernel_size) > 1:
                d = len(m.kernel_size)
            if d is not None:
                return d
    raise ValueError("receptive_fields: cannot tell 1D/2D/3D from the layers; pass ndim=")


def format_table(rfs: Sequence[LayerRF]) -> str:
    """A plain-text table of :func:`receptive_fields` output (one row per layer)."""
    def fmt(t):
        return "x".join(f"{v:g}" for v in t)

    rows = [("layer", "type", "k", "s", "p", "d", "size r", "jump j", "start", "out")]
    for rf in rfs:
        if rf.is_global:  # every input pixel: the geometry columns mean nothing here
            rows.append((rf.name, rf.kind, "-", "-", "-", "-", "all", "-", "-", "-"))
            continue
        rows.append((rf.name or "input", rf.kind, fmt(rf.kernel), fmt(rf.stride), fmt(rf.padding),
                     fmt(rf.dilation), fmt(rf.size), fmt(rf.jump), fmt(rf.start),
                     fmt(rf.out_shape) if rf.out_shape else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
