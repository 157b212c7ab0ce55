"""One style-transfer optimisation step, for the benchmark suite (``python -m minicnn.bench``).

:func:`bench_step` builds the whole pipeline of :func:`~minicnn.style.style_transfer`
once and returns a callable that performs **one Adam step on the pixels**:

* network: :class:`~minicnn.style.vgg.VGG19` with average pooling, run up to
  ``relu5_1`` (the deepest layer needed; ``conv5_2`` and later never run),
  random weights (``minicnn.seed(seed)``, PyTorch's default initialisation),
  ImageNet input normalisation inside the network;
* images: content, style and G are ``(1, 3, size, size)`` float32, content
  and style uniform random in [0, 1] (``numpy.random.default_rng(seed)``),
  G starts as the content image;
* cost: the course's ``J = 10 J_content(relu4_2) + 40 sum_l 0.2 J_style(relu{1..5}_1)``
  with the normalisations of :mod:`minicnn.style.costs`; content
  activations and style Gram matrices precomputed before timing;
* step: forward to ``relu5_1``, the costs, backward to the pixels (the weights
  need no gradient), ``Adam(lr=0.02)`` update, clip to [0, 1].

The same step in PyTorch (what to compare against): ``torchvision``-layout
``vgg19().features[:30]`` (indices 0..29 end at ``relu5_1``) with every
``MaxPool2d`` replaced by ``AvgPool2d(2, 2)``, weights frozen
(``requires_grad_(False)``), input ``(x - mean) / std`` with the ImageNet
mean/std; ``gram(a) = a.reshape(C, -1) @ a.reshape(C, -1).T``;
``J_content = ((a_C - a_G)**2).sum() / (4 n_H n_W n_C)``;
``J_style[l] = ((G_S - G_G)**2).sum() / (2 n_H n_W n_C)**2``; then
``torch.optim.Adam([G], lr=0.02)``, ``G.data.clamp_(0, 1)``; that step is
:func:`minicnn.bench.torch_side.torch_style_step`, and both benchmarks (CPU
and GPU) time these two.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bench_step", "BENCH_CONFIG"]

BENCH_CONFIG = dict(network="VGG19", pool="avg", deepest_layer="relu5_1", content_layer="relu4_2",
                    style_layers=[(f"relu{b}_1", 0.2) for b in range(1, 6)], alpha=10.0, beta=40.0,
                    optimizer="Adam", lr=0.02, dtype="float32")


def bench_step(size=256, width=1.0, seed=0, device="cpu"):
    """Return ``step()``: one Adam step of style transfer at ``size x size`` (see the module docstring).

    ``step()`` returns the cost ``J`` (a float) evaluated before the update;
    ``step.image`` is the current G as a ``(1, 3, size, size)`` array (on
    ``device``), ``step.weights`` the network's ``(weight, bias)`` NumPy
    arrays of every convolution up to ``relu5_1``, in order (what
    :func:`minicnn.bench.torch_side.torch_style_step` needs to compute the
    same costs).
    """
    from .. import optim
    from ..backend import get_array_module, to_numpy
    from ..nn import Conv2d
    from ..random import seed as mc_seed
    from ..tensor import Tensor
    from .transfer import Objective
    from .vgg import VGG19

    mc_seed(seed)
    net = VGG19(pool="avg", width=width)
    rng = np.random.default_rng(seed)
    content = rng.random((3, size, size), dtype=np.float32)
    style = rng.random((3, size, size), dtype=np.float32)
    used = list(net.features)[: net.layer_names.index(BENCH_CONFIG["deepest_layer"]) + 1]
    weights = [(to_numpy(m.weight.data), to_numpy(m.bias.data)) for m in used if isinstance(m, Conv2d)]
    net.to(device)
    objective = Objective(net, content, style, BENCH_CONFIG["content_layer"], BENCH_CONFIG["style_layers"],
                          BENCH_CONFIG["alpha"], BENCH_CONFIG["beta"], device=device)
    x = Tensor(content[None].copy(), requires_grad=True).to(device)
    opt = optim.Adam([x], lr=BENCH_CONFIG["lr"])
    xp = get_array_module(x)

    def step():
        opt.zero_grad()
        j, _, _ = objective(x)
        j.backward()
        opt.step()
        xp.clip(x.data, 0.0, 1.0, out=x.data)
        return j.item()

    step.image = x.data
    step.weights = weights
    return step
