"""The default model of ``python -m minicnn.visualize``, and saving/loading Sequential models.

A ``.npz`` written by minicnn holds only arrays and a JSON ``meta``; to get a
model back we also need its architecture.  :func:`describe` writes it as a
list of ``{"type": "Conv2d", "args": {...}}`` read from the layers'
attributes, stored under ``meta["arch"]``; :func:`build` makes the layers
again.  Any ``nn.Sequential`` of the usual layers round-trips this way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import CLASSES, make_shape_images

# Weights of the default model trained once with make_default_file() (the longer
# schedule below), so that the command line draws a sheet at once.
DEFAULT_FILE = Path(__file__).with_name("default_model.npz")
INPUT_SHAPE = (3, 32, 32)
N_CLASSES = len(CLASSES)

# Constructor arguments per layer type, read back from attributes of the same name.
_ARGS = {
    "Conv": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation"),
    "MaxPool": ("kernel_size", "stride", "padding"),
    "AvgPool": ("kernel_size", "stride", "padding"),
    "AdaptiveAvgPool": ("output_size",),
    "GlobalAvgPool": ("keepdims",),
    "Flatten": ("start_dim", "end_dim"),
    "Linear": ("in_features", "out_features"),
    "BatchNorm": ("num_features", "eps", "momentum"),
    "Dropout": ("p",),
    "LeakyReLU": ("negative_slope",),
}


def _jsonable(v):
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


def describe(model):
    """The architecture of an ``nn.Sequential`` as a JSON-able list of layer specs."""
    layers = list(model) if not hasattr(model, "named_children") else [m for _, m in model.named_children()]
    spec = []
    for m in layers:
        name = type(m).__name__
        if name == "Sequential":
            spec.append({"type": "Sequential", "layers": describe(m)})
            continue
        keys = next((v for k, v in _ARGS.items() if name.startswith(k)), ())
        args = {k: _jsonable(getattr(m, k)) for k in keys if hasattr(m, k)}
        if hasattr(m, "bias") and keys and name.startswith(("Conv", "Linear")):
            args["bias"] = m.bias is not None
        spec.append({"type": name, "args": args})
    return spec


def build(spec):
    """An ``nn.Sequential`` from :func:`describe`'s output; unknown types raise a clear error."""
    from minicnn import nn

    layers = []
    for i, item in enumerate(spec):
        kind = item.get("type")
        if kind == "Sequential":
            layers.append(build(item["layers"]))
            continue
        cls = getattr(nn, str(kind), None)
        if cls is None:
            raise ValueError(f"model arch: layer {i} has unknown type {kind!r} (not in minicnn.nn)")
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in item.get("args", {}).items()}
        layers.append(cls(**args))
    return nn.Sequential(*layers)


def save_model(model, path, meta=None):
    """Write the weights and the architecture (``meta["arch"]``) to ``path`` (.npz, atomic)."""
    import minicnn as mc

    return mc.save(model, path, meta={**(meta or {}), "arch": describe(model)})


def load_model(path):
    """``(model, meta)`` from a file written by :func:`save_model`."""
    import minicnn as mc

    state, meta = mc.load(path)
    if "arch" not in meta:
        raise ValueError(f"load_model: {path} has no 'arch' in its metadata; save it with "
                         f"minicnn.visualize.model.save_model (or pass the model in Python)")
    try:
        if not isinstance(meta["arch"], list) or not all(isinstance(item, dict) for item in meta["arch"]):
            raise ValueError("'arch' must be a list of layer objects")
        model = build(meta["arch"])
        model.load_state_dict(state)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise ValueError(f"load_model: {path}: damaged model file: {msg}") from None
    model.eval()
    return model, meta


def default_model(in_channels=3, n_classes=N_CLASSES, width=16):
    """A small ConvNet for 32x32 colour images: three conv-BatchNorm-ReLU blocks, then a linear head.

    Receptive fields of the block outputs "2", "6", "10": 3x3, 8x8 and
    18x18 pixels (jumps 1, 2, 4), three levels of the Zeiler–Fergus story.
    BatchNorm makes the short training work (about 0.85 test accuracy after
    12 epochs instead of 0.6 without it).
    """
    from minicnn import nn

    w = width

    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]

    return nn.Sequential(
        *block(in_channels, w), nn.MaxPool2d(2),
        *block(w, 2 * w), nn.MaxPool2d(2),
        *block(2 * w, 3 * w),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3 * w, n_classes),
    )


def accuracy(model, images, labels, batch_size=128):
    import minicnn as mc

    model.eval()
    correct = 0
    with mc.no_grad():
        for i in range(0, len(images), batch_size):
            logits = model(mc.Tensor(images[i:i + batch_size])).data
            correct += int((np.asarray(logits).argmax(axis=1) == labels[i:i + batch_size]).sum())
    return correct / len(images)


def train_default(quick=False, seed=0, n_train=None, epochs=None, progress=True):
    """Train :func:`default_model` on the shapes data set (Adam, cosine learning-rate decay).

    Returns ``(model, info)``, info holding the train/test accuracy and sizes.
    """
    import minicnn as mc
    import minicnn.functional as F
    from minicnn import optim

    n_train = n_train or (1200 if quick else 3000)
    epochs = epochs or (5 if quick else 12)
    mc.seed(seed)
    x, y = make_shape_images(n_train, seed=seed)
    xt, yt = make_shape_images(max(n_train // 4, 60), seed=seed + 1)
    model = default_model()
    opt = optim.Adam(model.parameters(), lr=3e-3)
    schedule = optim.CosineAnnealingLR(opt, T_max=epochs)  # small steps at the end settle the weights
    rng = np.random.default_rng(seed)
    batch = 32
    steps = epochs * (-(-n_train // batch))
    # Only pass disable= when asked to be quiet, so that TQDM_DISABLE=1 keeps working.
    bar = tqdm(total=steps, desc="visualize: training the default model",
               **({} if progress else {"disable": True}))
    loss_value = float("nan")
    for _ in range(epochs):
        model.train()
        order = rng.permutation(n_train)
        for i in range(0, n_train, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(mc.Tensor(x[idx])), y[idx])
            loss.backward()
            opt.step()
            loss_value = loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", refresh=False)
        schedule.step()
    bar.close()
    info = {"train_accuracy": accuracy(model, x, y), "test_accuracy": accuracy(model, xt, yt),
            "final_loss": loss_value, "n_train": n_train, "epochs": epochs}
    model.eval()
    return model, info


def make_default_file(path=DEFAULT_FILE, n_train=3000, epochs=12, seed=0):
    """Train the default model with a longer schedule and save it (how DEFAULT_FILE was made)."""
    model, info = train_default(n_train=n_train, epochs=epochs, seed=seed)
    return save_model(model, path, meta={"input_shape": list(INPUT_SHAPE), "classes": list(CLASSES), **info})


def default_or_trained(quick=False, retrain=False):
    """``(model, meta, how)``: the shipped default model, or a freshly trained one.

    The file is used unless ``retrain`` or it is missing/unreadable; ``how``
    says which ("loaded <path>" or "trained").
    """
    if not retrain and DEFAULT_FILE.exists():
        try:
            model, meta = load_model(DEFAULT_FILE)
            return model, meta, f"loaded {DEFAULT_FILE.name}"
        except (ValueError, KeyError, OSError):
            pass  # an outdated file: fall back to training
    model, info = train_default(quick=quick)
    return model, {"input_shape": list(INPUT_SHAPE), "classes": list(CLASSES), **info}, "trained"
