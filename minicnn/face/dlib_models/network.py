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
import minicnn.functional as F
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


class DlibNet(nn.Module):
    """The layers of a dlib DNN file, run in file order.

    ``forward`` takes the input tensor (N, 3, H, W) -- already scaled as dlib's input layer
    does -- and returns the last layer's output. ``layer_outputs`` does the same and also
    returns every layer's output (for visualisation).
    """

    def __init__(self, records):
        super().__init__()
        self.steps = []                       # (kind, index into self.layers or an argument)
        modules = []
        for rec in records:
            kind = rec["type"]
            if kind == "con":
                o, i, kh, kw = rec["weight"].shape
                m = nn.Conv2d(i, o, (kh, kw), stride=rec["stride"], padding=rec["padding"])
                m.weight.data[...] = rec["weight"]
                m.bias.data[...] = rec["bias"]
            elif kind == "affine":
                m = ChannelAffine(rec["gamma"], rec["beta"])
            elif kind == "fc":
                o, i = rec["weight"].shape
                m = nn.Linear(i, o, bias=rec["bias"] is not None)
                m.weight.data[...] = rec["weight"]
                if rec["bias"] is not None:
                    m.bias.data[...] = rec["bias"]
            elif kind in ("relu", "max_pool", "avg_pool", "tag", "skip", "add_prev"):
                arg = {"skip": rec.get("to"), "add_prev": rec.get("tag")}.get(kind)
                if kind in ("max_pool", "avg_pool"):
                    arg = (rec["kernel"], rec["stride"], rec["padding"])
                self.steps.append((kind, arg))
                continue
            else:
                raise ValueError(f"DlibNet: no layer for a {kind!r} record")
            self.steps.append((kind, len(modules)))
            modules.append(m)
        self.layers = nn.ModuleList(modules)

    def layer_outputs(self, x):
        """Run the network on ``x``; return ``[(kind, output), ...]`` for every step."""
        tags, outs = [], []
        for kind, arg in self.steps:
            if kind in ("con", "affine"):
                x = self.layers[arg](x)
            elif kind == "fc":
                x = self.layers[arg](x.reshape(x.shape[0], -1))
            elif kind == "relu":
                x = F.relu(x)
            elif kind in ("max_pool", "avg_pool"):
                kernel, stride, padding = arg
                if kernel == (0, 0):
                    x = F.global_avg_pool(x, keepdims=True)
                elif kind == "max_pool":
                    x = F.max_pool2d(x, kernel, stride, padding)
                else:
                    x = F.avg_pool2d(x, kernel, stride, padding)
            elif kind == "tag":
                tags.append(x)
            elif kind == "skip":
                x = tags[arg]
            elif kind == "add_prev":
                x = add_zero_padded(x, tags[arg])
            outs.append((kind, x))
        return outs

    def forward(self, x):
        return self.layer_outputs(x)[-1][1]
