"""The visualize part of the tour: train the default model, then draw every view of it.

``run_demo(out_dir, quick)`` is what ``python -m minicnn.demo visualize`` calls.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..hints import PathLike
from .data import CLASSES, make_shape_images
from .layers import named_layers, to_array


def conv_layers(model):
    """Names of the layers that hold a convolution weight, in forward order."""
    return [n for n, m in named_layers(model)
            if hasattr(m, "kernel_size") and getattr(m, "weight", None) is not None
            and np.ndim(to_array(m.weight)) >= 3]


def block_outputs(model):
    """For each convolution, the last layer of the position-keeping run after it (BatchNorm, ReLU...).

    Those are the units to look at: after a BatchNorm with a negative scale,
    the raw convolution output would rank patches upside down; the ReLU
    output ranks them as the next layer sees them.  Same receptive field.
    """
    from .receptive_field import _kind, leaf_layers

    convs = set(conv_layers(model))
    leaves = leaf_layers(model)
    out = []
    for i, (name, _) in enumerate(leaves):
        if name not in convs:
            continue
        j = i
        while j + 1 < len(leaves) and _kind(leaves[j + 1][1]) == "pass":
            j += 1
        out.append(leaves[j][0])
    return out


def save(fig, path):
    """Save a Figure as PNG (atomically) and free it."""
    from minicnn.io import atomic_write

    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


def draw_views(model, images, out_dir, prefix="visualize", layers=None, image_index=0, k=9, n_units=6,
               quick=False, results=None, interior=True, class_names=None):
    """Write the top-k sheet and the other views of ``model`` on ``images`` into ``out_dir``.

    ``results`` (the sheet's TopPatches, already drawn by the caller) skips
    the sheet.  Returns the list of file names written.
    """
    from .maximize import maximize_figure
    from .saliency import saliency_figure
    from .sheet import most_active_units, top_patches_sheet
    from .views import activation_maps_figure, activations, filters_figure

    out_dir = Path(out_dir)
    layers = layers or block_outputs(model)
    names = []
    if results is None:
        fig, results = top_patches_sheet(model, images, layers, k=k, n_units=n_units, interior=interior)
        names.append(save(fig, out_dir / f"{prefix}_top{k}.png").name)
    names.append(save(filters_figure(model), out_dir / f"{prefix}_filters.png").name)
    image = images[image_index]
    mid = layers[len(layers) // 2]
    names.append(save(activation_maps_figure(model, image, mid), out_dir / f"{prefix}_activations.png").name)
    scores = activations(model, image, None)
    if scores.ndim == 1:  # a classifier: explain its predicted class
        cls = int(scores.argmax())
        title = f"saliency of the predicted class {cls}" + (f" ({class_names[cls]})" if class_names else "")
        fig = saliency_figure(model, image, cls, title=title)
    else:  # no class scores: explain the strongest unit of the last searched layer
        fig = saliency_figure(model, image, results[-1].units[0], layer=results[-1].layer)
    names.append(save(fig, out_dir / f"{prefix}_saliency.png").name)
    last = results[-1]
    units = [last.units[i] for i in most_active_units(last, 4 if quick else 6)]
    fig = maximize_figure(model, last.layer, units, images.shape[1:], steps=40 if quick else 120)
    names.append(save(fig, out_dir / f"{prefix}_maximize.png").name)
    return names


def run_demo(out_dir: PathLike, quick: bool = False) -> dict:
    """Get the default ConvNet (trained on the shapes), then draw the top-9 sheet, filters, maps, saliency.

    Returns the metrics (accuracies, receptive-field sizes, timings) and the
    list of figures written into ``out_dir``.
    """
    from .model import default_or_trained, save_model
    from .receptive_field import receptive_field

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # Quick: the shipped weights (if present); full: train from scratch, as a learner would.
    model, meta, how = default_or_trained(quick=quick, retrain=not quick)
    t1 = time.perf_counter()
    save_model(model, out_dir / "visualize_model.npz", meta=meta)
    info = {k: meta[k] for k in ("train_accuracy", "test_accuracy", "n_train", "epochs") if k in meta}
    info["model"] = how
    images, labels = make_shape_images(300 if quick else 1200, seed=123)
    # A shape (not a texture) makes the clearest activation maps and saliency.
    figures = draw_views(model, images, out_dir, quick=quick, class_names=meta.get("classes"),
                         image_index=int(np.argmax(labels == CLASSES.index("cross"))))
    rf = {f"rf_layer_{n}": receptive_field(model, n, input_shape=images.shape).size[0]
          for n in block_outputs(model)}
    return {**info, **rf, "model_seconds": t1 - t0, "draw_seconds": time.perf_counter() - t1,
            "figures": figures}
