"""The benchmark's cases and everything PyTorch runs: NumPy, ``math`` and the ``torch`` passed in.

This file imports neither minicnn nor Numba, on purpose: the PyTorch worker
of :mod:`minicnn.bench.worker` loads it *by file path*, so the library we
compare against runs in a process where minicnn's OpenMP runtime, its BLAS
threads and its JIT never exist (the benchmark before issue 16 ran both
libraries in one process, which slowed PyTorch down; see
``docs/performance.md``).  :mod:`minicnn.bench.cases` re-exports the shared
names and adds minicnn's side.

A case is ``(label, op, d, N, C_in, spatial, C_out, kernel, stride, padding)``,
float32.  :func:`case_inputs` gives both libraries the same data.
"""

from __future__ import annotations

import math

import numpy as np

CASES = [
    ("conv2d 8,3,32x32->16 k3 s1 p1", "conv", 2, 8, 3, (32, 32), 16, 3, 1, 1),
    ("conv2d 8,64,56x56->64 k3 s1 p1", "conv", 2, 8, 64, (56, 56), 64, 3, 1, 1),
    ("conv2d 8,256,14x14->256 k3 s1 p1", "conv", 2, 8, 256, (14, 14), 256, 3, 1, 1),
    ("conv2d 8,32,64x64->64 k5 s2 p2", "conv", 2, 8, 32, (64, 64), 64, 5, 2, 2),
    ("conv1d 64,1,1000->16 k5", "conv", 1, 64, 1, (1000,), 16, 5, 1, 0),
    ("conv1d 64,1,14->16 k5", "conv", 1, 64, 1, (14,), 16, 5, 1, 0),
    ("conv3d 4,1,14^3->16 k5", "conv", 3, 4, 1, (14, 14, 14), 16, 5, 1, 0),
    ("conv3d 2,8,32^3->16 k3 p1", "conv", 3, 2, 8, (32, 32, 32), 16, 3, 1, 1),
    ("max_pool2d 8,64,56x56 k2 s2", "max_pool", 2, 8, 64, (56, 56), 64, 2, 2, 0),
]
LARGE_CONV2D = tuple(c[0] for c in CASES[1:4])  # the "three large conv2d cases" of the targets
MEMORY_CASE = CASES[1]  # 8,64,56x56 -> 64
TRAIN_LABEL = "train step: small ConvNet, batch 32, 3x32x32"
TRAIN_BATCH, TRAIN_SHAPE, TRAIN_CLASSES = 32, (3, 32, 32), 10
VGG19_TO_RELU5_1 = [64, 64, "P", 128, 128, "P", 256, 256, 256, 256, "P", 512, 512, 512, 512, "P", 512]
# minicnn.style.vgg's input normalisation (this file cannot import minicnn; tests/test_bench_report.py compares)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def style_label(size):
    return f"style-transfer step {size}x{size} (VGG-19 to relu5_1)"


def case_by_label(label):
    for case in CASES:
        if case[0] == label:
            return case
    raise ValueError(f"no benchmark case {label!r}")


def case_inputs(case, seed=0):
    _, _, d, n, c_in, spatial, c_out, k, _, _ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in) + tuple(spatial)).astype(np.float32)
    w = (rng.standard_normal((c_out, c_in) + (k,) * d) / math.sqrt(c_in * k ** d)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    return x, w, b


def train_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((TRAIN_BATCH,) + TRAIN_SHAPE).astype(np.float32)
    y = rng.integers(0, TRAIN_CLASSES, TRAIN_BATCH)
    return x, y


def torch_case(case, torch, device="cpu"):
    """``(forward, forward_backward)`` of one case in PyTorch."""
    tf = torch.nn.functional
    _, op, d, _, _, _, _, k, s, p = case
    x, w, b = (torch.tensor(a, device=device, requires_grad=True) for a in case_inputs(case))
    if op == "conv":
        conv = getattr(tf, f"conv{d}d")

        def run():
            return conv(x, w, b, stride=s, padding=p)
    else:
        pool = getattr(tf, f"max_pool{d}d")

        def run():
            return pool(x, k, s, p)

    def fwd():
        with torch.no_grad():
            return run()

    gy = torch.ones_like(fwd())

    def fwd_bwd():
        for t in (x, w, b):
            t.grad = None
        run().backward(gy)

    return fwd, fwd_bwd


def torch_small_convnet_step(torch, weights=None):
    """One SGD(momentum 0.9) step of the small ConvNet in PyTorch.

    ``weights``: the parameter arrays in ``model.parameters()`` order (minicnn's
    initial weights, so both libraries start from the same point), or ``None``
    for PyTorch's own initialisation (the time does not depend on it).
    """
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(64, TRAIN_CLASSES),
    )
    if weights is not None:
        with torch.no_grad():
            for p, a in zip(model.parameters(), weights):
                p.copy_(torch.from_numpy(np.asarray(a).reshape(tuple(p.shape))))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = (torch.from_numpy(a) for a in train_data())

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def torch_style_step(size, torch, seed=0, device="cpu", weights=None):
    """PyTorch's side of ``minicnn.style.bench_step``: VGG-19 (average pooling) to relu5_1 with the
    ImageNet input normalisation, Gram style costs on relu{1..5}_1, content on relu4_2, Adam on
    the pixels, clipped to [0, 1].  The content and style images are minicnn's (same seed).

    ``weights``: minicnn's ``(weight, bias)`` arrays per convolution (``bench_step(...).weights``),
    so that both libraries compute the same cost; ``None`` draws random ones here (the time does
    not depend on them).  ``step()`` returns the cost before the update (a 0-d tensor).
    """
    tf = torch.nn.functional
    rng = np.random.default_rng(seed)
    content, style = (torch.tensor(rng.random((1, 3, size, size), dtype=np.float32), device=device)
                      for _ in range(2))
    if weights is None:
        w_rng, weights, c_in = np.random.default_rng(seed + 1), [], 3
        for v in VGG19_TO_RELU5_1:
            if v != "P":
                w = w_rng.standard_normal((v, c_in, 3, 3)) * math.sqrt(2.0 / (9 * c_in))  # He initialisation
                weights.append((w.astype(np.float32), np.zeros(v, np.float32)))
                c_in = v
    params = [tuple(torch.tensor(np.asarray(a), device=device) for a in wb) for wb in weights]
    mean, std = (torch.tensor(v, device=device).reshape(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    style_idx, content_idx = (0, 2, 4, 8, 12), 9   # relu{1..5}_1 and relu4_2, counted among the convs

    def features(x):
        x = (x - mean) / std
        feats, i = {}, 0
        for v in VGG19_TO_RELU5_1:
            if v == "P":
                x = tf.avg_pool2d(x, 2)
                continue
            x = tf.relu(tf.conv2d(x, *params[i], padding=1))
            feats[i] = x
            i += 1
        return feats

    def gram(f):
        m = f.reshape(f.shape[1], -1)
        return m @ m.T

    with torch.no_grad():
        cf, sf = features(content), features(style)
        targets = {i: gram(sf[i]) for i in style_idx}
    image = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([image], lr=0.02)

    def step():
        opt.zero_grad()
        f = features(image)
        cost = 10 * ((f[content_idx] - cf[content_idx]) ** 2).sum() / (4 * f[content_idx].numel())
        for i in style_idx:
            n = f[i].numel()
            cost = cost + 40 * 0.2 * ((gram(f[i]) - targets[i]) ** 2).sum() / (2 * n) ** 2
        cost.backward()
        opt.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        return cost.detach()

    return step
