"""dlib's networks as minicnn modules, built from the records of :mod:`.dnn`.

Nothing about the architecture is written here: the layers, their sizes, strides and
paddings, and the residual wiring all come from the file. What *is* written here is what
each dlib layer computes, in the same conv / pooling / ReLU code that lessons 01-02 teach:

* ``con_``      cross-correlation with bias, as ``F.conv2d`` (dlib and PyTorch agree on it);
* ``affine_``   ``gamma[c] * x + beta[c]`` per channel (a trained batch norm, frozen);
* ``bn_con2``   batch norm at inference, folded into the same affine map when read;
* ``max_pool`` / ``avg_pool``  as ``F.max_pool2d`` / ``F.avg_pool2d``; a 0 x 0 window means
  "the whole map" (dlib's ``avg_pool_everything``);
* ``add_prev``  the sum of the current output and a tagged earlier one. When their shapes
  differ (a down-sampling block doubles the channels; at odd sizes the two paths differ
  by a pixel) dlib sums them as if the smaller were zero-padded at the end of each axis,
  and so does :func:`add_zero_padded`;
* ``fc_``       ``x @ W (+ b)`` on the flattened input, as ``nn.Linear``.
"""
from __future__ import annotations

import numpy as np

import minicnn as mc
import minicnn.nn as nn


class ChannelAffine(nn.Module):
    """``y[:, c] = gamma[c] * x[:, c] + beta[c]`` for (N, C, H, W) inputs."""

    def __init__(self, gamma: np.ndarray, beta: np.ndarray):
        super().__init__()
        c = len(gamma)
        self.weight = nn.Parameter(np.asarray(gamma, np.float32).reshape(1, c, 1, 1))
        self.bias = nn.Parameter(np.asarray(beta, np.float32).reshape(1, c, 1, 1))

    def forward(self, x):
        return x * self.weight + self.bias


def add_zero_padded(a, b):
    """``a + b`` for (N, C, H, W) tensors of different sizes: each is zero-padded at the end
    of every axis up to the larger size first (dlib's ``add_prev_``)."""
    shape = [max(p, q) for p, q in zip(a.shape, b.shape)]

    def grow(t):
        if tuple(t.shape) == tuple(shape):
            return t
        return mc.ops.pad(t, [(0, s - n) for s, n in zip(shape, t.shape)])

    return grow(a) + grow(b)


class InputScale(nn.Module):
    """dlib's input layer for images in [0, 1]: ``(255 x - mean[c]) / 256`` per channel.
    dlib subtracts its training set's mean colour and divides by 256 (not 255)."""

    def __init__(self, mean):
        super().__init__()
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)

    def forward(self, x):
        return (x * 255.0 - self.mean) * (1.0 / 256.0)


class DlibNet(nn.Module):
    """The layers of a dlib DNN file, run in file order.

    Every step is a module: ``layers`` holds the main path in the order it runs, and
    ``shortcuts`` the layers of the residual short-cuts (the 2 x 2 average pools of the
    down-sampling blocks) -- kept apart so that "the layers up to this one" is the chain a
    receptive field follows (the main path's field contains the short-cut's).

    ``forward`` takes the input tensor (N, 3, H, W) -- already scaled as dlib's input layer
    does -- and returns the last layer's output.
    """

    def __init__(self, records):
        super().__init__()
        self.steps = []                       # ("layer" | "shortcut", index) or (tag | skip | add_prev, arg)
        main, short, in_shortcut = [], [], False
        for rec in records:
            kind = rec["type"]
            if kind in ("tag", "skip", "add_prev"):
                self.steps.append((kind, rec["id"] if kind == "tag" else rec.get("to", rec.get("tag"))))
                in_shortcut = kind == "skip"
                continue
            m = _module(rec)
            where = short if in_shortcut else main
            self.steps.append(("shortcut" if in_shortcut else "layer", len(where)))
            where.append(m)
        self.layers = nn.ModuleList(main)
        self.shortcuts = nn.ModuleList(short)

    def forward(self, x):
        tags = []
        for kind, arg in self.steps:
            if kind == "layer":
                x = self.layers[arg](x)
            elif kind == "shortcut":
                x = self.shortcuts[arg](x)
            elif kind == "tag":
                tags.append(x)
            elif kind == "skip":
                x = tags[arg]
            else:  # add_prev
                x = add_zero_padded(x, tags[arg])
        return x


class _FlattenLinear(nn.Linear):
    """dlib's ``fc_`` flattens its input itself."""

    def forward(self, x):
        return super().forward(x.reshape(x.shape[0], -1))


def _module(rec):
    kind = rec["type"]
    if kind == "con":
        o, i, kh, kw = rec["weight"].shape
        m = nn.Conv2d(i, o, (kh, kw), stride=rec["stride"], padding=rec["padding"])
        m.weight.data[...] = rec["weight"]
        m.bias.data[...] = rec["bias"]
        return m
    if kind == "affine":
        return ChannelAffine(rec["gamma"], rec["beta"])
    if kind == "relu":
        return nn.ReLU()
    if kind in ("max_pool", "avg_pool"):
        if rec["kernel"] == (0, 0):             # dlib's avg_pool_everything
            return nn.GlobalAvgPool(keepdims=True)
        cls = nn.MaxPool2d if kind == "max_pool" else nn.AvgPool2d
        return cls(rec["kernel"], stride=rec["stride"], padding=rec["padding"])
    if kind == "fc":
        o, i = rec["weight"].shape
        m = _FlattenLinear(i, o, bias=rec["bias"] is not None)
        m.weight.data[...] = rec["weight"]
        if rec["bias"] is not None:
            m.bias.data[...] = rec["bias"]
        return m
    raise ValueError(f"DlibNet: no layer for a {kind!r} record")
