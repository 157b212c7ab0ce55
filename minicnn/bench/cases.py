"""The benchmark cases, minicnn's side (PyTorch's side is :mod:`minicnn.bench.torch_side`).

A case is ``(label, op, d, N, C_in, spatial, C_out, kernel, stride, padding)``,
float32.  :func:`make_case` returns minicnn's ``(forward, forward_backward)``
callables, :func:`torch_case` PyTorch's, over the same data.  The case list
and PyTorch's code live in ``torch_side.py``, which imports no minicnn, so the
PyTorch worker process can load it alone.
"""

from __future__ import annotations

import math

import numpy as np

from .torch_side import (  # noqa: F401
    CASES,
    LARGE_CONV2D,
    MEMORY_CASE,
    TRAIN_BATCH,
    TRAIN_CLASSES,
    TRAIN_LABEL,
    TRAIN_SHAPE,
    VGG19_TO_RELU5_1,
    case_by_label,
    case_inputs,
    style_label,
    torch_case,
    torch_style_step,
    train_data,
)
from .torch_side import torch_small_convnet_step as _torch_small_convnet_step


def conv_flops(case):
    """Multiply-adds times two of one forward convolution: ``2 N C_out prod(O) C_in k^d``."""
    from ..functional import conv_output_shape

    _, _, d, n, c_in, spatial, c_out, k, s, p = case
    out = conv_output_shape(tuple(spatial), k, s, p)
    return 2.0 * n * c_out * math.prod(out) * c_in * k ** d


def make_case(case, device="cpu"):
    """minicnn ``(forward, forward_backward)`` for one case, through minicnn.functional."""
    import minicnn as mc
    import minicnn.functional as F

    _, op, d, _, _, _, _, k, s, p = case
    x, w, b = (mc.Tensor(a, requires_grad=True) for a in case_inputs(case))
    if device != "cpu":
        x, w, b = (t.to(device) for t in (x, w, b))
    if op == "conv":
        conv = getattr(F, f"conv{d}d")

        def run():
            return conv(x, w, b, stride=s, padding=p)
    else:
        pool = getattr(F, f"max_pool{d}d")

        def run():
            return pool(x, k, s, p)

    def fwd():
        with mc.no_grad():
            return run()

    gy = mc.Tensor(np.ones(fwd().shape, dtype=np.float32)).to(device)

    def fwd_bwd():
        for t in (x, w, b):
            t.grad = None
        run().backward(gy)

    return fwd, fwd_bwd


# ----------------------------------------------------------------------------
# A whole training step: conv-relu-pool x2, conv-relu, global average pool, linear
# ----------------------------------------------------------------------------
def small_convnet():
    import minicnn.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.GlobalAvgPool(),
        nn.Linear(64, TRAIN_CLASSES),
    )


def small_convnet_step():
    """``step()``: one SGD(momentum 0.9) step of :func:`small_convnet` on a fixed batch."""
    import minicnn as mc
    import minicnn.functional as F
    import minicnn.optim as optim

    mc.seed(0)
    model = small_convnet()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = train_data()
    x = mc.Tensor(x)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    step.model = model
    return step


def torch_small_convnet_step(torch):
    """PyTorch's step of the small ConvNet, starting from minicnn's initial weights."""
    return _torch_small_convnet_step(torch, [p.data for p in small_convnet_step().model.parameters()])


def small_convnet_weights():
    """minicnn's initial weights of the small ConvNet (what the PyTorch worker is given)."""
    return [np.asarray(p.data) for p in small_convnet_step().model.parameters()]


def style_step(size, width=1.0, device="cpu"):
    """minicnn's style-transfer step (:func:`minicnn.style.bench.bench_step`); a broken
    import fails the benchmark instead of dropping its row."""
    from ..style.bench import bench_step

    return bench_step(size, width=width, device=device)
