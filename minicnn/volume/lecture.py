"""The lecture's 1D and 3D convolution stacks, built and run live.

The course (channels-last) says:

* 1D, e.g. an ECG: 14 x 1 --(16 filters 5 x 1)--> 10 x 16 --(32 filters 5 x 16)--> 6 x 32
* 3D, e.g. a CT scan: 14x14x14x1 --(16 filters 5x5x5x1)--> 10x10x10x16
  --(32 filters 5x5x5x16)--> 6x6x6x32

with ``n_out = floor((n + 2p - f) / s) + 1`` in every spatial dimension
(:func:`minicnn.functional.conv_output_shape`; here p = 0, s = 1, so 14 - 5 + 1 = 10 and
10 - 5 + 1 = 6). minicnn stores tensors channels-first ``(N, C, *spatial)``, so the same
activations appear as (1, 1, 14), (1, 16, 10), (1, 32, 6). A layer with ``C_out`` filters of
size ``f^d x C_in`` has ``C_out * (C_in * f^d + 1)`` parameters (the +1 is the bias).
"""
from __future__ import annotations

import numpy as np

import minicnn as mc
import minicnn.nn as nn
from minicnn.functional import conv_output_shape

__all__ = ["lecture_stack", "lecture_shapes", "format_shapes"]


def lecture_stack(dims: int) -> nn.Sequential:
    """The lecture's two-layer stack for ``dims`` = 1 or 3 (2 works too): Conv(1->16, 5),
    ReLU, Conv(16->32, 5), ReLU, no padding, stride 1."""
    if dims not in (1, 2, 3):
        raise ValueError(f"dims must be 1, 2 or 3, got {dims!r}")
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
    return nn.Sequential(conv(1, 16, 5), nn.ReLU(), conv(16, 32, 5), nn.ReLU())


def _channels_last(shape: tuple[int, ...]) -> str:
    """(C, *spatial) -> the course's 'n x ... x C' notation."""
    return " x ".join(str(s) for s in (*shape[1:], shape[0]))


def lecture_shapes(dims: int, size: int = 14, seed: int = 0) -> list[dict]:
    """Run a random input of ``size`` per spatial axis through :func:`lecture_stack` and report
    every layer: name, output shape (channels-first, batch of 1), the course's channels-last
    shape, the shape the formula predicts, and the parameter count."""
    mc.seed(seed)
    model = lecture_stack(dims)
    x = mc.Tensor(np.random.default_rng(seed).standard_normal((1, 1) + (size,) * dims).astype(np.float32))
    rows = [{"layer": "input", "shape": tuple(x.shape), "course": _channels_last(x.shape[1:]),
             "formula": _channels_last(x.shape[1:]), "params": 0}]
    n = size
    with mc.no_grad():
        for i, layer in enumerate(model):
            x = layer(x)
            params = int(sum(p.data.size for p in layer.parameters()))
            if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                f = layer.kernel_size[0]
                n = conv_output_shape(n, f)
                formula = _channels_last((layer.out_channels,) + (n,) * dims)
                name = (f"conv{i // 2 + 1}: {layer.out_channels} filters "
                        f"{'x'.join([str(f)] * dims)} x {layer.in_channels}")
            else:
                formula = rows[-1]["formula"]
                name = type(layer).__name__
            rows.append({"layer": name, "shape": tuple(x.shape), "course": _channels_last(x.shape[1:]),
                         "formula": formula, "params": params})
    return rows


def format_shapes(rows: list[dict]) -> str:
    """A plain-text table of :func:`lecture_shapes` rows (what the lessons print)."""
    lines = [f"{'layer':<34}{'minicnn (N, C, *S)':<24}{'course (..., C)':<22}params"]
    for r in rows:
        lines.append(f"{r['layer']:<34}{str(r['shape']):<24}{r['course']:<22}{r['params']}")
    lines.append(f"{'total':<80}{sum(r['params'] for r in rows)}")
    return "\n".join(lines)


if __name__ == "__main__":      # python -m minicnn.volume.lecture
    for d in (1, 3):
        print(f"{d}D stack")
        print(format_shapes(lecture_shapes(d)))
        print()
